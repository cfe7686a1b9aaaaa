"""Plugins: the hooks they implement, the records they return, and how the core finds them.

:mod:`~zoo.plugin.hookspecs` (the hooks), :mod:`~zoo.plugin.specs` (the records),
:mod:`~zoo.plugin.host` (entry points, quarantine, ``ZOO_PLUGINS``),
:mod:`~zoo.plugin.catalog` (every name, from plugins and the registry, in one view) and
:mod:`~zoo.plugin.inventory` (what ``zoo list`` and ``zoo info`` show). Nothing here imports TensorFlow.
"""
