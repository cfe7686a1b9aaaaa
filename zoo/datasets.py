"""What a dataset loader returns, and how a dataset reference is opened.

A loader (see :class:`zoo.specs.DatasetSpec`) returns a :class:`LoadedDataset`: class
names plus splits, each split being either image files on disk or images already in
memory. Turning a split into batches for a model is :mod:`zoo.inputs`' job, so every
dataset, built-in or third-party, gets the same decode/resize/augment/cache pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

SPLITS = ("train", "val", "test")


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
        self.labels = np.asarray(self.labels, dtype=np.int64)
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

    def subset(self, index: np.ndarray) -> "Split":
        """The examples at ``index`` (in-memory and file splits only)."""
        if self.make_tf_dataset is not None:
            raise ValueError("cannot take a subset of a streamed (TFDS) split")
        return Split(
            labels=self.labels[index],
            files=[self.files[i] for i in index] if self.files is not None else None,
            images=self.images[index] if self.images is not None else None,
        )


@dataclass
class LoadedDataset:
    """A dataset ready for :mod:`zoo.inputs`: class names and named splits.

    ``bad_files`` lists ``(path, reason)`` for images that could not be read and were
    skipped while loading (``on_bad_image="skip"``).
    """

    ref: str
    class_names: list[str]
    splits: dict[str, Split]
    bad_files: list[tuple[str, str]] = field(default_factory=list)

    def split(self, name: str) -> Split | None:
        return self.splits.get(name)

    def counts(self) -> dict[str, dict[str, int]]:
        """Examples per class in each split, for ``zoo info`` and metrics."""
        result = {}
        for split_name, split in self.splits.items():
            per_class = {c: 0 for c in self.class_names}
            for label in split.labels:
                if 0 <= label < len(self.class_names):
                    per_class[self.class_names[label]] += 1
            result[split_name] = per_class
        return result
