"""``zoo run PIPELINE.toml``: the stages of a file, in order, after checking all of them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from zoo.run.folder import read_run_folder
from zoo.train.config import stage_label
from zoo.train.plan import is_complete, plan_pipeline, stage_paths
from zoo.train.stage import StageResult, run_stage


def run_pipeline(path: str | Path, *, catalog=None, resume: bool = False, verbose: int = 1,
                 log: Callable[[str], None] = print) -> list[StageResult]:
    """Every stage of a pipeline file in order; ``from = "NAME"`` refers to an earlier stage.

    Every stage is checked (see :func:`plan_pipeline`) before the first one trains.
    """
    from zoo.plugin.catalog import get_catalog

    catalog = catalog or get_catalog()
    stages = plan_pipeline(path, catalog, resume)
    results = []
    for i, stage in enumerate(stages):
        label = stage_label(stage, i)
        paths = stage_paths(Path(stage.out), stage.distribute)
        if resume and is_complete(paths.own):
            log(f"stage {label}: already complete at {paths.own}; skipping")
            adapter = read_run_folder(paths.own)
            results.append(StageResult(out=paths.out, metrics=adapter.metrics(), config=adapter.config))
            continue
        log(f"stage {label}: {stage.strategy} on {stage.dataset} -> {stage.out}")
        results.append(run_stage(stage, catalog=catalog, resume=resume, verbose=verbose, log=log,
                                 where=f"{path}: stage {label}", keep_scratch=True))
    for scratch in {stage_paths(Path(stage.out), stage.distribute).scratch for stage in stages} - {None}:
        shutil.rmtree(scratch, ignore_errors=True)
    return results
