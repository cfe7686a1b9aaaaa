"""Backbone features computed once and kept for every epoch of head training.

With a frozen backbone, each epoch would otherwise pay a full backbone pass to
recompute the same numbers; caching makes every epoch after the first cost only a pass
through the head. Small sets stay in memory; large ones go to a memory-mapped ``.npy``
in the run's work folder (reused when a run resumes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

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
    if marker.is_file() and json.loads(marker.read_text()) == {"count": count, "feature_dim": feature_dim}:
        return np.load(path, mmap_mode="r")
    tmp = folder / f".{name}.npy.partial"
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(count, feature_dim))
    start = 0
    for images, _ in dataset:
        batch = np.asarray(model.predict_on_batch(images), dtype=np.float32)
        out[start:start + len(batch)] = batch
        start += len(batch)
    out.flush()
    del out
    os.replace(tmp, path)
    marker.write_text(json.dumps({"count": count, "feature_dim": feature_dim}))
    return np.load(path, mmap_mode="r")


def feature_dataset(features: np.ndarray, labels: np.ndarray, batch_size: int, shuffle: bool, seed: int):
    """Batches of (features, labels), reshuffled every epoch, for head training."""
    import tensorflow as tf

    labels = np.asarray(labels, np.int64)
    if isinstance(features, np.memmap):
        dim = features.shape[1]

        def batches():
            order = np.random.default_rng(seed).permutation(len(labels)) if shuffle else np.arange(len(labels))
            for start in range(0, len(order), batch_size):
                index = np.sort(order[start:start + batch_size])
                yield np.asarray(features[index]), labels[index]

        signature = (tf.TensorSpec((None, dim), tf.float32), tf.TensorSpec((None,), tf.int64))
        return tf.data.Dataset.from_generator(batches, output_signature=signature).prefetch(2)
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
