"""``--normalization``: which pixel scaling sits in front of the backbone.

``backbone`` keeps the backbone's own preprocessing, which is what pretrained weights
expect. The others replace it, which makes sense for a backbone trained from scratch:
``unit`` scales to [0, 1], ``symmetric`` to [-1, 1] (normalisation), and
``standardize`` gives every channel zero mean and unit variance using statistics of the
training images (standardisation). The statistics are recorded in the run's config so
loading rebuilds the same input layer.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

REPLACEMENT_MODES = {"unit": "unit", "symmetric": "tf"}


def channel_statistics(split, image_size: int, channels: int, batch_size: int) -> tuple[list[float], list[float]]:
    from zoo.data.tfdata import make_tf_dataset

    total = np.zeros(channels, np.float64)
    total_sq = np.zeros(channels, np.float64)
    count = 0
    for images, _ in make_tf_dataset(split, image_size=image_size, channels=channels, batch_size=batch_size,
                                     cache=False):
        pixels = np.asarray(images, np.float64).reshape(-1, channels)
        total += pixels.sum(axis=0)
        total_sq += (pixels ** 2).sum(axis=0)
        count += len(pixels)
    mean = total / max(count, 1)
    variance = np.maximum(total_sq / max(count, 1) - mean ** 2, 1e-6)
    return mean.tolist(), variance.tolist()


def build_normalized_backbone(spec, *, weights, input_size, mode: str = "backbone", train=None,
                              record: dict[str, Any] | None = None, catalog=None, batch_size: int = 64,
                              recorded: dict[str, Any] | None = None):
    """Build the backbone with the requested input scaling; returns (built, record for config.json).

    For ``standardize`` the statistics come from ``record`` when given (loading a run),
    else from the ``train`` split. ``recorded`` is the backbone entry of the run whose
    pinned files to build from (see :func:`zoo.backbone.build.build_backbone`).
    """
    from zoo.backbone.build import build_backbone

    mode = (record or {}).get("mode", mode)
    if mode == "backbone":
        return build_backbone(spec, weights=weights, input_size=input_size, catalog=catalog,
                              recorded=recorded), {"mode": "backbone"}
    if mode in REPLACEMENT_MODES:
        replaced = dataclasses.replace(spec, preprocessing=REPLACEMENT_MODES[mode])
        built = build_backbone(replaced, weights=weights, input_size=input_size, catalog=catalog, recorded=recorded)
        return built, {"mode": mode}
    if mode != "standardize":
        raise ValueError(f"unknown normalization {mode!r}")
    import keras

    built = build_backbone(dataclasses.replace(spec, preprocessing="none"), weights=weights,
                           input_size=input_size, catalog=catalog, recorded=recorded)
    if record is not None:
        mean, variance = record["mean"], record["variance"]
    else:
        mean, variance = channel_statistics(train, built.input_size, spec.channels, batch_size)
    inputs = keras.Input(built.model.input_shape[1:], name="image")
    scaled = keras.layers.Normalization(mean=mean, variance=variance, name="standardize")(inputs)
    model = keras.Model(inputs, built.model(scaled), name=built.model.name)
    return dataclasses.replace(built, model=model), {"mode": "standardize", "mean": mean, "variance": variance}
