"""The hooks a zoo plugin may implement, each documented for the plugin's author.

A plugin is a module named in the ``zoo`` entry-point group of its distribution::

    [project.entry-points.zoo]
    my-plugin = "my_package"

whose functions are marked with :data:`zoo.api.hookimpl`::

    from zoo.api import BackboneSpec, hookimpl

    @hookimpl
    def zoo_backbones():
        return [BackboneSpec(name="mobilenetv2", source="keras", model="MobileNetV2", ...)]

Rules every hook shares:

- **When**: each ``zoo_*`` hook that returns specs is called at most once per process,
  lazily, the first time the core needs that kind of thing (``zoo list strategies`` never
  calls ``zoo_backbones``). ``zoo_commands`` is called once, while the CLI is built;
  ``zoo_callbacks`` once per training phase.
- **What to return**: a list of the hook's spec class (or ``None`` for nothing). Anything
  else (a dict, a string, a spec without a name) quarantines the plugin.
- **No TensorFlow**: never import TensorFlow or Keras at module import time or inside
  these hooks. Point at code that needs them with ``"package.module:function"`` strings;
  the core imports them only when a model is built or run, so ``zoo list`` stays fast.
- **On error**: a plugin whose import or hook raises is quarantined: ``zoo plugins``
  shows it with its error, its names disappear, and everything else keeps working.
- **Names are global**: if two plugins provide the same name (or one plugin provides a
  name the registry defines), the core refuses that name, naming both; pick distinctive ones.
- **What you may import from zoo**: :mod:`zoo.api` only; what it does not export may
  change without notice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import click

    from zoo.plugin.specs import BackboneSourceSpec, BackboneSpec, DatasetSpec, HubSpec, StrategySpec
    from zoo.train.job import TrainJob

hookspec = pluggy.HookspecMarker("zoo")


@hookspec
def zoo_backbones() -> list[BackboneSpec] | None:
    """Named backbones this plugin ships, as :class:`zoo.api.BackboneSpec` records.

    Called the first time a command needs the backbones (``zoo list backbones``,
    ``zoo train --backbone``, loading a run). Each spec's ``source`` must name a backbone
    source, yours (:func:`zoo_backbone_sources`) or a built-in one (``"keras"``,
    ``"alexnet"``, ``"tfhub"``), which builds it. Pretrained weights are
    :class:`zoo.api.WeightsSpec` entries in ``weights``, with the file name, URL and a
    hash (``sha256`` or Keras' ``md5``) that zoo checks after every download.

    A registry file can add backbones without any code (``[backbones.NAME]``); use this
    hook when the backbone belongs with code you ship.
    """


@hookspec
def zoo_backbone_sources() -> list[BackboneSourceSpec] | None:
    """Ways of building backbones, as :class:`zoo.api.BackboneSourceSpec` records.

    Called the first time a backbone is listed or built. A source's ``builder``
    (``"pkg.mod:function"``) is imported and called only when a model is built, as
    ``build(spec, *, weights, input_size)`` with ``weights`` a verified local file path or
    ``None``, and must return a Keras model from a *preprocessed* image to a feature
    vector (zoo adds the spec's preprocessing in front). Give ``adhoc`` to let users write
    ``SOURCE:ARGUMENT`` on the command line, ``fetch`` for ``zoo pull`` of weights that
    your source downloads itself, and ``pin`` to fetch and verify them before each build and
    record in the run what was used (a hub commit, file hashes). A builder raises :class:`zoo.api.UsageError` for what the
    user can fix (a bad argument, a missing optional dependency: say what to install).
    """


@hookspec
def zoo_strategies() -> list[StrategySpec] | None:
    """Transfer strategies, as :class:`zoo.api.StrategySpec` records.

    Called the first time a command needs the strategies (``zoo train`` builds its flags
    from them, so ``zoo train --help`` calls it). Each option
    (:class:`zoo.api.OptionSpec`) becomes a ``zoo train`` flag and a ``[stages.strategy]``
    key in pipeline files, checked (type, choices, ``min``/``max``) before any data is
    loaded. The ``trainer`` (``"pkg.mod:function"``) is imported when a run starts and
    called with a :class:`zoo.api.TrainJob`; it returns a :class:`zoo.api.TrainOutcome`.
    Train every phase through :func:`zoo.api.fit_phase` to get checkpoints and
    ``--resume``. An exception from the trainer stops the run (its checkpoints stay, for
    ``--resume``); raise :class:`zoo.api.UsageError` for what the user can fix.
    """


@hookspec
def zoo_datasets() -> list[DatasetSpec] | None:
    """Dataset kinds, as :class:`zoo.api.DatasetSpec` records (``folder`` is used as ``folder:PATH``).

    Called the first time a dataset reference is resolved or listed. The ``loader``
    (``"pkg.mod:function"``) is called as ``load(argument, **options)`` and returns a
    :class:`zoo.api.LoadedDataset`: class names and splits of image files or arrays, which
    the core turns into batches itself. Screen image files with
    :func:`zoo.api.drop_bad_images` so bad ones are named, not met mid-epoch. ``describe``,
    if given, must be cheap and TensorFlow-free: ``zoo info`` calls it.
    """


@hookspec
def zoo_hubs() -> list[HubSpec] | None:
    """Model hubs that runs are pushed to and pulled from, as :class:`zoo.api.HubSpec` records.

    Called the first time a ``SCHEME://`` reference, ``zoo push`` or ``zoo pull`` needs a
    hub. The ``client`` class is constructed without arguments and offers
    ``push(run_dir, repo_id, *, private, revision, message) -> PushResult`` and
    ``pull(repo_id, *, revision) -> pathlib.Path`` (a local folder); zoo verifies what
    ``pull`` returns (file types, checksums) before anything uses it, so a client only moves
    files. Upload only :func:`zoo.api.publishable_files`, and the config as
    :func:`zoo.api.shareable_config` gives it. Raise :class:`zoo.api.ZooError` with one
    line for authentication, a missing repository or revision, or an unreachable server.
    """


@hookspec
def zoo_commands(cli: click.Group) -> None:
    """Add commands to the ``zoo`` command line.

    Called once per process while the CLI is built, after the core's own commands, with
    the root :class:`click.Group`: add commands with ``@cli.command()``. A name already
    taken (``train``, or another plugin's) quarantines your plugin rather than replacing
    it. Keep command bodies lazy: import heavy modules inside them (decorate with
    :func:`zoo.api.needs_tensorflow` if they use TensorFlow), and raise
    :class:`zoo.api.UsageError` for a bad input: the CLI prints it as one line, exit 2.
    """


@hookspec
def zoo_callbacks(job: TrainJob, phase: str) -> list | None:
    """Keras callbacks to add to a training phase: loggers, monitors, profilers.

    Called once for every phase that :func:`zoo.api.fit_phase` trains, whichever
    strategy it belongs to (built-in or third-party), just before the phase's ``fit``,
    with the :class:`zoo.api.TrainJob` and the phase's name (``"head"``,
    ``"fine-tune"``, ``"adapt-dann"``...); take only the arguments you need
    (``def zoo_callbacks(job):`` works). Return a list of
    ``keras.callbacks.Callback`` objects, new ones each call (a phase's ``fit`` calls
    their ``set_model``), or ``None``. Import Keras inside the hook, never at module
    import time. Each callback sees every epoch's logs (``loss``, ``accuracy``, their
    ``val_`` twins, ``learning_rate``) after zoo's checkpoint has recorded the epoch;
    epoch numbers are the phase's own, so a resumed phase starts at its checkpointed
    epoch and a finished phase calls none of them. A callback may end the phase early
    (``self.model.stop_training = True``); it must not change the weights, which zoo's
    checkpoints would not know about. Anything that is not a Keras callback stops the
    run, naming your plugin; a hook that raises quarantines the plugin and the run goes
    on without its callbacks.
    """
