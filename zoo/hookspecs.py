"""The hooks a zoo plugin may implement.

A plugin is a module registered in the ``zoo`` entry-point group of its distribution::

    [project.entry-points.zoo]
    my-plugin = "my_package"

and marked with ``zoo.hookimpl``::

    from zoo import hookimpl
    from zoo.specs import BackboneSpec

    @hookimpl
    def zoo_backbones():
        return [BackboneSpec(name="mobilenetv2", source="keras", model="MobileNetV2", ...)]

Rules every hook shares:

- Hooks are called once per process, lazily, when the core first needs that kind of
  thing. Return a list (or ``None`` for nothing).
- Never import TensorFlow or Keras at module import time or inside these hooks. Point at
  code that needs them with ``"package.module:function"`` strings; the core imports
  them only when a model is built or run. ``zoo list`` must stay fast.
- A plugin whose import or hook raises is quarantined: its error is shown by
  ``zoo plugins`` and everything else keeps working.
- Names are global: if two plugins provide the same name, the core refuses both and
  names them, so pick distinctive ones.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("zoo")


@hookspec
def zoo_backbones():
    """Named backbones this plugin provides, as a list of :class:`zoo.specs.BackboneSpec`.

    Each spec's ``source`` must name a backbone source (yours, from
    :func:`zoo_backbone_sources`, or a built-in one such as ``"keras"``). Registry
    files can also add backbones without code; this hook is for plugins that ship them.
    """


@hookspec
def zoo_backbone_sources():
    """Backbone builders, as a list of :class:`zoo.specs.BackboneSourceSpec`.

    A source turns a spec (from the registry or a plugin) into a Keras model. Give
    it an ``adhoc`` function to let users write ``NAME:ARGUMENT`` on the command line.
    """


@hookspec
def zoo_strategies():
    """Transfer strategies, as a list of :class:`zoo.specs.StrategySpec`.

    Their options become ``zoo train`` flags and ``[strategy]`` keys of a pipeline
    TOML file, exactly as for the built-in strategies.
    """


@hookspec
def zoo_datasets():
    """Dataset kinds, as a list of :class:`zoo.specs.DatasetSpec`."""


@hookspec
def zoo_hubs():
    """Model hubs for pushing and pulling adapters, as a list of :class:`zoo.specs.HubSpec`."""


@hookspec
def zoo_commands(cli):
    """Add commands to the ``zoo`` command line.

    Called once while the CLI is being built, with the root :class:`click.Group`;
    add commands with ``@cli.command()``. Keep the command bodies lazy: import
    heavy modules inside them, not at the top of your plugin.
    """
