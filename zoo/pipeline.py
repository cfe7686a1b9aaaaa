"""dataset -> backbone -> strategy -> evaluate -> run directory.

:func:`run_stage` is what ``zoo train`` and each stage of ``zoo run`` do. It checks
everything it can (names, options, the parent run, weights, datasets, the output folder)
before it writes anything. While it trains, its state lives in ``OUT.partial/``
(checkpoints at epoch ends, at most one a minute by default: see :mod:`zoo.checkpoints`;
so ``--resume`` continues after a crash or Ctrl-C; a stage that fails before its first
checkpoint removes the folder again); the finished run is assembled in a temporary
directory and renamed to ``OUT`` in one step, so ``OUT`` is either complete or absent.

A resumed run is not bit-identical to one that was never interrupted: it restarts at the
last checkpointed epoch with that epoch's weights and optimizer state (step count and
slot variables), but the input pipeline starts afresh, so the shuffling and augmentation
of the epochs after it draw other random numbers than they would have.

Under ``--distribute multi-worker`` only the chief writes ``OUT``; every other worker
keeps its checkpoints and its copy of the run in ``OUT.worker-N/``, removed when the
command ends (see :func:`zoo.distribute.scratch_name`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from zoo import __version__
from zoo.artifacts import BACKBONE_DELTA, CONFIG, CONFUSION, CURVES, HEAD, HISTORY, METRICS, Adapter, read_adapter, record_files
from zoo.checkpoints import CheckpointStore, checkpoint_interval
from zoo.errors import ConfigError, UsageError
from zoo.fileio import atomic_directory, atomic_write_text
from zoo.pipeline_config import StageConfig, default_out, read_pipeline, resolve_strategy_options
from zoo.precision import precision_policy

STAGE_FILE = "stage.json"


@dataclass
class StageResult:
    out: Path
    metrics: dict[str, Any]
    config: dict[str, Any]


@dataclass(frozen=True)
class StagePaths:
    """Where a stage writes: ``own`` (the run) and ``work`` (its ``.partial``) are ``out``'s
    for the chief, and inside ``scratch`` (``OUT.worker-N``) for any other worker."""

    out: Path
    own: Path
    work: Path
    scratch: Path | None = None


def partial_dir(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def stage_paths(out: Path, distribute: str) -> StagePaths:
    from zoo.distribute import scratch_name

    suffix = scratch_name(distribute)
    if suffix is None:
        return StagePaths(out=out, own=out, work=partial_dir(out))
    scratch = out.with_name(f"{out.name}.{suffix}")
    return StagePaths(out=out, own=scratch / out.name, work=scratch / (out.name + ".partial"), scratch=scratch)


def is_complete(run: Path) -> bool:
    return run.is_dir() and (run / CONFIG).is_file()


def library_versions() -> dict[str, str]:
    import keras
    import tensorflow as tf

    return {"zoo": __version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "python": platform.python_version()}


# -- checks before any work ------------------------------------------------------------


def check_stage_plan(config: StageConfig, catalog, where: str):
    """``(strategy spec, options)`` after every check that needs no data, run or TensorFlow:
    strategy and options, target or not, batch size, augmentation, backbone name and size,
    dataset references."""
    from zoo.backbones import check_input_size

    strategy = _named(lambda: catalog.strategy(config.strategy), where)
    options = resolve_strategy_options(strategy, config.strategy_options, where)
    if strategy.needs_target and not config.target:
        raise UsageError(f"{where}: strategy '{strategy.name}' needs a target dataset: add --target DATASET "
                         "(target = \"DATASET\" in a pipeline file); its labels are used for evaluation only")
    if config.target and not strategy.needs_target:
        raise UsageError(f"{where}: a target dataset is only for strategies that adapt to a target domain; "
                         f"'{strategy.name}' does not take one")
    if strategy.needs_target and config.batch_size < 2:
        raise UsageError(f"{where}: strategy '{strategy.name}' compares the statistics of source and target "
                         f"batches, which needs a batch size of at least 2, got {config.batch_size}")
    if config.augment:
        from zoo.inputs import Augmentation

        _named(lambda: Augmentation.parse(config.augment), where)
    if config.backbone:
        spec = _named(lambda: catalog.backbone(config.backbone), where)
        if config.image_size:
            _named(lambda: check_input_size(spec, config.image_size), where)
    for ref in filter(None, (config.dataset, config.target)):
        _named(lambda: catalog.dataset(ref), where)
    return strategy, options


def _named(lookup: Callable[[], Any], where: str) -> Any:
    """``lookup()``, its UsageError (an unknown name, a size out of range) prefixed with ``where``."""
    try:
        return lookup()
    except UsageError as error:
        raise UsageError(f"{where}: {error}") from None


def check_out(paths: StagePaths, stage_text: str, resume: bool) -> bool:
    """Whether there is an interrupted run to resume; refuses an existing ``OUT``, an
    interrupted run without ``resume``, and one started with other settings."""
    for taken in {paths.out, paths.own}:
        if taken.exists():
            raise UsageError(f"output directory '{taken}' already exists; pass another --out or remove it")
    work = paths.work
    if not work.exists():
        return False
    if not resume:
        raise UsageError(f"an interrupted run is at '{work}'; continue it with --resume, or delete that folder")
    saved = (work / STAGE_FILE).read_text() if (work / STAGE_FILE).exists() else None
    if saved is not None and saved != stage_text:
        raise UsageError(f"the interrupted run at '{work}' was started with other settings; "
                         "resume it with the same ones, or delete that folder")
    return True


def open_parent(config: StageConfig, catalog):
    """``(parent adapter or None, backbone spec)``. A downloaded parent may name registry
    backbones only; a local run folder may also name an ad-hoc one (``tfhub:...``)."""
    if config.from_run is None:
        return None, catalog.backbone(config.backbone)
    from zoo.inference import read_run
    from zoo.models import backbone_of

    parent, trusted = read_run(config.from_run, catalog)
    spec = backbone_of(parent, catalog, trusted=trusted)
    if config.backbone and config.backbone != spec.name:
        raise UsageError(f"--from run uses backbone '{spec.name}', not '{config.backbone}'; "
                         "drop --backbone or pick a matching run")
    return parent, spec


def stage_weights(config: StageConfig, spec, parent: Adapter | None) -> str:
    """The weights to build the base with, checked now when they are a file or a keyword.

    A child of a run starts from the parent's base weights when they can be fetched by
    name again, else from random ones: the parent's delta then holds every variable.
    """
    from zoo.models import base_weights_name
    from zoo.weights import resolve_weights

    weights = config.weights
    if parent is not None and weights == "default":
        weights = base_weights_name(spec, parent.backbone)
    choice = spec.default_weights if weights in ("", "default") else weights
    if spec.weights_named(choice) is None:  # none, builtin or a file path: no download, so check it now
        resolve_weights(spec, choice)
    return weights


def load_stage_data(config: StageConfig, catalog):
    """``(source, target or None)``, loaded and checked: a labelled source training split,
    a target with training images and the source's classes."""
    from zoo.inputs import load_dataset

    source = load_dataset(config.dataset, catalog=catalog, val_split=config.val_split or None, seed=config.seed,
                          on_bad_image=config.on_bad_image)
    train = source.splits.get("train")
    if train is None or not len(train):
        raise UsageError(f"dataset '{config.dataset}' has no training examples")
    if not train.labelled:
        raise UsageError(f"dataset '{config.dataset}' has unlabelled training examples; the training set must be "
                         "labelled (unlabelled images can be a --target for domain adaptation)")
    if config.shots:
        source.splits["train"] = few_shot(train, config.shots, config.seed, config.dataset, source.class_names)
    if not config.target:
        return source, None
    target = load_dataset(config.target, catalog=catalog, seed=config.seed, on_bad_image=config.on_bad_image)
    if target.class_names != source.class_names:
        raise UsageError(f"target '{config.target}' has classes {target.class_names[:5]}..., the source "
                         f"'{config.dataset}' has {source.class_names[:5]}...; they must be the same")
    if not len(target.splits.get("train") or ()):
        raise UsageError(f"target '{config.target}' has no training images (it has: {', '.join(target.splits)}); "
                         "adaptation learns from the target's training split")
    return source, target


