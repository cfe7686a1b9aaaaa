"""The catalogue files: ``registry.toml`` and the layers users put on it.

:mod:`~zoo.registry.layers` reads and validates them; :mod:`~zoo.registry.edit` adds an
adapter entry to one (``zoo push --register``). The built-in catalogue is the repository's
own ``registry.toml``, shipped inside this package.
"""
