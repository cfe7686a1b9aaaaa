"""The images an export is checked on, and the ones int8 quantization is calibrated on.

Both come from the run's own training data, loaded and split exactly as in training
(its ``config.json`` records the dataset, the validation fraction and the seed): held-out
images to check on, training images to calibrate on. ``--calibration DATASET`` names
other data for both. When the run's data is not on this machine (an adapter pulled from a
hub records only the dataset's name), a float export is checked on seeded random pixels
instead, which say so; int8 needs real images and is refused.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.errors import UsageError, ZooError


@dataclass
class Samples:
    check: np.ndarray  # float32 (N, S, S, C) in [0, 255]
    source: str
    calibration: np.ndarray | None = None
    calibration_source: str | None = None
    note: str | None = None  # said to the user when the run's own data was not used


def pixels(split, count: int, image_size: int, channels: int, seed: int = 0) -> np.ndarray:
    """Up to ``count`` examples of ``split`` (drawn by ``seed``) as zoo's pipeline prepares them."""
    from zoo.data.tfdata import make_tf_dataset

    if len(split) > count:
        index = np.sort(np.random.default_rng(seed).choice(len(split), size=count, replace=False))
        split = split.subset(index)
    batches = make_tf_dataset(split, image_size=image_size, channels=channels, batch_size=64, cache=False)
    return np.concatenate([np.asarray(images) for images, _ in batches], axis=0).astype("float32")


def export_samples(loaded, calibration: str | None, *, calibrate: bool, check: int, calibration_count: int,
                   catalog=None) -> Samples:
    from zoo.data.loading import load_dataset

    training = loaded.run.config.get("training") or {}
    own = training.get("dataset")
    ref = calibration or own
    size, channels = int(loaded.backbone.input_size), int(loaded.backbone.spec.channels)
    data, why = None, None
    if ref:
        try:
            data = load_dataset(ref, catalog=catalog, seed=training.get("seed", 0),
                                val_split=(training.get("val_split") or None) if ref == own else None)
        except (UsageError, ZooError) as exc:
            if calibration:
                raise
            why = str(exc)
    else:
        why = "the run records no dataset"
    if data is None:
        if calibrate:
            raise UsageError(f"int8 quantization is calibrated on the run's training images, but {why}; "
                             "pass --calibration DATASET (images like the ones the model will see)")
        rng = np.random.default_rng(0)
        return Samples(check=rng.uniform(0, 255, (8, size, size, channels)).astype("float32"),
                       source="seeded random pixels",
                       note=f"checking the export on random pixels: {why}; pass --calibration DATASET to check it on "
                            "real images")
    held_out = next((name for name in ("test", "val", "train") if data.splits.get(name) is not None
                     and len(data.splits[name])), None)
    if held_out is None:
        raise UsageError(f"dataset '{ref}' has no images to check the export on")
    samples = Samples(check=pixels(data.splits[held_out], check, size, channels),
                      source=f"{held_out} split of {_public(ref)}")
    if calibrate:
        train = data.splits.get("train")
        if train is None or not len(train):
            raise UsageError(f"dataset '{ref}' has no training images to calibrate int8 quantization on; "
                             "pass --calibration DATASET")
        samples.calibration = pixels(train, calibration_count, size, channels, seed=1)
        samples.calibration_source = f"{len(samples.calibration)} images of the train split of {_public(ref)}"
    return samples


def _public(ref: str) -> str:
    """The dataset's name without a local path (``folder:/data/pets`` -> ``folder:pets``), as the hub sees it."""
    from zoo.run.hub import shareable_config

    return shareable_config({"dataset": ref})["dataset"]