def create_partial(work: Path, stage_text: str) -> None:
    """``OUT.partial`` with its ``stage.json``, appearing in one step."""
    with atomic_directory(work) as tmp:
        atomic_write_text(tmp / STAGE_FILE, stage_text)


def checkpoints_of(work: Path, interval: float | None = None) -> CheckpointStore:
    """The checkpoint store of the run whose ``.partial`` folder is ``work``."""
    return CheckpointStore(work / "checkpoints", interval)


def discard_unstarted(paths: StagePaths) -> None:
    """Remove the ``.partial`` this stage created when no epoch was checkpointed: nothing to resume."""
    if paths.work.exists() and not checkpoints_of(paths.work, interval=0).holds_any():
        shutil.rmtree(paths.work, ignore_errors=True)
        if paths.scratch is not None:
            with contextlib.suppress(OSError):
                paths.scratch.rmdir()  # only when empty: it may hold earlier stages' copies


# -- the stage ---------------------------------------------------------------------------


def run_stage(config: StageConfig, *, catalog=None, resume: bool = False, verbose: int = 1,
              log: Callable[[str], None] = print, where: str | None = None,
              keep_scratch: bool = False) -> StageResult:
    """Train one stage and write its run directory; returns where and how well.

    ``where`` names the stage in errors. ``keep_scratch`` keeps a non-chief worker's
    ``OUT.worker-N`` (for later stages of a pipeline, which removes it at the end).
    """
    from zoo.catalog import get_catalog
    from zoo.distribute import make_strategy

    catalog = catalog or get_catalog()
    where = where or config.name or "stage"
    strategy, options = check_stage_plan(config, catalog, where)
    interval = checkpoint_interval()  # a bad ZOO_CHECKPOINT_INTERVAL is refused before OUT.partial exists
    paths = stage_paths(Path(config.out) if config.out else default_out(config), config.distribute)
    stage_text = json.dumps(config.to_dict(), sort_keys=True)
    resuming = check_out(paths, stage_text, resume)
    # the first TensorFlow work: multi-worker sets up collective ops, which only works at start-up
    distribution = make_strategy(config.distribute)
    inputs = gather_inputs(config, catalog, strategy, options, log)
    if resuming:
        log(f"resuming the interrupted run in {paths.work}")
    else:
        if resume:
            log(f"nothing to resume at {paths.work}; starting afresh")
        create_partial(paths.work, stage_text)
    try:
        trained = _train(inputs, distribution, paths.work, interval, verbose, log)
        run_config = _run_config(inputs, paths.out, trained)
        _write_run(paths.own, run_config, trained.outcome, trained.delta, trained.metrics)
    except BaseException:
        if not resuming:
            discard_unstarted(paths)
        raise
    shutil.rmtree(paths.work, ignore_errors=True)
    if paths.scratch is not None and not keep_scratch:
        shutil.rmtree(paths.scratch, ignore_errors=True)
    log(f"wrote {paths.own}" if paths.scratch is None else f"finished; the chief worker writes {paths.out}")
    return StageResult(out=paths.out, metrics=trained.metrics, config=run_config)


