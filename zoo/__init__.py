"""zoo: a plugin-based model zoo and adapter registry for transfer learning with Keras 3.

This package is the core. It knows hooks, specs, the registry, pipelines and the CLI,
but no model: every backbone, strategy, dataset and hub comes from a plugin.
"""

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("zoo")
"""Decorator for a plugin's hook implementations (see :mod:`zoo.plugin.hookspecs`)."""

__all__ = ["__version__", "hookimpl"]
