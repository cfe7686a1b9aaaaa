"""Pixel preprocessing: one definition per mode, as a function and as Keras layers.

Every mode is the same affine map, ``(maybe_bgr(x) - mean) / std`` per channel, on RGB
pixels in [0, 255]. Keeping the constants in one table means the numpy/tensor function
(used by data pipelines) and the layers (put inside exported models) cannot drift apart.
The layers are Keras built-ins only, so an exported model loads with plain Keras.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zoo.errors import UsageError
from zoo.plugin.specs import PREPROCESSING_MODES

MODES = PREPROCESSING_MODES


@dataclass(frozen=True)
class Affine:
    """``out[..., c] = (in[..., order[c]] - mean[c]) / std[c]`` for RGB input in [0, 255]."""

    bgr: bool
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    per_channel: bool  # whether the constants differ between channels (needs exactly 3)


AFFINE: dict[str, Affine] = {
    # Keras VGG / ResNet v1: RGB->BGR, minus the ImageNet mean in BGR order, no scaling.
    "caffe": Affine(True, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0), True),
    # torchvision: x/255, minus mean (0.485, 0.456, 0.406), over std (0.229, 0.224, 0.225),
    # written on the [0, 255] scale so one subtraction and one division do it.
    "torch": Affine(False, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375), True),
    # Keras ResNet v2 / Inception: [-1, 1].
    "tf": Affine(False, (127.5, 127.5, 127.5), (127.5, 127.5, 127.5), False),
    # TF Hub image convention: [0, 1].
    "unit": Affine(False, (0.0, 0.0, 0.0), (255.0, 255.0, 255.0), False),
    # The backbone scales its own input: it gets float32 pixels in [0, 255], unchanged.
    "none": Affine(False, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), False),
}


def affine(mode: str, channels: int = 3) -> Affine:
    if mode not in AFFINE:
        raise UsageError(f"unknown preprocessing mode {mode!r}; use one of {', '.join(MODES)}")
    spec = AFFINE[mode]
    if spec.per_channel and channels != 3:
        raise UsageError(f"preprocessing '{mode}' needs RGB input (3 channels), got {channels}; "
                         f"use 'tf', 'unit' or 'none' for {channels}-channel backbones")
    return spec


def preprocess(images: Any, mode: str) -> Any:
    """RGB floats in [0, 255] -> model input, for numpy arrays or TensorFlow tensors.

    Numpy in, float32 numpy out (TensorFlow is not imported); anything else is treated
    as a tensor and stays one, so the function works inside ``tf.data.Dataset.map``.
    ``none`` only makes the pixels float32: they stay in [0, 255], values unchanged.
    """
    import numpy as np

    channels = int(images.shape[-1])
    spec = affine(mode, channels)
    if isinstance(images, np.ndarray):
        x = images.astype("float32", copy=False)
    else:
        import tensorflow as tf

        x = tf.cast(images, tf.float32)
    if mode == "none":
        return x
    mean = np.asarray(spec.mean[:channels] if spec.per_channel else spec.mean[:1], dtype="float32")
    std = np.asarray(spec.std[:channels] if spec.per_channel else spec.std[:1], dtype="float32")
    if spec.bgr:
        x = x[..., ::-1] if isinstance(x, np.ndarray) else tf.reverse(x, axis=[-1])
    return (x - mean) / std


def preprocessing_layers(mode: str, channels: int = 3, name: str = "preprocess") -> list:
    """Built-in Keras layers doing ``preprocess(x, mode)``, always in float32.

    ``none`` needs no layer: the model's float32 input already holds the pixels in [0, 255].

    ``caffe`` needs a channel swap, which no scaling layer can do: a frozen 1x1 Conv2D
    with a permutation kernel and the negative mean as bias does swap and shift at once.
    Callers that unfreeze "everything" should unfreeze the base model, not these layers.
    """
    spec = affine(mode, channels)
    if mode == "none":
        return []
    import keras
    import numpy as np

    if mode == "caffe":
        conv = keras.layers.Conv2D(3, 1, name=f"{name}_caffe", dtype="float32", trainable=False)
        conv.build((None, None, None, 3))
        kernel = np.zeros((1, 1, 3, 3), dtype="float32")
        for out_channel in range(3):
            kernel[0, 0, 2 - out_channel, out_channel] = 1.0  # BGR output channel c reads RGB input 2 - c
        conv.set_weights([kernel, -np.asarray(spec.mean, dtype="float32")])
        return [conv]
    if mode == "torch":
        variance = [s * s for s in spec.std]
        return [keras.layers.Normalization(mean=list(spec.mean), variance=variance, name=f"{name}_torch",
                                           dtype="float32")]
    return [keras.layers.Rescaling(1.0 / spec.std[0], offset=-spec.mean[0] / spec.std[0], name=f"{name}_{mode}",
                                   dtype="float32")]


def apply_layers(layers: list, x: Any) -> Any:
    for layer in layers:
        x = layer(x)
    return x
