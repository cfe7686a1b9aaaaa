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
from zoo.run.folder import CONFIG
from zoo.train.config import StageConfig, read_pipeline, resolve_strategy_options

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


def check_stage_plan(config: StageConfig, catalog, where: str):
    """``(strategy spec, options)`` after every check that needs no data, run or TensorFlow:
    strategy and options, target or not, batch size, augmentation, backbone name and size,
    dataset references."""
    from zoo.backbone.build import check_input_size

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
