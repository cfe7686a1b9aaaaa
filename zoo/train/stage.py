"""One stage: dataset -> backbone -> strategy -> evaluate -> run folder.

:func:`run_stage` is what ``zoo train`` and each stage of ``zoo run`` do. It checks
everything it can (names, options, the parent run, weights, datasets, the output folder)
before it writes anything. While it trains, its state lives in ``OUT.partial/``
(checkpoints at epoch ends, at most one a minute by default: see :mod:`zoo.train.checkpoints`;
so ``--resume`` continues after a crash or Ctrl-C; a stage that fails before its first
checkpoint removes the folder again); the finished run is assembled in a temporary
directory and renamed to ``OUT`` in one step, so ``OUT`` is either complete or absent.

A resumed run is not bit-identical to one that was never interrupted: it restarts at the
last checkpointed epoch with that epoch's weights and optimizer state (step count and
slot variables), but the input pipeline starts afresh, so the shuffling and augmentation
of the epochs after it draw other random numbers than they would have.

Under ``--distribute multi-worker`` only the chief writes ``OUT``; every other worker
keeps its checkpoints and its copy of the run in ``OUT.worker-N/``, removed when the
command ends (see :func:`zoo.train.distribute.scratch_name`).
"""

from __future__ import annotations

import contextlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from zoo.data.subsets import unlabelled
from zoo.errors import UsageError
from zoo.run.folder import BACKBONE_DELTA
from zoo.run.write import build_run_config, write_run
from zoo.train.callbacks import LOGS
from zoo.train.checkpoints import CheckpointStore, checkpoint_interval
from zoo.train.class_weights import resolve_class_weight
from zoo.train.config import StageConfig, default_out
from zoo.train.inputs import StageInputs, gather_inputs
from zoo.train.plan import STAGE_FILE, StagePaths, check_out, check_stage_plan, stage_paths
from zoo.train.precision import precision_policy, resolve_precision
from zoo.util.files import atomic_directory, atomic_write_text
from zoo.util.lock import FolderBusy, FolderLock, busy_message, lock_folder, owner_of


@dataclass
class StageResult:
    out: Path
    metrics: dict[str, Any]
    config: dict[str, Any]


PINS_FILE = "pins.json"
"""In ``OUT.partial``: what the backbone's source pinned when the run started (a hub commit and file
hashes, a module digest), so that ``--resume`` rebuilds from the same files even if the repo moved."""


def read_pins(work: Path) -> dict | None:
    path = work / PINS_FILE
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except ValueError:
        raise UsageError(f"{path} is damaged; delete {work} and start the run again") from None


def create_partial(paths: StagePaths, stage_text: str) -> FolderLock:
    """``OUT.partial`` with its ``stage.json``, appearing in one step, already locked by this process."""
    lock = None
    try:
        with atomic_directory(paths.work) as tmp:
            atomic_write_text(tmp / STAGE_FILE, stage_text)
            lock = lock_folder(tmp)  # held across the rename: nobody sees the folder unowned
    except UsageError:
        if lock is not None:
            lock.release()
        owner = owner_of(paths.work)
        if owner is not None:  # another process started the same run meanwhile
            raise UsageError(busy_message(str(paths.out), owner)) from None
        raise
    return lock


def own_partial(paths: StagePaths) -> FolderLock:
    """The lock of an existing ``OUT.partial`` (to resume it), or the one-line error naming its owner."""
    try:
        return lock_folder(paths.work)
    except FolderBusy as busy:
        raise UsageError(busy_message(str(paths.out), busy.owner)) from None


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
    """Train one stage and write its run folder; returns where and how well.

    ``where`` names the stage in errors. ``keep_scratch`` keeps a non-chief worker's
    ``OUT.worker-N`` (for later stages of a pipeline, which removes it at the end).
    """
    from zoo.plugin.catalog import get_catalog
    from zoo.train.distribute import make_strategy

    catalog = catalog or get_catalog()
    where = where or config.name or "stage"
    strategy, options = check_stage_plan(config, catalog, where)
    interval = checkpoint_interval()  # a bad ZOO_CHECKPOINT_INTERVAL is refused before OUT.partial exists
    paths = stage_paths(Path(config.out) if config.out else default_out(config), config.distribute)
    stage_text = json.dumps(config.to_dict(), sort_keys=True)
    resuming = check_out(paths, stage_text, resume)
    lock = own_partial(paths) if resuming else None  # one process per run folder, from here on
    try:
        # the first TensorFlow work: multi-worker sets up collective ops, which only works at start-up
        distribution = make_strategy(config.distribute)
        inputs = gather_inputs(config, catalog, strategy, options, log, pins=read_pins(paths.work) if resuming else None)
        class_weight = resolve_class_weight(config.class_weight, inputs.source.splits["train"].labels,
                                            inputs.source.class_names, where)
        if resuming:
            log(f"resuming the interrupted run in {paths.work}")
        else:
            if resume:
                log(f"nothing to resume at {paths.work}; starting afresh")
            lock = create_partial(paths, stage_text)
            if inputs.pins:  # a resumed run rebuilds its backbone from exactly these files
                atomic_write_text(paths.work / PINS_FILE, json.dumps(inputs.pins, sort_keys=True))
        return _train_and_write(inputs, distribution, paths, interval, verbose, log, resuming, keep_scratch,
                                class_weight)
    finally:
        if lock is not None:
            lock.release()


