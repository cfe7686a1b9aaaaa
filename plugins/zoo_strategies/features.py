"""Backbone features computed once and kept for every epoch of head training.

With a frozen backbone, each epoch would otherwise pay a full backbone pass to
recompute the same numbers; caching makes every epoch after the first cost only a pass
through the head. Small sets stay in memory; large ones go to a memory-mapped ``.npy``
in the run's work folder, reused when a run resumes. Its marker (``NAME.json``) is
written, atomically, only once the array is complete, and a reused array must still
have one row per example: anything else is computed again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from zoo.api import ZooError, atomic_write_text, is_out_of_space, out_of_space, reserve_space

MEMORY_LIMIT_BYTES = 1 << 30


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
    size = count * feature_dim * 4
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(count, feature_dim))
        reserve_space(tmp)  # a full disk fails here, in words, not as a crash on a page write later
    except OSError as error:
        tmp.unlink(missing_ok=True)
        if is_out_of_space(error):
            raise out_of_space(folder, f"the '{name}' feature cache", size,
                               "free space, or use --feature-cache memory") from None
        raise
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


def feature_dataset(features: np.ndarray, labels: np.ndarray, batch_size: int, shuffle: bool, seed: int):
    """Batches of (features, labels) for head training, reshuffled every epoch from ``seed``.

    In memory or memory-mapped, the order is the same: a seeded shuffle of the example
    indices, drawn anew each epoch. A memory-mapped array is read one batch at a time.
    """
    import tensorflow as tf

    labels = np.asarray(labels, np.int64)
    if not isinstance(features, np.memmap):
        dataset = tf.data.Dataset.from_tensor_slices((features, labels))
        if shuffle:
            dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
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
    return indices.batch(batch_size).map(read_batch).prefetch(2)
