"""Backbone features computed once and kept for every epoch of head training.

With a frozen backbone, each epoch would otherwise pay a full backbone pass to
recompute the same numbers; caching makes every epoch after the first cost only a pass
through the head. Small sets stay in memory; large ones go to a memory-mapped ``.npy``
in the run's work folder, reused when a run resumes. Its marker (``NAME.json``) is
written, atomically, only once the array is complete, and a reused array must still
have one row per example: anything else is computed again.

The head trains on *standardised* features (zero mean, unit variance per dimension, from
the training features): raw backbone features range over orders of magnitude between
dimensions, which leaves plain gradient steps with a learning rate that is too large for
some dimensions and too small for the rest. The statistics live in the head's first
layer (see :mod:`zoo_strategies.heads`), so the saved head takes the backbone's features
as they are. An epoch on cached features is at
least :data:`MIN_STEPS_PER_EPOCH` steps: a pass over a small set is a handful of steps,
which is no training budget, while a step on cached features costs next to nothing.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from zoo.api import ZooError, atomic_write_text

MEMORY_LIMIT_BYTES = 1 << 30
MIN_STEPS_PER_EPOCH = 100
SCALE_FLOOR = 0.1
DEAD_SCALE = 1e6


def choose_mode(requested: str, examples: int, feature_dim: int) -> str:
    if requested != "auto":
        return requested
    return "memory" if examples * feature_dim * 4 <= MEMORY_LIMIT_BYTES else "disk"


def compute_features(model, dataset, count: int, feature_dim: int, mode: str, folder: Path, name: str,
                     verbose: int = 0) -> np.ndarray:
    """Run ``model`` over ``dataset`` once; an array in memory or a memory-mapped file."""
    if mode == "memory":
        return np.asarray(model.predict(dataset, verbose=verbose), dtype=np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    path, marker = folder / f"{name}.npy", folder / f"{name}.json"
    cached = cached_features(path, marker, count, feature_dim)
    if cached is not None:
        return cached
    marker.unlink(missing_ok=True)  # from here until the new marker, the file is not to be trusted
    tmp = folder / f".{name}.npy.partial"
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(count, feature_dim))
    rows = 0
    try:
        for images, _ in dataset:
            batch = np.asarray(model.predict_on_batch(images), dtype=np.float32)
            out[rows:rows + len(batch)] = batch
            rows += len(batch)
        out.flush()
    except BaseException:
        del out
        tmp.unlink(missing_ok=True)
        raise
    del out
    if rows != count:
        tmp.unlink()
        raise ZooError(f"computing the '{name}' features: the images gave {rows} rows for a split of {count}; "
                       "nothing was cached")
    os.replace(tmp, path)
    atomic_write_text(marker, json.dumps({"count": count, "feature_dim": feature_dim}))
    return np.load(path, mmap_mode="r")


def cached_features(path: Path, marker: Path, count: int, feature_dim: int) -> np.ndarray | None:
    """The complete features a previous run left for ``count`` examples, or None."""
    try:
        if json.loads(marker.read_text()) != {"count": count, "feature_dim": feature_dim}:
            return None
        features = np.load(path, mmap_mode="r")
    except (OSError, ValueError):  # no marker or file, or a file cut short
        return None
    return features if features.shape == (count, feature_dim) and features.dtype == np.float32 else None


def steps_per_epoch(examples: int, batch_size: int) -> int:
    """Steps of an epoch on cached features: a pass, or :data:`MIN_STEPS_PER_EPOCH` when a pass is fewer."""
    return max(math.ceil(examples / batch_size), MIN_STEPS_PER_EPOCH)


def standardisation(features: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, variance)`` per feature dimension, read ``chunk`` rows at a time (a memory map stays on disk).

    A dimension that does not vary over the training features (a ReLU unit that never
    fires) gets the scale :data:`DEAD_SCALE`: it standardises to about 0, since nothing
    about it was learnt. One that varies very little gets at least :data:`SCALE_FLOOR`
    times the median scale: dividing by almost nothing would make the first image where
    it does fire (a validation image) a thousand-sigma outlier (measured: 6,082 sigma
    with a random-weights AlexNet on 72 images).
    """
    count = len(features)
    total = np.zeros(features.shape[1], np.float64)
    squares = np.zeros(features.shape[1], np.float64)
    for start in range(0, count, chunk):
        rows = np.asarray(features[start:start + chunk], dtype=np.float64)
        total += rows.sum(axis=0)
        squares += (rows * rows).sum(axis=0)
    mean = total / max(count, 1)
    std = np.sqrt(np.maximum(squares / max(count, 1) - mean * mean, 0.0))
    live = std > 1e-7 * max(float(std.max(initial=0.0)), 1e-30)
    floor = SCALE_FLOOR * float(np.median(std[live])) if live.any() else 1.0
    scale = np.where(live, np.maximum(std, floor), DEAD_SCALE)
    return mean.astype(np.float32), (scale * scale).astype(np.float32)


def feature_dataset(features: np.ndarray, labels: np.ndarray, batch_size: int, shuffle: bool, seed: int,
                    repeat: bool = False):
    """Batches of (features, labels) for head training, reshuffled every epoch from ``seed``,
    repeated without end if ``repeat``.

    In memory or memory-mapped, the order is the same: a seeded shuffle of the example
    indices, drawn anew each epoch. A memory-mapped array is read one batch at a time.
    """
    import tensorflow as tf

    labels = np.asarray(labels, np.int64)
    if not isinstance(features, np.memmap):
        dataset = tf.data.Dataset.from_tensor_slices((features, labels))
        if shuffle:
            dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.repeat() if repeat else dataset
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    def read(index):
        rows = np.sort(index)  # in file order: sequential reads; a batch's order does not matter
        return np.asarray(features[rows], dtype=np.float32), labels[rows]

    def read_batch(index):
        x, y = tf.numpy_function(read, [index], (tf.float32, tf.int64), stateful=False)
        x.set_shape((None, features.shape[1]))
        y.set_shape((None,))
        return x, y

    indices = tf.data.Dataset.range(len(labels))
    if shuffle:
        indices = indices.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    indices = indices.repeat() if repeat else indices
    return indices.batch(batch_size).map(read_batch).prefetch(2)
