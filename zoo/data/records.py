"""What a dataset loader returns, and the checks every loader shares.

A loader (see :class:`zoo.plugin.specs.DatasetSpec`) returns a :class:`LoadedDataset`: class
names plus splits, each split being either image files on disk or images already in
memory. Turning a split into batches for a model is :mod:`zoo.data.tfdata`' job, so every
dataset, built-in or third-party, gets the same decode/resize/augment/cache pipeline.

Image files are screened here, with Pillow, when a dataset is loaded: a corrupt file
is then named to the user (skipped or refused, by ``on_bad_image``) instead of
stopping TensorFlow in the middle of an epoch. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from zoo.errors import UsageError


@dataclass
class Split:
    """The examples of one split.

    Exactly one of ``files`` (paths to jpg/png/bmp/gif images), ``images`` (a uint8
    array ``(N, H, W, C)``) or ``make_tf_dataset`` (a zero-argument callable giving a
    ``tf.data.Dataset`` of ``(uint8 image HWC, int label)``, for TFDS) is set.
    ``labels`` are class indices; ``-1`` marks an unlabelled example.
    """

    labels: np.ndarray
    files: list[str] | None = None
    images: np.ndarray | None = None
    make_tf_dataset: Callable[[], Any] | None = None

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        given = [x is not None for x in (self.files, self.images, self.make_tf_dataset)]
        if sum(given) != 1:
            raise ValueError("a Split has exactly one of files, images or make_tf_dataset")
        if self.files is not None and len(self.files) != len(self.labels):
            raise ValueError(f"{len(self.files)} files but {len(self.labels)} labels")
        if self.images is not None and len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def labelled(self) -> bool:
        return bool(len(self.labels)) and bool((self.labels >= 0).all())

    @property
    def kind(self) -> str:
        """``files``, ``images`` or ``stream``: how :mod:`zoo.data.tfdata` reads it."""
        if self.files is not None:
            return "files"
        return "images" if self.images is not None else "stream"

    def subset(self, index: np.ndarray) -> "Split":
        """The examples at ``index``.

        A streamed split keeps its own order (the stream is filtered by position), so
        its subset comes back in sorted ``index`` order; file and array splits follow
        ``index`` as given.
        """
        index = np.asarray(index, dtype=np.int64)
        if self.make_tf_dataset is not None:
            keep = np.zeros(len(self), dtype=bool)
            keep[index] = True
            return Split(labels=self.labels[np.flatnonzero(keep)],
                         make_tf_dataset=functools.partial(_filtered_stream, self.make_tf_dataset, keep))
        return Split(
            labels=self.labels[index],
            files=[self.files[i] for i in index] if self.files is not None else None,
            images=self.images[index] if self.images is not None else None,
        )


def _filtered_stream(make: Callable[[], Any], keep: np.ndarray):
    """The elements of ``make()`` whose position is marked in ``keep`` (TF imported here)."""
    import tensorflow as tf

    mask = tf.constant(keep)
    return make().enumerate().filter(lambda i, example: tf.gather(mask, i)).map(lambda i, example: example)


@dataclass
class LoadedDataset:
    """A dataset ready for :mod:`zoo.data.tfdata`: class names and named splits.

    ``bad_files`` lists ``(path, reason)`` for images that could not be read and were
    skipped while loading (``on_bad_image="skip"``).
    """

    ref: str
    class_names: list[str]
    splits: dict[str, Split]
    bad_files: list[tuple[str, str]] = field(default_factory=list)

    def require(self, name: str) -> Split:
        """The split called ``name``, or a UsageError listing the splits there are."""
        if name not in self.splits:
            hint = " (use a validation fraction, e.g. --val-split 0.2)" if name == "val" else ""
            raise UsageError(f"dataset '{self.ref}' has no '{name}' split; it has: "
                             f"{', '.join(self.splits) or 'none'}{hint}")
        return self.splits[name]

    def counts(self) -> dict[str, dict[str, int]]:
        """Examples per class in each split (unlabelled ones as ``"(unlabelled)"``)."""
        return {name: class_counts(split.labels, self.class_names) for name, split in self.splits.items()}

    def with_val_split(self, fraction: float, seed: int = 0) -> "LoadedDataset":
        """Hold out a stratified ``fraction`` of train as ``val`` (when there is no val yet)."""
        check_fraction(fraction)
        if "val" in self.splits:
            return self
        train = self.require("train")
        keep, held = stratified_split(train.labels, fraction, seed)
        if not len(held) or not len(keep):
            raise UsageError(f"a validation split of {fraction} leaves train or val empty with only {len(train)} "
                             f"training examples in '{self.ref}'; use a fraction that leaves both some")
        splits = {"train": train.subset(keep), "val": train.subset(held)}
        splits.update({k: v for k, v in self.splits.items() if k not in splits})
        return LoadedDataset(self.ref, list(self.class_names), splits, list(self.bad_files))


def class_counts(labels: Iterable[int], class_names: list[str]) -> dict[str, int]:
    """Examples per class name; unlabelled examples (-1) appear as ``"(unlabelled)"``."""
    labels = np.asarray(list(labels) if not isinstance(labels, np.ndarray) else labels, dtype=np.int64)
    found = np.bincount(labels[labels >= 0], minlength=len(class_names)) if len(labels) else np.zeros(len(class_names))
    result = {name: int(found[i]) for i, name in enumerate(class_names)}
    unlabelled = int((labels < 0).sum())
    if unlabelled:
        result["(unlabelled)"] = unlabelled
    return result


def check_fraction(fraction: float) -> None:
    if not 0.0 < float(fraction) < 1.0:
        raise UsageError(f"validation split must be a fraction between 0 and 1, not {fraction}")


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(keep, held)``: ``fraction`` of every class held out, chosen by ``seed``.

    Each class (unlabelled examples count as one class) gives up ``round(fraction * n)``
    of its examples, at least one when it has two or more, so that small classes still
    appear in validation. Both index arrays come back sorted.
    """
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        count = int(round(fraction * len(members)))
        if len(members) >= 2:
            count = min(max(count, 1), len(members) - 1)
        held.append(rng.permutation(members)[:count])
    held_index = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    keep_index = np.setdiff1d(np.arange(len(labels)), held_index)
    return keep_index.astype(np.int64), held_index.astype(np.int64)
