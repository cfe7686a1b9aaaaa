"""dataset -> backbone -> strategy -> evaluate -> run directory.

:func:`run_stage` is what ``zoo train`` and each stage of ``zoo run`` do. While it
trains, its state lives in ``OUT.partial/`` (checkpoints at epoch ends, so ``--resume``
continues after a crash or Ctrl-C); the finished run is assembled in a temporary
directory and renamed to ``OUT`` in one step, so ``OUT`` is either complete or absent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from zoo import __version__
from zoo.artifacts import BACKBONE_DELTA, CONFUSION, CURVES, HEAD, HISTORY, METRICS, Adapter, read_adapter, record_files
from zoo.checkpoints import CheckpointStore
from zoo.errors import UsageError
from zoo.fileio import atomic_directory, atomic_write_text
from zoo.pipeline_config import StageConfig, read_pipeline, resolve_strategy_options
from zoo.precision import float32_copy, precision_policy

STAGE_FILE = "stage.json"


@dataclass
class StageResult:
    out: Path
    metrics: dict[str, Any]
    config: dict[str, Any]


def default_out(config: StageConfig) -> Path:
    backbone = (config.backbone or "from-run").replace(":", "-").replace("/", "-")[:40]
    return Path("runs") / f"{backbone}-{config.strategy}-{time.strftime('%Y%m%d-%H%M%S')}"


def partial_dir(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def library_versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"zoo": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "python": platform.python_version()}


def resolve_parent(ref: str | None, catalog) -> Adapter | None:
    if ref is None:
        return None
    from zoo.hubs import resolve_run

    return read_adapter(resolve_run(ref, catalog))


def _prepare_out(config: StageConfig, resume: bool, log: Callable[[str], None]) -> tuple[Path, Path]:
    out = Path(config.out) if config.out else default_out(config)
    work = partial_dir(out)
    if out.exists():
        raise UsageError(f"output directory '{out}' already exists; pass another --out or remove it")
    stage = json.dumps(config.to_dict(), sort_keys=True)
    if work.exists():
        if not resume:
            raise UsageError(f"an interrupted run is at '{work}'; continue it with --resume, or delete that folder")
        saved = (work / STAGE_FILE).read_text() if (work / STAGE_FILE).exists() else None
        if saved is not None and saved != stage:
            raise UsageError(f"the interrupted run at '{work}' was started with other settings; "
                             "resume it with the same ones, or delete that folder")
        log(f"resuming the interrupted run in {work}")
    else:
        if resume:
            log(f"nothing to resume at {work}; starting afresh")
        work.mkdir(parents=True)
        atomic_write_text(work / STAGE_FILE, stage)
    return out, work


def run_stage(config: StageConfig, *, catalog=None, resume: bool = False, verbose: int = 1,
              log: Callable[[str], None] = print) -> StageResult:
    """Train one stage and write its run directory; returns where and how well."""
    from zoo.catalog import get_catalog
    from zoo.distribute import make_strategy

    # first of all TensorFlow work: multi-worker sets up collective ops, which only works at start-up
    distribution = make_strategy(config.distribute)
    catalog = catalog or get_catalog()
    strategy = catalog.strategy(config.strategy)
    options = resolve_strategy_options(strategy, config.strategy_options, "strategy options")
    if strategy.needs_target and not config.target:
        raise UsageError(f"strategy '{strategy.name}' needs a target dataset: add --target DATASET "
                         "(its labels are used for evaluation only)")
    if config.target and not strategy.needs_target:
        raise UsageError(f"--target is only for strategies that adapt to a target domain; "
                         f"'{strategy.name}' does not take one")
    parent = resolve_parent(config.from_run, catalog)
    backbone_name = config.backbone or parent.backbone["name"]
    if parent is not None and backbone_name != parent.backbone["name"]:
        raise UsageError(f"--from run uses backbone '{parent.backbone['name']}', not '{backbone_name}'; "
                         "drop --backbone or pick a matching run")
    spec = catalog.backbone(backbone_name)
    image_size = config.image_size or (parent.backbone["input_size"] if parent else None)
    weights = config.weights
    if parent is not None and weights == "default":
        weights = parent.backbone["weights"]["name"]

    from zoo.inputs import Augmentation, load_dataset

    augment = Augmentation.parse(config.augment) if config.augment else None
    source = load_dataset(config.dataset, catalog=catalog, val_split=config.val_split or None, seed=config.seed,
                          on_bad_image=config.on_bad_image)
    if "train" not in source.splits or not len(source.splits["train"]):
        raise UsageError(f"dataset '{config.dataset}' has no training examples")
    if config.shots:
        source.splits["train"] = few_shot(source.splits["train"], config.shots, config.seed, config.dataset)
    target = None
    if config.target:
        target = load_dataset(config.target, catalog=catalog, seed=config.seed, on_bad_image=config.on_bad_image)
        if target.class_names != source.class_names:
            raise UsageError(f"target '{config.target}' has classes {target.class_names[:5]}..., the source "
                             f"'{config.dataset}' has {source.class_names[:5]}...; they must be the same")
    for bad, reason in [*source.bad_files, *(target.bad_files if target else [])]:
        log(f"skipped unreadable image {bad}: {reason}")

    out, work = _prepare_out(config, resume, log)
    import keras

    from zoo.models import apply_delta, changed_variables, compose, is_refetchable, load_delta, snapshot
    from zoo.normalization import build_normalized_backbone

    with precision_policy(config.precision), distribution_scope(distribution):
        keras.utils.set_random_seed(config.seed)
        inherited_scaling = parent.backbone.get("normalization") if parent and config.normalization == "backbone" else None
        built, normalization = build_normalized_backbone(spec, weights=weights, input_size=image_size,
                                                         mode=config.normalization, record=inherited_scaling,
                                                         train=source.splits["train"], catalog=catalog,
                                                         batch_size=config.batch_size)
        inherited: set[str] = set()
        if parent is not None and parent.has(BACKBONE_DELTA):
            delta = load_delta(parent.file(BACKBONE_DELTA))
            apply_delta(built.model, delta, source=str(parent.file(BACKBONE_DELTA)))
            inherited = set(delta)
        before = snapshot(built.model) if is_refetchable(spec, built.weights.name) else None

        from zoo.inputs import make_tf_dataset

        def make_dataset(split, training: bool = False, batch_size: int | None = None, repeat: bool = False):
            return make_tf_dataset(split, image_size=built.input_size, channels=spec.channels,
                                   batch_size=batch_size or config.batch_size, shuffle=training, seed=config.seed,
                                   augment=augment if training else None, repeat=repeat)

        from zoo.specs import load_object
        from zoo.training import TrainJob

        job = TrainJob(
            backbone=built, class_names=source.class_names, train=source.splits["train"],
            val=source.splits.get("val"), options=options, epochs=config.epochs, batch_size=config.batch_size,
            lr=config.lr, seed=config.seed, make_dataset=make_dataset, checkpoints=CheckpointStore(work / "checkpoints"),
            work_dir=work, target=unlabelled(target.splits.get("train")) if target else None,
            target_eval=_eval_split(target) if target else None, augmenting=augment is not None,
            precision=config.precision, distribution=distribution, verbose=verbose, log=log,
        )
        outcome = load_object(strategy.trainer)(job)
        delta = changed_variables(built.model, before, always=inherited)
        model = compose(built.model, outcome.head)
        metrics = _evaluate(model, source, target, make_dataset, outcome.metrics)

    run_config = {
        "name": config.name or out.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "backbone": {
            "name": spec.name, "source": spec.source, "model": spec.model, "input_size": built.input_size,
            "channels": spec.channels, "preprocessing": built.spec.preprocessing, "feature_dim": built.feature_dim,
            "normalization": normalization,
            "weights": {"name": built.weights.name, "sha256": built.weights.sha256,
                        "file": Path(built.weights.path).name if built.weights.path else None},
        },
        "strategy": {"name": strategy.name, "plugin": strategy.plugin, "options": options},
        "training": {
            "epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr, "seed": config.seed,
            "precision": config.precision, "distribute": config.distribute, "dataset": config.dataset,
            "target": config.target, "val_split": config.val_split, "augment": config.augment,
        },
        "class_names": source.class_names,
        "parent": {"ref": config.from_run, "name": parent.config.get("name")} if parent else None,
        "pipeline": config.to_dict(),
        "versions": library_versions(),
    }
    _write_run(out, run_config, outcome, delta, metrics)
    shutil.rmtree(work, ignore_errors=True)
    log(f"wrote {out}")
    return StageResult(out=out, metrics=metrics, config=run_config)


def few_shot(split, shots: int, seed: int, ref: str):
    """``shots`` examples of every class, drawn with ``seed`` (the K-shot target setting)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(split.labels[split.labels >= 0]):
        members = np.flatnonzero(split.labels == label)
        if len(members) < shots:
            raise UsageError(f"--shots {shots}: class {label} of '{ref}' has only {len(members)} training images")
        chosen.extend(rng.choice(members, shots, replace=False))
    return split.subset(np.sort(np.asarray(chosen)))