def gather_inputs(config: StageConfig, catalog, strategy, options: dict[str, Any],
                  log: Callable[[str], None]) -> "StageInputs":
    """The parent run, backbone, weights and datasets of a stage, each checked."""
    parent, spec = open_parent(config, catalog)
    weights = stage_weights(config, spec, parent)
    image_size = config.image_size or (parent.backbone["input_size"] if parent else None)
    source, target = load_stage_data(config, catalog)
    for bad, reason in [*source.bad_files, *(target.bad_files if target else [])]:
        log(f"skipped unreadable image {bad}: {reason}")
    return StageInputs(config=config, catalog=catalog, strategy=strategy, options=options, spec=spec,
                       weights=weights, image_size=image_size, parent=parent, source=source, target=target)


@dataclass
class StageInputs:
    """Everything a stage was checked to have before training starts."""

    config: StageConfig
    catalog: Any
    strategy: Any  # zoo.specs.StrategySpec
    options: dict[str, Any]
    spec: Any  # zoo.specs.BackboneSpec
    weights: str
    image_size: int | None
    parent: Adapter | None
    source: Any  # zoo.datasets.LoadedDataset
    target: Any


@dataclass
class _Trained:
    built: Any
    normalization: dict[str, Any]
    outcome: Any
    delta: dict
    metrics: dict[str, Any]


