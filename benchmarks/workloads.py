"""What the training benchmarks share: random images, a zoo backbone, a real TrainJob.

zoo's side of every comparison goes through zoo's own code (the backbone from the
registry, the strategy's trainer with a :class:`zoo.training.TrainJob` as ``zoo train``
builds it, the input pipeline); plain Keras gets the very same model and batches.
Random weights and random pixels: speed does not depend on what the numbers mean.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def random_split(count: int, size: int, classes: int = 10, seed: int = 0):
    from zoo.datasets import Split

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    return Split(labels=rng.integers(0, classes, count), images=images)


def build(backbone: str, size: int):
    """A zoo backbone with random weights, built as ``zoo train`` builds it."""
    from zoo.backbones import build_backbone
    from zoo.catalog import get_catalog

    catalog = get_catalog()
    return build_backbone(catalog.backbone(backbone), weights="none", input_size=size, catalog=catalog)


def batches(built, split, batch_size: int, shuffle: bool = False, seed: int = 0):
    """zoo's input pipeline for ``split`` (decoded images cached in memory)."""
    from zoo.inputs import make_tf_dataset

    return make_tf_dataset(split, image_size=built.input_size, channels=built.spec.channels,
                           batch_size=batch_size, shuffle=shuffle, seed=seed)


def strategy_options(strategy: str, given: dict[str, Any]) -> dict[str, Any]:
    from zoo.catalog import get_catalog
    from zoo.pipeline_config import resolve_strategy_options

    return resolve_strategy_options(get_catalog().strategy(strategy), given, "benchmark")


@contextlib.contextmanager
def train_job(built, split, *, strategy: str, options: dict[str, Any], epochs: int, batch_size: int,
              checkpoints=None, lr: float = 1e-3, seed: int = 0):
    """A TrainJob like run_stage's, in a fresh work folder (so nothing is resumed), removed after."""
    from zoo.checkpoints import CheckpointStore
    from zoo.training import TrainJob

    work = Path(tempfile.mkdtemp(prefix="zoo-bench-"))

    def make_dataset(part, training: bool = False, batch_size: int | None = None, repeat: bool = False):
        from zoo.inputs import make_tf_dataset

        return make_tf_dataset(part, image_size=built.input_size, channels=built.spec.channels,
                               batch_size=batch_size or job.batch_size, shuffle=training, seed=seed, repeat=repeat)

    job = TrainJob(backbone=built, class_names=[str(i) for i in range(int(split.labels.max()) + 1)], train=split,
                   val=None, options=strategy_options(strategy, options), epochs=epochs, batch_size=batch_size,
                   lr=lr, seed=seed, make_dataset=make_dataset,
                   checkpoints=(checkpoints or CheckpointStore)(work / "checkpoints"), work_dir=work, verbose=0,
                   log=lambda message: None)
    try:
        yield job
    finally:
        shutil.rmtree(work, ignore_errors=True)


def clock() -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds): the second is less swayed by other processes' load."""
    return time.perf_counter(), time.process_time()


def epoch_timer():
    """A Keras callback recording when each epoch ends (``.ends``, :func:`clock` readings)."""
    import keras

    class EpochEnds(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends: list[tuple[float, float]] = []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(clock())

    return EpochEnds()


def steady_epochs(ends: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """(wall, CPU) durations from one epoch's end to the next: the first epoch (tracing, warm-up) is left out."""
    return [(b[0] - a[0], b[1] - a[1]) for a, b in zip(ends, ends[1:])]


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(function, *args, **kwargs) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result