def unlabelled(split):
    """The target's training images with their labels blanked: adaptation must not see them."""
    import numpy as np

    if split is None:
        return None
    return dataclasses.replace(split, labels=np.full(len(split), -1, dtype=np.int64))


def _eval_split(loaded):
    return loaded.splits.get("test") or loaded.splits.get("val")


def _evaluate(model, source, target, make_dataset, extra: dict[str, Any]) -> dict[str, Any]:
    from zoo.evaluation import evaluate

    split_name = next((s for s in ("test", "val") if len(source.splits.get(s) or ())), "train")
    split = source.splits[split_name]
    metrics = {**evaluate(model, make_dataset(split), split.labels, source.class_names), "split": split_name}
    if target is not None:
        target_split = _eval_split(target)
        if target_split is not None and target_split.labelled:
            scored = evaluate(model, make_dataset(target_split), target_split.labels, source.class_names)
            metrics["source_accuracy"] = metrics["accuracy"]
            metrics["target_accuracy"] = scored["accuracy"]
            metrics["target"] = {k: v for k, v in scored.items() if k != "confusion"}
    metrics.update(extra)
    return metrics


def _write_run(out: Path, run_config: dict[str, Any], outcome, delta: dict, metrics: dict[str, Any]) -> None:
    from zoo.evaluation import plot_confusion, plot_curves, write_history
    from zoo.models import save_delta

    with atomic_directory(out) as tmp:
        float32_copy(outcome.head).save(tmp / HEAD)  # mixed precision trains faster; the adapter is float32
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
        record_files(tmp, run_config)