def _train(inputs: StageInputs, distribution, work: Path, checkpoint_every: float, verbose: int,
           log: Callable[[str], None]) -> _Trained:
    import keras

    from zoo.inputs import Augmentation, make_tf_dataset
    from zoo.models import changed_variables, compose
    from zoo.specs import load_object
    from zoo.training import TrainJob

    config, spec, source, target = inputs.config, inputs.spec, inputs.source, inputs.target
    augment = Augmentation.parse(config.augment) if config.augment else None
    with precision_policy(config.precision), distribution_scope(distribution):
        keras.utils.set_random_seed(config.seed)
        built, normalization, before, inherited = _build_backbone(inputs)

        def make_dataset(split, training: bool = False, batch_size: int | None = None, repeat: bool = False,
                         seed: int | None = None):
            return make_tf_dataset(split, image_size=built.input_size, channels=spec.channels,
                                   batch_size=batch_size or config.batch_size, shuffle=training,
                                   seed=config.seed if seed is None else seed,
                                   augment=augment if training else None, repeat=repeat)

        job = TrainJob(
            backbone=built, class_names=source.class_names, train=source.splits["train"],
            val=source.splits.get("val"), options=inputs.options, epochs=config.epochs, batch_size=config.batch_size,
            lr=config.lr, seed=config.seed, make_dataset=make_dataset, checkpoints=checkpoints_of(work, checkpoint_every),
            work_dir=work, target=unlabelled(target.splits.get("train")) if target else None,
            target_eval=unlabelled(_eval_split(target)) if target else None, augmenting=augment is not None,
            precision=config.precision, distribution=distribution, verbose=verbose, log=log,
        )
        outcome = load_object(inputs.strategy.trainer)(job)
        delta = changed_variables(built.model, before, always=inherited)
        metrics = _evaluate(compose(built.model, outcome.head), source, target, make_dataset, outcome.metrics)
    return _Trained(built=built, normalization=normalization, outcome=outcome, delta=delta, metrics=metrics)


def _build_backbone(inputs: StageInputs):
    """``(built, normalization record, snapshot or None, inherited variable paths)``.

    A child of a run gets the parent's backbone: its base weights (checked to be the same
    file) plus its delta, every variable of which the child's delta carries on.
    """
    from zoo.models import apply_delta, check_base_weights, is_refetchable, load_delta, snapshot
    from zoo.normalization import build_normalized_backbone

    config, spec, parent = inputs.config, inputs.spec, inputs.parent
    inherited_scaling = parent.backbone.get("normalization") if parent and config.normalization == "backbone" else None
    built, normalization = build_normalized_backbone(spec, weights=inputs.weights, input_size=inputs.image_size,
                                                     mode=config.normalization, record=inherited_scaling,
                                                     train=inputs.source.splits["train"], catalog=inputs.catalog,
                                                     batch_size=config.batch_size)
    inherited: set[str] = set()
    if parent is not None:
        check_base_weights(built, parent.backbone)
        if parent.has(BACKBONE_DELTA):
            delta = load_delta(parent.file(BACKBONE_DELTA))
            apply_delta(built.model, delta, source=str(parent.file(BACKBONE_DELTA)))
            inherited = set(delta)
    before = snapshot(built.model) if is_refetchable(spec, built.weights.name) else None
    return built, normalization, before, inherited


def _run_config(inputs: StageInputs, out: Path, trained: _Trained) -> dict[str, Any]:
    """What ``config.json`` records: enough to rebuild, verify and describe the run."""
    config, spec, built, parent = inputs.config, inputs.spec, trained.built, inputs.parent
    return {
        "name": config.name or out.name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "backbone": {
            "name": spec.name, "source": spec.source, "model": spec.model, "options": dict(spec.options),
            "input_size": built.input_size, "channels": spec.channels, "preprocessing": built.spec.preprocessing,
            "feature_dim": built.feature_dim, "normalization": trained.normalization,
            "weights": {"name": built.weights.name, "sha256": built.weights.sha256,
                        "file": Path(built.weights.path).name if built.weights.path else None},
        },
        "strategy": {"name": inputs.strategy.name, "plugin": inputs.strategy.plugin, "options": inputs.options},
        "training": {
            "epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr, "seed": config.seed,
            "precision": config.precision, "distribute": config.distribute, "dataset": config.dataset,
            "target": config.target, "val_split": config.val_split, "augment": config.augment,
        },
        "class_names": inputs.source.class_names,
        "parent": {"ref": config.from_run, "name": parent.config.get("name")} if parent else None,
        "pipeline": config.to_dict(),
        "versions": library_versions(),
    }


def few_shot(split, shots: int, seed: int, ref: str, class_names: list[str]):
    """``shots`` examples of every class, drawn with ``seed`` (the K-shot target setting)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    chosen = []
    for label, name in enumerate(class_names):
        members = np.flatnonzero(split.labels == label)
        if len(members) < shots:
            raise UsageError(f"--shots {shots}: class '{name}' of '{ref}' has only {len(members)} training "
                             f"image{'s' if len(members) != 1 else ''}; use fewer shots")
        chosen.extend(rng.choice(members, shots, replace=False))
    return split.subset(np.sort(np.asarray(chosen, dtype=np.int64)))


def unlabelled(split):
    """``split`` with every label blanked (-1), streamed ones included: what a strategy
    gets of the target, so that it cannot train on the target's labels."""
    import numpy as np

    from zoo.datasets import Split

    if split is None:
        return None
    blank = np.full(len(split), -1, dtype=np.int64)
    if split.make_tf_dataset is not None:
        return Split(labels=blank, make_tf_dataset=functools.partial(_blank_stream, split.make_tf_dataset))
    return dataclasses.replace(split, labels=blank)


