"""Views of a split a stage trains on: K labelled examples per class, or no labels at all.

Blanking happens here, in the core, so a strategy can never see the target's labels.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

from zoo.errors import UsageError


def few_shot(split, shots: int, seed: int, ref: str, class_names: list[str]):
    """``shots`` examples of every class, drawn with ``seed`` (the K-shot target setting)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    chosen = []
    for label, name in enumerate(class_names):
        members = np.flatnonzero(split.labels == label)
        if len(members) < shots:
            raise UsageError(f"--shots {shots}: class '{name}' of '{ref}' has only {len(members)} training "
                             f"image{'s' if len(members) != 1 else ''}; use fewer shots")
        chosen.extend(rng.choice(members, shots, replace=False))
    return split.subset(np.sort(np.asarray(chosen, dtype=np.int64)))


def unlabelled(split):
    """``split`` with every label blanked (-1), streamed ones included: what a strategy
    gets of the target, so that it cannot train on the target's labels."""
    import numpy as np

    from zoo.data.records import Split

    if split is None:
        return None
    blank = np.full(len(split), -1, dtype=np.int64)
    if split.make_tf_dataset is not None:
        return Split(labels=blank, make_tf_dataset=functools.partial(_blank_stream, split.make_tf_dataset))
    return dataclasses.replace(split, labels=blank)


def _blank_stream(make: Callable[[], Any]):
    """The elements of ``make()`` with label -1 (TensorFlow imported here, on use)."""
    import tensorflow as tf

    return make().map(lambda image, label: (image, tf.constant(-1, dtype=tf.int64)))
