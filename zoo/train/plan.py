"""Checking a stage (or a whole pipeline) before anything is written or trained.

The checks here need no data and no TensorFlow: names, options and their bounds, the
target, the batch size, augmentation, backbone size, dataset references, output folders.
:func:`plan_pipeline` runs them for every stage of a file before its first stage trains.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from zoo.errors import ConfigError, UsageError
from zoo.run.folder import CONFIG, record_path
from zoo.train.config import StageConfig, read_pipeline, resolve_strategy_options, stage_label
from zoo.util.lock import busy_message, owner_of

STAGE_FILE = "stage.json"


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
    from zoo.train.distribute import scratch_name

    suffix = scratch_name(distribute)
    if suffix is None:
        return StagePaths(out=out, own=out, work=partial_dir(out))
    scratch = out.with_name(f"{out.name}.{suffix}")
    return StagePaths(out=out, own=scratch / out.name, work=scratch / (out.name + ".partial"), scratch=scratch)


def is_complete(run: Path) -> bool:
    return run.is_dir() and (run / CONFIG).is_file()


# -- checks before any work ------------------------------------------------------------


def check_stage_plan(config: StageConfig, catalog, where: str, parent_backbone: str | None = None):
    """``(strategy spec, options)`` after every check that needs no data, run or TensorFlow:
    strategy and options (the strategy's own ``check`` too), target or not, batch size,
    augmentation, backbone name and size, dataset references.

    ``parent_backbone`` names the backbone of a ``from`` stage that has not run yet; a
    ``from`` run folder on disk is read for its backbone's name."""
    from zoo.backbone.build import check_input_size
    from zoo.plugin.specs import load_object

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
        from zoo.data.augment import Augmentation

        _named(lambda: Augmentation.parse(config.augment), where)
    spec = None
    if config.backbone:
        spec = _named(lambda: catalog.backbone(config.backbone), where)
        if config.image_size:
            _named(lambda: check_input_size(spec, config.image_size), where)
    elif config.from_run:
        spec = _backbone_of_parent(parent_backbone or _recorded_backbone(config.from_run), catalog)
    if strategy.check:
        _named(lambda: load_object(strategy.check)(options, spec), where)
    for ref in filter(None, (config.dataset, config.target)):
        _named(lambda: catalog.dataset(ref), where)
    return strategy, options


def _recorded_backbone(ref: str) -> str | None:
    """The backbone a local run folder names in its record (hub references: unknown yet)."""
    config_file = record_path(Path(ref).expanduser())
    try:
        backbone = json.loads(config_file.read_text()).get("backbone") if config_file.is_file() else None
    except (OSError, ValueError):
        return None  # loading the run reports what is wrong with it
    return backbone.get("name") if isinstance(backbone, dict) and isinstance(backbone.get("name"), str) else None


def _backbone_of_parent(name: str | None, catalog):
    if name is None:
        return None
    try:
        return catalog.backbone(name)
    except UsageError:
        return None  # loading the parent run names what is missing


def check_stage_data(config: StageConfig, catalog, where: str) -> None:
    """Datasets that a stage names, checked from their listings alone (no image is decoded):
    they exist, have the usual layout, and a target has the source's classes.

    For a pipeline this runs for every stage before the first one trains, so a typo in the
    last stage's folder is found at once, not after the first stages are written."""
    from zoo.plugin.specs import load_object

    described = {}
    for role, ref in (("dataset", config.dataset), ("target", config.target)):
        if not ref:
            continue
        spec, argument = _named(lambda: catalog.dataset(ref), where)
        if spec.describe:
            described[role] = _named(lambda: load_object(spec.describe)(argument), where)
    source, target = described.get("dataset"), described.get("target")
    if source is not None and "train" in source.get("splits", {}) and not source["splits"]["train"]:
        raise UsageError(f"{where}: dataset '{config.dataset}' has no training examples")
    if source is not None and target is not None and source.get("classes") != target.get("classes"):
        raise UsageError(f"{where}: target '{config.target}' has classes {list(target.get('classes') or [])[:5]}..., "
                         f"the source '{config.dataset}' has {list(source.get('classes') or [])[:5]}...; "
                         "they must be the same")


def check_stage_weights(config: StageConfig, catalog, where: str) -> None:
    """A ``weights`` file or keyword of a stage with its own backbone, checked before any stage trains."""
    if not config.backbone or config.from_run or config.weights in ("", "default"):
        return
    from zoo.backbone.weights import resolve_weights

    spec = _named(lambda: catalog.backbone(config.backbone), where)
    if spec.weights_named(config.weights) is None:  # none, builtin or a file path: nothing to download
        _named(lambda: resolve_weights(spec, config.weights), where)


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
    owner = owner_of(work)
    if owner is not None:
        raise UsageError(busy_message(str(paths.out), owner))
    if not resume:
        raise UsageError(f"an interrupted run is at '{work}'; continue it with --resume, or delete that folder")
    saved = (work / STAGE_FILE).read_text() if (work / STAGE_FILE).exists() else None
    if saved is not None and saved != stage_text:
        raise UsageError(f"the interrupted run at '{work}' was started with other settings; "
                         "resume it with the same ones, or delete that folder")
    return True


def plan_pipeline(path: str | Path, catalog, resume: bool) -> list[StageConfig]:
    """The stages of a pipeline file, each ``from = "STAGE"`` replaced by that stage's run
    folder, after checking all of them: names, options, dataset references, ``from``
    references, and output folders (distinct, and free unless resuming)."""
    stages = read_pipeline(path)
    runs: dict[str, str] = {}  # stage name -> the run folder this process reads it from
    backbones: dict[str, str | None] = {}  # stage name -> its backbone, for the stages that start from it
    outs: dict[Path, str] = {}
    later = {stage.name for stage in stages if stage.name}
    planned = []
    for i, stage in enumerate(stages):
        label = stage_label(stage, i)
        where = f"{path}: stage {label}"
        later.discard(stage.name)
        _check_from(stage.from_run, runs, later, catalog, where)
        parent_backbone = backbones.get(stage.from_run) if stage.from_run in runs else None
        if stage.from_run in runs:
            stage = dataclasses.replace(stage, from_run=runs[stage.from_run])
        check_stage_plan(stage, catalog, where, parent_backbone=parent_backbone)
        check_stage_data(stage, catalog, where)
        check_stage_weights(stage, catalog, where)
        paths = stage_paths(Path(stage.out), stage.distribute)
        taken = paths.out.resolve()
        if taken in outs:
            raise ConfigError(f"{where}: out '{stage.out}' is also stage {outs[taken]}'s; give each stage its own")
        outs[taken] = label
        # resuming across workers, whether a stage is done is the chief's word, known only once the
        # cluster is joined: run_stage checks the output folders of the stages that still train
        if not (resume and (is_complete(paths.own) or stage.distribute == "multi-worker")):
            try:
                check_out(paths, json.dumps(stage.to_dict(), sort_keys=True), resume)
            except UsageError as error:
                raise UsageError(f"{where}: {error}") from None
        if stage.name:
            runs[stage.name] = str(paths.own)
            backbones[stage.name] = stage.backbone or parent_backbone or (
                _recorded_backbone(stage.from_run) if stage.from_run else None)
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