def _blank_stream(make: Callable[[], Any]):
    """The elements of ``make()`` with label -1 (TensorFlow imported here, on use)."""
    import tensorflow as tf

    return make().map(lambda image, label: (image, tf.constant(-1, dtype=tf.int64)))


def _eval_split(loaded):
    return loaded.splits.get("test") or loaded.splits.get("val")


def _scorable(split) -> bool:
    """A held-out split to report the source accuracy on: not empty, and labelled."""
    return split is not None and len(split) > 0 and split.labelled


def _evaluate(model, source, target, make_dataset, extra: dict[str, Any]) -> dict[str, Any]:
    from zoo.evaluation import evaluate

    split_name = next((s for s in ("test", "val") if _scorable(source.splits.get(s))), "train")
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
    from zoo.models import save_delta, save_head

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
    """Every stage of a pipeline file in order; ``from = "NAME"`` refers to an earlier stage.

    Every stage is checked (see :func:`plan_pipeline`) before the first one trains.
    """
    from zoo.catalog import get_catalog

    catalog = catalog or get_catalog()
    stages = plan_pipeline(path, catalog, resume)
    results = []
    for i, stage in enumerate(stages):
        label = stage.name or str(i + 1)
        paths = stage_paths(Path(stage.out), stage.distribute)
        if resume and is_complete(paths.own):
            log(f"stage {label}: already complete at {paths.own}; skipping")
            adapter = read_adapter(paths.own)
            results.append(StageResult(out=paths.out, metrics=adapter.metrics(), config=adapter.config))
            continue
        log(f"stage {label}: {stage.strategy} on {stage.dataset} -> {stage.out}")
        results.append(run_stage(stage, catalog=catalog, resume=resume, verbose=verbose, log=log,
                                 where=f"{path}: stage {label}", keep_scratch=True))
    for scratch in {stage_paths(Path(stage.out), stage.distribute).scratch for stage in stages} - {None}:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def plan_pipeline(path: str | Path, catalog, resume: bool) -> list[StageConfig]:
    """The stages of a pipeline file, each ``from = "STAGE"`` replaced by that stage's run
    folder, after checking all of them: names, options, dataset references, ``from``
    references, and output folders (distinct, and free unless resuming)."""
    stages = read_pipeline(path)
    runs: dict[str, str] = {}  # stage name -> the run folder this process reads it from
    outs: dict[Path, str] = {}
    later = {stage.name for stage in stages if stage.name}
    planned = []
    for i, stage in enumerate(stages):
        label = stage.name or str(i + 1)
        where = f"{path}: stage {label}"
        later.discard(stage.name)
        _check_from(stage.from_run, runs, later, catalog, where)
        if stage.from_run in runs:
            stage = dataclasses.replace(stage, from_run=runs[stage.from_run])
        check_stage_plan(stage, catalog, where)
        paths = stage_paths(Path(stage.out), stage.distribute)
        taken = paths.out.resolve()
        if taken in outs:
            raise ConfigError(f"{where}: out '{stage.out}' is also stage {outs[taken]}'s; give each stage its own")
        outs[taken] = label
        if not (resume and is_complete(paths.own)):
            try:
                check_out(paths, json.dumps(stage.to_dict(), sort_keys=True), resume)
            except UsageError as error:
                raise UsageError(f"{where}: {error}") from None
        if stage.name:
            runs[stage.name] = str(paths.own)
        planned.append(stage)
    return planned


def _check_from(ref: str | None, earlier: dict[str, str], later: set[str], catalog, where: str) -> None:
    """A stage's ``from`` must be an earlier stage, a run folder, a hub reference or an adapter name."""
    if ref is None or ref in earlier:
        return
    if ref in later:
        raise ConfigError(f"{where}: from = \"{ref}\" names a later stage; a stage can only start from an earlier one")
    if "://" in ref or Path(ref).expanduser().is_dir() or ref in catalog.adapters:
        return
    names = ", ".join(earlier) or "none"
    raise ConfigError(f"{where}: from = \"{ref}\" is not an earlier stage (earlier stages: {names}), a run folder, "
                      "a registered adapter or hf://OWNER/REPO")