@contextlib.contextmanager
def distribution_scope(strategy) -> Iterator[Any]:
    """Models built inside are placed by ``strategy`` (a ``zoo.distribute.make_strategy`` result, or None)."""
    if strategy is None:
        yield None
        return
    with strategy.scope():
        yield strategy


def run_pipeline(path: str | Path, *, catalog=None, resume: bool = False, verbose: int = 1,
                 log: Callable[[str], None] = print) -> list[StageResult]:
    """Every stage of a pipeline file in order; ``from = "NAME"`` refers to an earlier stage."""
    from zoo.catalog import get_catalog

    catalog = catalog or get_catalog()
    stages = read_pipeline(path)
    for i, stage in enumerate(stages):  # every stage checked before the first one trains
        where = f"{path}: stage {stage.name or i + 1}"
        resolve_strategy_options(catalog.strategy(stage.strategy), stage.strategy_options, where)
    outs: dict[str, str] = {}
    results = []
    for i, stage in enumerate(stages):
        if stage.from_run in outs:
            stage = dataclasses.replace(stage, from_run=outs[stage.from_run])
        label = stage.name or f"stage {i + 1}"
        if resume and Path(stage.out).is_dir() and (Path(stage.out) / "config.json").is_file():
            log(f"{label}: already complete at {stage.out}; skipping")
            adapter = read_adapter(stage.out)
            results.append(StageResult(out=Path(stage.out), metrics=adapter.metrics(), config=adapter.config))
        else:
            log(f"{label}: {stage.strategy} on {stage.dataset} -> {stage.out}")
            results.append(run_stage(stage, catalog=catalog, resume=resume, verbose=verbose, log=log))
        if stage.name:
            outs[stage.name] = str(results[-1].out)
    return results
