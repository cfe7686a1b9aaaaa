"""AlexNet, defined by zoo: no Keras, KerasHub or TF Hub source publishes one.

The layout is the single-tower AlexNet of Krizhevsky's "One weird trick" (2014), the
one torchvision ships: five convolutions (64, 192, 384, 256, 256 filters; 11x11/4,
5x5, 3x3, 3x3, 3x3) with overlapping 3x3/2 max pooling after conv1, conv2 and conv5,
then two 4096-unit dense layers with dropout. The third dense layer (the classifier)
is the new head a strategy adds, so the backbone ends at fc7. The 2012 paper's local
response normalisation has no Keras built-in layer and is left out; ``batchnorm``
adds BatchNormalization after every convolution and dense layer instead.

An adaptive average pool before fc6 gives the paper's 6x6 grid at 224 pixels and
lets any size from the minimum up work. No ImageNet weights are published for this
layout in Keras: train from scratch, or give ``--weights FILE``.

Options (the registry entry's ``options`` table):

``filters``       five conv widths, default ``[64, 192, 384, 256, 256]``
``width``         multiplier for the conv widths, default 1.0
``fc_units``      units of fc6 and fc7 (the feature size), default 4096
``stem_kernel``, ``stem_stride``, ``stem_padding``  conv1, default 11, 4, 2
``pool_grid``     the adaptive pool's output grid before fc6, default 6
``batchnorm``     default false
``dropout``       before fc6 and fc7, default 0.5
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.api import BackboneSpec, ConfigError

STAGES = ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7")
CLASSIC_FILTERS = (64, 192, 384, 256, 256)
CONV_KERNELS = (None, 5, 3, 3, 3)  # conv1's comes from the stem options
POOLED = (True, True, False, False, True)  # 3x3/2 max pooling after conv1, conv2, conv5


@dataclass(frozen=True)
class AlexNetConfig:
    filters: tuple[int, ...] = CLASSIC_FILTERS
    fc_units: int = 4096
    stem_kernel: int = 11
    stem_stride: int = 4
    stem_padding: int = 2
    pool_grid: int = 6
    batchnorm: bool = False
    dropout: float = 0.5

    @classmethod
    def from_spec(cls, spec: BackboneSpec) -> "AlexNetConfig":
        options: dict[str, Any] = dict(spec.options)
        known = {"filters", "width", "fc_units", "stem_kernel", "stem_stride", "stem_padding", "pool_grid",
                 "batchnorm", "dropout"}
        where = f"backbone '{spec.name}' ({spec.origin}): options"
        for key in options:
            if key not in known:
                raise ConfigError(f"{where}: unknown option '{key}'; known: {', '.join(sorted(known))}")
        filters = options.get("filters", list(CLASSIC_FILTERS))
        width = options.get("width", 1.0)
        if not (isinstance(filters, list) and len(filters) == 5 and all(isinstance(f, int) and f > 0 for f in filters)):
            raise ConfigError(f"{where}: filters must be five positive integers, got {filters!r}")
        if not isinstance(width, (int, float)) or isinstance(width, bool) or width <= 0:
            raise ConfigError(f"{where}: width must be a positive number, got {width!r}")
        ints = {}
        for key, default in (("fc_units", 4096), ("stem_kernel", 11), ("stem_stride", 4), ("stem_padding", 2),
                             ("pool_grid", 6)):
            value = options.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "stem_padding" else 1):
                raise ConfigError(f"{where}: {key} must be a positive integer, got {value!r}")
            ints[key] = value
        batchnorm = options.get("batchnorm", False)
        if not isinstance(batchnorm, bool):
            raise ConfigError(f"{where}: batchnorm must be true or false, got {batchnorm!r}")
        dropout = options.get("dropout", 0.5)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ConfigError(f"{where}: dropout must be in [0, 1), got {dropout!r}")
        return cls(filters=tuple(max(1, round(f * width)) for f in filters), batchnorm=batchnorm,
                   dropout=float(dropout), **ints)

    @property
    def min_input_size(self) -> int:
        """Smallest image that still leaves one pixel after the third max pooling.

        Each 3x3/2 pool needs 3 pixels in: 1 after pool5 <- 3 after pool2 <- 7 after
        pool1 <- 15 out of conv1 (the other convolutions keep their size).
        """
        return max(1, 14 * self.stem_stride + self.stem_kernel - 2 * self.stem_padding)


def build(spec: BackboneSpec, *, weights: Path | None, input_size: int):
    """The headless AlexNet (conv1..conv5, fc6, fc7) as a functional Keras model."""
    import keras
    from keras import layers

    from zoo.api import load_weights_file

    config = AlexNetConfig.from_spec(spec)
    if input_size < config.min_input_size:
        raise ConfigError(f"backbone '{spec.name}': its options need input size >= {config.min_input_size}, "
                          f"got {input_size}; raise min_input_size in its registry entry")
    use_bias = not config.batchnorm

    def activate(x, stage):
        if config.batchnorm:
            x = layers.BatchNormalization(name=f"{stage}_bn")(x)
        return layers.ReLU(name=f"{stage}_relu")(x)

    inputs = keras.Input((input_size, input_size, spec.channels), name="image")
    x = inputs
    for index, filters in enumerate(config.filters):
        stage = STAGES[index]
        if index == 0:
            if config.stem_padding:
                x = layers.ZeroPadding2D(config.stem_padding, name="conv1_pad")(x)
            x = layers.Conv2D(filters, config.stem_kernel, strides=config.stem_stride, padding="valid",
                              use_bias=use_bias, kernel_initializer="he_uniform", name="conv1_conv")(x)
        else:
            x = layers.Conv2D(filters, CONV_KERNELS[index], padding="same", use_bias=use_bias,
                              kernel_initializer="he_uniform", name=f"{stage}_conv")(x)
        x = activate(x, stage)
        if POOLED[index]:
            x = layers.MaxPooling2D(3, strides=2, name=f"{stage}_pool")(x)
    x = adaptive_average_pool(x, config.pool_grid, name="conv5_grid")
    x = layers.Flatten(name="fc6_flatten")(x)
    for stage in ("fc6", "fc7"):
        if config.dropout:
            x = layers.Dropout(config.dropout, name=f"{stage}_dropout")(x)
        x = layers.Dense(config.fc_units, use_bias=use_bias, kernel_initializer="he_uniform",
                         name=f"{stage}_dense")(x)
        x = activate(x, stage)
    model = keras.Model(inputs, x, name=spec.name.replace(":", "_") or "alexnet")
    if weights is not None:
        load_weights_file(model, weights, what=f"backbone '{spec.name}'")
    return model


def adaptive_average_pool(x, grid: int, name: str):
    """Average pooling to a ``grid`` x ``grid`` output, like torch's AdaptiveAvgPool2d.

    Keras 3.15's AdaptiveAveragePooling2D fails in graph mode for a 1x1 output or a
    1x1 input, so those two cases use the layers that compute the same thing.
    """
    from keras import layers

    if grid == 1:
        return layers.GlobalAveragePooling2D(keepdims=True, name=name)(x)
    if x.shape[1] == 1 and x.shape[2] == 1:
        return layers.UpSampling2D(grid, name=name)(x)
    return layers.AdaptiveAveragePooling2D(grid, name=name)(x)
