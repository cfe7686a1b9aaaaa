"""``zoo run PIPELINE.toml``: the stages of a file, in order, after checking all of them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from zoo.run.folder import read_run_folder
from zoo.train.config import stage_label
from zoo.train.plan import is_complete, plan_pipeline, stage_paths
from zoo.train.stage import StageResult, run_stage


def stage_done(distribute: str, paths) -> bool:
    """Whether a stage is complete. Under ``multi-worker`` that is the chief's word, shared with
    every worker: a worker's own scratch copy is gone once a pipeline has finished, and a worker
    that trained alone while the others skipped would wait for them for ever."""
    mine = is_complete(paths.own)
    if distribute != "multi-worker":
        return mine
    import tensorflow as tf

    from zoo.train.distribute import make_strategy

    strategy = make_strategy(distribute)
    said = mine and paths.scratch is None  # only the chief's folder counts
    votes = strategy.run(lambda: tf.constant(1 if said else 0, dtype=tf.int32))
    return bool(strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None).numpy())


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
        if resume and stage_done(stage.distribute, paths):
            log(f"stage {label}: already complete at {paths.out}; skipping")
            finished = paths.own if is_complete(paths.own) else paths.out
            adapter = read_run_folder(finished) if is_complete(finished) else None  # a worker may not see OUT
            results.append(StageResult(out=paths.out, metrics=adapter.metrics() if adapter else {},
                                       config=adapter.config if adapter else {}))
            continue
        log(f"stage {label}: {stage.strategy} on {stage.dataset} -> {stage.out}")
        results.append(run_stage(stage, catalog=catalog, resume=resume, verbose=verbose, log=log,
                                 where=f"{path}: stage {label}", keep_scratch=True))
    for scratch in {stage_paths(Path(stage.out), stage.distribute).scratch for stage in stages} - {None}:
        shutil.rmtree(scratch, ignore_errors=True)
    return results
