"""Backbone features computed once and kept for every epoch of head training.

With a frozen backbone, each epoch would otherwise pay a full backbone pass to
recompute the same numbers; caching makes every epoch after the first cost only a pass
through the head. The splits a run needs (train, val) are computed in one pass, so the
backbone is run once over the images, not once per split. Small sets stay in memory;
large ones go to a ``.npy`` in the run's work folder, reused when a run resumes. Its
marker (``NAME.json``) is written, atomically, only once the array is complete, and a
reused array must still have one row per example: anything else is computed again.

On disk the features never sit in the process's memory: they are written with plain
file writes and read back a batch at a time (``pread``), so resident memory stays flat
however large the dataset (a memory-mapped page, once touched, would count in it).

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

from zoo.api import (
    ZooError,
    atomic_write_text,
    interrupt_callback,
    is_out_of_space,
    out_of_space,
    prefetched,
    raise_if_interrupted,
    reserve_space,
)

MEMORY_LIMIT_BYTES = 64 << 20
"""Features larger than this (all splits together) go to disk with ``--feature-cache auto``
(2048-wide features: about 8,000 images)."""
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
    return compute_split_features(model, [(name, dataset, count)], feature_dim, mode, folder, verbose=verbose)[0]


def compute_split_features(model, parts: list[tuple[str, object, int]], feature_dim: int, mode: str, folder: Path,
                           verbose: int = 0) -> list[np.ndarray]:
    """The features of every ``(name, dataset, count)`` part, from one pass of ``model`` over
    their batches one after the other (one ``predict``: one trace, one input pipeline)."""
    if mode == "memory":
        batches = parts[0][1]
        for _, dataset, _ in parts[1:]:
            batches = batches.concatenate(dataset)
        rows = np.asarray(model.predict(batches, verbose=verbose, callbacks=[interrupt_callback()]), dtype=np.float32)
        check_rows(len(rows), sum(count for _, _, count in parts), "+".join(name for name, _, _ in parts))
        bounds = np.cumsum([0] + [count for _, _, count in parts])
        return [rows[start:end] for start, end in zip(bounds, bounds[1:])]
    folder.mkdir(parents=True, exist_ok=True)
    cached = [cached_features(folder / f"{name}.npy", folder / f"{name}.json", count, feature_dim)
              for name, _, count in parts]
    todo = [part for part, have in zip(parts, cached) if have is None]
    if todo:
        batches = todo[0][1]
        for _, dataset, _ in todo[1:]:
            batches = batches.concatenate(dataset)
        _write_features(model, batches, todo, feature_dim, folder)
    return [have if have is not None else np.load(folder / f"{name}.npy", mmap_mode="r")
            for (name, _, _), have in zip(parts, cached)]


def check_rows(rows: int, count: int, name: str) -> None:
    if rows != count:
        raise ZooError(f"computing the '{name}' features: the images gave {rows} rows for a split of {count}; "
                       "nothing was cached")


def _write_features(model, batches, parts, feature_dim: int, folder: Path) -> None:
    """Stream ``model``'s outputs over ``batches`` into each part's file, in order; markers last."""
    files = []
    names, total = "+".join(name for name, _, _ in parts), sum(count for _, _, count in parts)
    try:
        for name, _, count in parts:
            (folder / f"{name}.json").unlink(missing_ok=True)  # until the new marker, the file is not to be trusted
            files.append(_open_partial(folder, name, count, feature_dim))
        index, written, rows = 0, 0, 0
        for images, _ in batches:
            raise_if_interrupted()
            batch = np.asarray(model.predict_on_batch(images), dtype=np.float32)
            rows += len(batch)
            while len(batch) and index < len(parts):
                take = min(len(batch), parts[index][2] - written)
                files[index][1].write(np.ascontiguousarray(batch[:take]).tobytes())
                batch, written = batch[take:], written + take
                if written == parts[index][2]:
                    index, written = index + 1, 0
        check_rows(rows, total, names)
        for (name, _, count), (tmp, handle) in zip(parts, files):
            handle.close()
            os.replace(tmp, folder / f"{name}.npy")
            atomic_write_text(folder / f"{name}.json", json.dumps({"count": count, "feature_dim": feature_dim}))
    except BaseException as error:
        for tmp, handle in files:
            handle.close()
            tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and is_out_of_space(error):
            raise out_of_space(folder, "the feature cache", sum(c for _, _, c in parts) * feature_dim * 4,
                               "free space, or use --feature-cache memory") from None
        raise


def _open_partial(folder: Path, name: str, count: int, feature_dim: int):
    """``(path, handle)`` of a ``.npy`` of ``count`` rows whose blocks are already allocated (a full
    disk fails here, in words), positioned at the first row."""
    tmp = folder / f".{name}.npy.partial"
    handle = open(tmp, "w+b")
    try:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False,
                                                      "shape": (count, feature_dim)})
        start = handle.tell()
        handle.truncate(start + count * feature_dim * 4)
        handle.flush()
        reserve_space(tmp)
        handle.seek(start)
    except BaseException as error:
        handle.close()
        tmp.unlink(missing_ok=True)
        if isinstance(error, OSError) and is_out_of_space(error):
            raise out_of_space(folder, f"the '{name}' feature cache", count * feature_dim * 4,
                               "free space, or use --feature-cache memory") from None
        raise
    return tmp, handle


def cached_features(path: Path, marker: Path, count: int, feature_dim: int) -> np.ndarray | None:
    """The complete features a previous run left for ``count`` examples, or None."""
    try:
        if json.loads(marker.read_text()) != {"count": count, "feature_dim": feature_dim}:
            return None
        features = np.load(path, mmap_mode="r")
    except (OSError, ValueError):  # no marker or file, or a file cut short
        return None
    return features if features.shape == (count, feature_dim) and features.dtype == np.float32 else None


def read_rows(features: np.memmap, rows: np.ndarray) -> np.ndarray:
    """``features[rows]`` read from its file (``pread``), not through the mapping: the pages do
    not stay resident in this process."""
    width = features.shape[1] * 4
    out = np.empty((len(rows), features.shape[1]), np.float32)
    fd = os.open(features.filename, os.O_RDONLY)
    try:
        for i, row in enumerate(rows):
            out[i] = np.frombuffer(os.pread(fd, width, features.offset + int(row) * width), np.float32)
    finally:
        os.close(fd)
    return out


def read_block(features: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Rows ``start:stop``; of a memory-mapped file, read with one ``pread`` (not resident after)."""
    if not isinstance(features, np.memmap):
        return np.asarray(features[start:stop])
    width = features.shape[1] * 4
    fd = os.open(features.filename, os.O_RDONLY)
    try:
        data = os.pread(fd, (stop - start) * width, features.offset + start * width)
    finally:
        os.close(fd)
    return np.frombuffer(data, np.float32).reshape(-1, features.shape[1])


def steps_per_epoch(examples: int, batch_size: int) -> int:
    """Steps of an epoch on cached features: a pass, or :data:`MIN_STEPS_PER_EPOCH` when a pass is fewer."""
    return max(math.ceil(examples / batch_size), MIN_STEPS_PER_EPOCH)


def standardisation(features: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, variance)`` per feature dimension, read ``chunk`` rows at a time (features on disk stay there).

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
        rows = read_block(features, start, min(start + chunk, count)).astype(np.float64)
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
        return prefetched(dataset.batch(batch_size))

    def read(index):
        rows = np.sort(index)  # in file order: sequential reads; a batch's order does not matter
        return read_rows(features, rows), labels[rows]

    def read_batch(index):
        x, y = tf.numpy_function(read, [index], (tf.float32, tf.int64), stateful=False)
        x.set_shape((None, features.shape[1]))
        y.set_shape((None,))
        return x, y

    indices = tf.data.Dataset.range(len(labels))
    if shuffle:
        indices = indices.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    indices = indices.repeat() if repeat else indices
    return prefetched(indices.batch(batch_size).map(read_batch), 2)