def _train_and_write(inputs: StageInputs, distribution, paths: StagePaths, interval: float, verbose: int,
                     log: Callable[[str], None], resuming: bool, keep_scratch: bool,
                     class_weight: dict[int, float] | None) -> StageResult:
    try:
        trained = _train(inputs, distribution, paths.work, interval, verbose, log, class_weight)
        run_config = build_run_config(inputs, paths.out, trained)
        write_run(paths.own, run_config, trained.outcome, trained.delta, trained.metrics, logs=paths.work / LOGS)
    except BaseException:
        if not resuming:
            discard_unstarted(paths)
        raise
    shutil.rmtree(paths.work, ignore_errors=True)
    if paths.scratch is not None and not keep_scratch:
        shutil.rmtree(paths.scratch, ignore_errors=True)
    log(f"wrote {paths.own}" if paths.scratch is None else f"finished; the chief worker writes {paths.out}")
    return StageResult(out=paths.out, metrics=trained.metrics, config=run_config)


@dataclass
class TrainedStage:
    built: Any
    normalization: dict[str, Any]
    outcome: Any
    delta: dict
    metrics: dict[str, Any]


def _train(inputs: StageInputs, distribution, work: Path, checkpoint_every: float, verbose: int,
           log: Callable[[str], None], class_weight: dict[int, float] | None = None) -> TrainedStage:
    import keras

    from zoo.data.augment import Augmentation
    from zoo.data.tfdata import make_tf_dataset
    from zoo.plugin.specs import load_object
    from zoo.run.delta import changed_variables
    from zoo.run.load import compose
    from zoo.train.board import log_evaluation
    from zoo.train.job import TrainJob

    config, spec, source, target = inputs.config, inputs.spec, inputs.source, inputs.target
    augment = Augmentation.parse(config.augment) if config.augment else None
    precision, why = resolve_precision(config.precision)
    if config.precision == "auto":
        log(f"precision: {precision} ({why})")
    inputs.precision = {"policy": precision, "requested": config.precision, "reason": why}
    with precision_policy(precision), distribution_scope(distribution):
        keras.utils.set_random_seed(config.seed)
        built, normalization, before, inherited = _build_backbone(inputs)

        def make_dataset(split, training: bool = False, batch_size: int | None = None, repeat: bool = False,
                         seed: int | None = None, cache: bool | None = None):
            return make_tf_dataset(split, image_size=built.input_size, channels=spec.channels,
                                   batch_size=batch_size or config.batch_size, shuffle=training,
                                   seed=config.seed if seed is None else seed,
                                   augment=augment if training else None, repeat=repeat, cache=cache)

        job = TrainJob(
            backbone=built, class_names=source.class_names, train=source.splits["train"],
            val=source.splits.get("val"), options=inputs.options, epochs=config.epochs, batch_size=config.batch_size,
            lr=config.lr, seed=config.seed, make_dataset=make_dataset, checkpoints=checkpoints_of(work, checkpoint_every),
            work_dir=work, target=unlabelled(target.splits.get("train")) if target else None,
            target_eval=unlabelled(_eval_split(target)) if target else None, augmenting=augment is not None,
            precision=precision, distribution=distribution, verbose=verbose, log=log,
            early_stopping=config.early_stopping, schedule=config.schedule or "constant", warmup=config.warmup or 0,
            class_weight=class_weight, logs_dir=work / LOGS,
        )
        outcome = load_object(inputs.strategy.trainer)(job)
        delta = changed_variables(built.model, before, always=inherited)
        metrics = _evaluate(compose(built.model, outcome.head), source, target, make_dataset, outcome.metrics)
        log_evaluation(work / LOGS, metrics, source.class_names)
    return TrainedStage(built=built, normalization=normalization, outcome=outcome, delta=delta, metrics=metrics)


def _build_backbone(inputs: StageInputs):
    """``(built, normalization record, snapshot or None, inherited variable paths)``.

    A child of a run gets the parent's backbone: its base weights (checked to be the same
    file) plus its delta, every variable of which the child's delta carries on.
    """
    from zoo.backbone.normalization import build_normalized_backbone
    from zoo.run.delta import apply_delta, load_delta, snapshot
    from zoo.run.load import check_base_weights, is_refetchable

    config, spec, parent = inputs.config, inputs.spec, inputs.parent
    inherited_scaling = parent.backbone.get("normalization") if parent and config.normalization == "backbone" else None
    built, normalization = build_normalized_backbone(spec, weights=inputs.weights, input_size=inputs.image_size,
                                                     mode=config.normalization, record=inherited_scaling,
                                                     train=inputs.source.splits["train"], catalog=inputs.catalog,
                                                     batch_size=config.batch_size,
                                                     recorded=parent.backbone if parent else inputs.pins or None)
    inherited: set[str] = set()
    if parent is not None:
        check_base_weights(built, parent.backbone)
        if parent.has(BACKBONE_DELTA):
            delta = load_delta(parent.file(BACKBONE_DELTA))
            apply_delta(built.model, delta, source=str(parent.file(BACKBONE_DELTA)))
            inherited = set(delta)
    before = snapshot(built.model) if is_refetchable(spec, built.weights.name) else None
    return built, normalization, before, inherited


def _eval_split(loaded):
    return loaded.splits.get("test") or loaded.splits.get("val")


def _scorable(split) -> bool:
    """A held-out split to report the source accuracy on: not empty, and labelled."""
    return split is not None and len(split) > 0 and split.labelled


def _evaluate(model, source, target, make_dataset, extra: dict[str, Any]) -> dict[str, Any]:
    from zoo.train.evaluation import evaluate

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


@contextlib.contextmanager
def distribution_scope(strategy) -> Iterator[Any]:
    """Models built inside are placed by ``strategy`` (a ``zoo.train.distribute.make_strategy`` result, or None)."""
    if strategy is None:
        yield None
        return
    with strategy.scope():
        yield strategy
