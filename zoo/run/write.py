"""Writing a finished stage's run folder, which appears complete or not at all.

``config.json`` records how to rebuild the model (backbone, weights checksum, preprocessing,
strategy and options, the plugins that provided them, class names, versions) and the
sha256 of every other file.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import __version__
from zoo.plugin.host import plugin_provenance
from zoo.run.folder import BACKBONE_DELTA, CONFUSION, CURVES, HEAD, HISTORY, LOGS, METRICS, record_files
from zoo.util.files import atomic_directory, atomic_write_text, is_out_of_space, out_of_space

if TYPE_CHECKING:
    from zoo.train.inputs import StageInputs
    from zoo.train.stage import TrainedStage


def library_versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"zoo": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "python": platform.python_version()}


def build_run_config(inputs: StageInputs, out: Path, trained: TrainedStage) -> dict[str, Any]:
    """What ``config.json`` records: enough to rebuild, verify and describe the run."""
    config, spec, built, parent = inputs.config, inputs.spec, trained.built, inputs.parent
    return {
        "name": config.name or out.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "backbone": backbone_record(spec, built, trained.normalization),
        "strategy": {"name": inputs.strategy.name, "plugin": inputs.strategy.plugin, "options": inputs.options},
        "training": {
            "epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr, "seed": config.seed,
            "precision": inputs.precision["policy"], "precision_chosen": inputs.precision,
            "distribute": config.distribute, "dataset": config.dataset,
            "target": config.target, "val_split": config.val_split, "augment": config.augment,
            "early_stopping": config.early_stopping, "class_weight": config.class_weight,
            "schedule": config.schedule or "constant", "warmup": config.warmup or 0,
            "evaluated_split": scored_split(inputs, trained.metrics.get("split")),
        },
        "class_names": inputs.source.class_names,
        "parent": {"ref": config.from_run, "name": parent.config.get("name")} if parent else None,
        "pipeline": config.to_dict(),
        "plugins": {"backbone": plugin_provenance(spec.plugin), "strategy": plugin_provenance(inputs.strategy.plugin)},
        "versions": library_versions(),
    }


def backbone_record(spec, built, normalization: dict[str, Any]) -> dict[str, Any]:
    """The backbone entry of ``config.json``: how to rebuild it, and where its weights came from.

    ``hub`` (repo, commit, sha256 of each file) is what a source that pins its files
    fetched; ``base_model`` and ``license`` are there when the spec knows them (model cards
    show them).
    """
    record = {
        "name": spec.name, "source": spec.source, "model": spec.model, "options": dict(spec.options),
        "input_size": built.input_size, "channels": spec.channels, "preprocessing": built.spec.preprocessing,
        "feature_dim": built.feature_dim, "normalization": normalization,
        "weights": {"name": built.weights.name, "sha256": built.weights.sha256,
                    "file": Path(built.weights.path).name if built.weights.path else None},
    }
    record.update(built.provenance)
    for field in ("base_model", "license"):
        if getattr(built.spec, field, ""):
            record[field] = getattr(built.spec, field)
    return record


def scored_split(inputs: StageInputs, name: str | None) -> dict[str, Any] | None:
    """How the images the run was scored on were chosen (see :mod:`zoo.train.held_out`)."""
    from zoo.train.held_out import evaluated_split_record

    split = inputs.source.splits.get(name) if name else None
    if split is None:
        return None
    return evaluated_split_record(name, split, inputs.config.val_split, inputs.config.seed)


def write_run(out: Path, run_config: dict[str, Any], outcome, delta: dict, metrics: dict[str, Any],
              logs: Path | None = None) -> None:
    """Write the run folder in one step; a full disk is one line, and the checkpoints stay for ``--resume``.
    ``logs`` (the TensorBoard logs of its training) move into ``out/logs/``, unrecorded: they are for
    watching, not part of the adapter."""
    try:
        _write_files(out, run_config, outcome, delta, metrics, logs)
    except Exception as error:
        if not is_out_of_space(error):
            raise
        size = sum(v.nbytes for v in delta.values()) + outcome.head.count_params() * 4 + (1 << 20)
        raise out_of_space(out.parent, f"the run folder {out}", size,
                           "nothing was left behind; free space and run the same command with --resume") from None


def _write_files(out: Path, run_config: dict[str, Any], outcome, delta: dict, metrics: dict[str, Any],
                 logs: Path | None) -> None:
    from zoo.run.delta import save_delta
    from zoo.run.heads import save_head
    from zoo.run.plots import plot_confusion, plot_curves, write_history

    with atomic_directory(out) as tmp:
        save_head(outcome.head, tmp / HEAD)
        if delta:
            save_delta(tmp / BACKBONE_DELTA, delta)
        head_bytes = (tmp / HEAD).stat().st_size
        delta_bytes = (tmp / BACKBONE_DELTA).stat().st_size if delta else 0
        metrics.update(adapter_bytes=head_bytes + delta_bytes, head_bytes=head_bytes, backbone_delta_bytes=delta_bytes,
                       backbone_delta_parameters=int(sum(v.size for v in delta.values())))
        atomic_write_text(tmp / METRICS, json.dumps({k: v for k, v in metrics.items() if k != "confusion"}, indent=2) + "\n")
        write_history(tmp / HISTORY, outcome.history)
        title = f"{run_config['backbone']['name']} / {run_config['strategy']['name']}"
        plot_curves(tmp / CURVES, outcome.history, title=title)
        plot_confusion(tmp / CONFUSION, metrics.get("confusion", []), run_config["class_names"],
                       title=f"{title}: {metrics.get('split')} accuracy {metrics.get('accuracy', 0):.3f}")
        if logs is not None and logs.is_dir():
            shutil.copytree(logs, tmp / LOGS)
        record_files(tmp, run_config)
