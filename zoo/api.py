"""The public plugin API: everything a zoo plugin may import, and nothing else.

Built-in plugins import the core only through this module, so a third-party plugin can
do whatever they do. Names are resolved on first use (PEP 562), so importing
``zoo.api`` costs nothing: ``from zoo.api import hookimpl, BackboneSpec`` at the top of a
plugin keeps ``zoo list`` fast, and the training helpers pull in NumPy (never
TensorFlow) only when a trainer imports them.

What a plugin may rely on, by concern (each name is documented where it is defined):

Hooks and specs
    ``hookimpl`` marks hook implementations (the hooks: :mod:`zoo.plugin.hookspecs`);
    the records hooks return: ``BackboneSpec``, ``WeightsSpec``, ``BackboneSourceSpec``,
    ``StrategySpec``, ``OptionSpec``, ``DatasetSpec``, ``HubSpec``, ``PushResult``;
    ``PREPROCESSING_MODES``; ``load_object`` (import a ``"pkg.mod:attr"`` string).
Errors
    ``ZooError`` (one line, exit 1), ``UsageError`` (the user can fix it: exit 2),
    ``ConfigError`` (a file's content is wrong: exit 2). Raise these for anything a user
    can cause; anything else is reported as a bug in your plugin.
Backbones (for a backbone source's builder)
    ``load_weights_file(model, path, what=...)``; ``build_backbone`` and ``BuiltBackbone``;
    ``stage_layers`` (the layers of named stages, for fine-tuning).
Datasets (for a dataset loader)
    ``LoadedDataset``, ``Split``, ``class_counts``, ``stratified_split``; image files:
    ``IMAGE_EXTENSIONS``, ``is_image_file``, ``check_on_bad_image``, ``drop_bad_images``,
    ``expand_image_paths``, ``load_images``; ``load_dataset`` and ``make_tf_dataset`` (the
    one input pipeline); ``prefetched`` (the last step of any other ``tf.data`` pipeline a
    plugin builds: it keeps ``fit`` from stalling when it drops the iterator).
Training (for a strategy's trainer)
    ``TrainJob`` (what a trainer gets), ``TrainOutcome`` (what it returns), ``fit_phase``
    (``model.fit`` with checkpoints, ``--resume``, early stopping, schedules, class weights,
    TensorBoard and the plugins' callbacks), ``KEEP_BEST`` (its ``early_stopping`` value
    that ends a phase on its best epoch), ``phase_finished``, ``compose``
    (backbone + head as one model); ``StageConfig`` and ``run_stage`` to train from a
    program (the ``zoo train`` of Python); ``raise_if_interrupted`` (call it between batches
    of a loop of your own) and ``interrupt_callback`` (pass it to a ``predict``), so that
    Ctrl-C stops your trainer even when TensorFlow swallowed it.
Run folders (for a hub client, or a command that uses trained runs)
    ``RunFolder``, ``read_run_folder``, ``open_run``, ``evaluate_run``; file names
    ``CONFIG``, ``HEAD``, ``BACKBONE_DELTA``, ``METRICS``, ``CARD``, ``SCHEMA``; ``HUB_RECORD``
    (the record's name on a hub, ``zoo.json``) and ``record_path`` (which file holds a folder's
    record); what a hub moves: ``ADAPTER_FILE_PATTERNS``, ``is_adapter_file``, ``publishable_files``,
    ``shareable_config``, ``holds_recorded_files``, ``adapter_summary``, ``COMMIT`` (the
    pattern of a pinned revision); the full model pushed beside an adapter: ``FULL_MODEL_FILES``
    (Keras' folder layout, at the repository's root), ``FullModel`` (what a client's ``push`` gets
    as ``full_model``), ``NEVER_LOADED_FILES`` (files a client leaves out of zoo's pulls),
    ``INPUT_RESIZE`` (how zoo resizes images, for cards); figures: ``pyplot`` (matplotlib, headless),
    ``save_figure`` (a PNG written atomically).
Files and network
    ``atomic_write_text``, ``atomic_directory``, ``sha256_file``; full disks in zoo's words:
    ``is_out_of_space``, ``out_of_space``, ``reserve_space`` (allocate a file before memory-mapping
    it); ``is_offline``,
    ``OFFLINE_ENV``, ``network_timeouts``, ``read_timeout``, ``socket_timeout``,
    ``check_reachable``, ``unreachable``, ``timed_out``, ``stalled``,
    ``CONNECT_TIMEOUT_ENV``, ``READ_TIMEOUT_ENV`` (the same bounds zoo's own downloads keep).
TensorFlow start-up
    ``import_tensorflow`` (quietly), ``needs_tensorflow`` (decorate a command that does),
    ``stderr_silenced``, ``verbose``.
Testing a plugin
    :mod:`zoo.testing` (not re-exported here: it is for test suites).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "zoo": ["__version__", "hookimpl"],
    "zoo.errors": ["ZooError", "UsageError", "ConfigError"],
    "zoo.plugin.specs": ["BackboneSpec", "WeightsSpec", "BackboneSourceSpec", "StrategySpec", "OptionSpec",
                         "DatasetSpec", "HubSpec", "PushResult", "PREPROCESSING_MODES", "load_object"],
    "zoo.plugin.catalog": ["get_catalog"],
    "zoo.backbone.build": ["BuiltBackbone", "build_backbone", "load_weights_file", "stage_layers"],
    "zoo.data.records": ["LoadedDataset", "Split", "class_counts", "stratified_split"],
    "zoo.data.images": ["IMAGE_EXTENSIONS", "is_image_file", "check_on_bad_image", "drop_bad_images",
                        "expand_image_paths"],
    "zoo.data.loading": ["load_dataset"],
    "zoo.data.tfdata": ["make_tf_dataset", "load_images", "prefetched"],
    "zoo.train.job": ["TrainJob", "TrainOutcome"],
    "zoo.train.fit": ["fit_phase", "phase_finished", "KEEP_BEST"],
    "zoo.util.interrupt": ["raise_if_interrupted", "interrupt_callback"],
    "zoo.train.config": ["StageConfig"],
    "zoo.train.stage": ["run_stage"],
    "zoo.run.folder": ["RunFolder", "read_run_folder", "CONFIG", "HEAD", "BACKBONE_DELTA", "METRICS", "CARD",
                       "SCHEMA", "HUB_RECORD", "record_path"],
    "zoo.run.load": ["compose", "open_run"],
    "zoo.run.inference": ["evaluate_run"],
    "zoo.run.plots": ["pyplot", "save_figure"],
    "zoo.run.hub": ["ADAPTER_FILE_PATTERNS", "is_adapter_file", "publishable_files", "shareable_config",
                    "holds_recorded_files", "adapter_summary", "COMMIT", "NEVER_LOADED_FILES"],
    "zoo.run.full_model": ["FULL_MODEL_FILES", "FullModel"],
    "zoo.run.export": ["INPUT_RESIZE"],
    "zoo.util.files": ["atomic_write_text", "atomic_directory", "sha256_file", "is_out_of_space", "out_of_space",
                       "reserve_space"],
    "zoo.util.network": ["is_offline", "OFFLINE_ENV", "network_timeouts", "read_timeout", "socket_timeout",
                         "check_reachable", "unreachable", "timed_out", "stalled", "CONNECT_TIMEOUT_ENV",
                         "READ_TIMEOUT_ENV"],
    "zoo.util.quiet": ["import_tensorflow", "needs_tensorflow", "stderr_silenced", "verbose"],
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"zoo.api has no {name!r}; what a plugin may use is listed in zoo.api.__all__")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # for editors and type checkers: the same names, imported eagerly
    from zoo import __version__, hookimpl  # noqa: F401
    from zoo.backbone.build import BuiltBackbone, build_backbone, load_weights_file, stage_layers  # noqa: F401
    from zoo.data.images import IMAGE_EXTENSIONS, check_on_bad_image, drop_bad_images, expand_image_paths, is_image_file  # noqa: F401
    from zoo.data.loading import load_dataset  # noqa: F401
    from zoo.data.records import LoadedDataset, Split, class_counts, stratified_split  # noqa: F401
    from zoo.data.tfdata import load_images, make_tf_dataset, prefetched  # noqa: F401
    from zoo.errors import ConfigError, UsageError, ZooError  # noqa: F401
    from zoo.plugin.catalog import get_catalog  # noqa: F401
    from zoo.plugin.specs import (  # noqa: F401
        PREPROCESSING_MODES,
        BackboneSourceSpec,
        BackboneSpec,
        DatasetSpec,
        HubSpec,
        OptionSpec,
        PushResult,
        StrategySpec,
        WeightsSpec,
        load_object,
    )
    from zoo.run.export import INPUT_RESIZE  # noqa: F401
    from zoo.run.folder import (  # noqa: F401
        BACKBONE_DELTA,
        CARD,
        CONFIG,
        HEAD,
        HUB_RECORD,
        METRICS,
        SCHEMA,
        RunFolder,
        read_run_folder,
        record_path,
    )
    from zoo.run.full_model import FULL_MODEL_FILES, FullModel  # noqa: F401
    from zoo.run.hub import (  # noqa: F401
        ADAPTER_FILE_PATTERNS,
        COMMIT,
        NEVER_LOADED_FILES,
        adapter_summary,
        holds_recorded_files,
        is_adapter_file,
        publishable_files,
        shareable_config,
    )
    from zoo.run.inference import evaluate_run  # noqa: F401
    from zoo.run.load import compose, open_run  # noqa: F401
    from zoo.run.plots import pyplot, save_figure  # noqa: F401
    from zoo.train.config import StageConfig  # noqa: F401
    from zoo.train.fit import KEEP_BEST, fit_phase, phase_finished  # noqa: F401
    from zoo.train.job import TrainJob, TrainOutcome  # noqa: F401
    from zoo.train.stage import run_stage  # noqa: F401
    from zoo.util.files import (  # noqa: F401
        atomic_directory,
        atomic_write_text,
        is_out_of_space,
        out_of_space,
        reserve_space,
        sha256_file,
    )
    from zoo.util.network import (  # noqa: F401
        CONNECT_TIMEOUT_ENV,
        OFFLINE_ENV,
        READ_TIMEOUT_ENV,
        check_reachable,
        is_offline,
        network_timeouts,
        read_timeout,
        socket_timeout,
        stalled,
        timed_out,
        unreachable,
    )
    from zoo.util.quiet import import_tensorflow, needs_tensorflow, stderr_silenced, verbose  # noqa: F401
