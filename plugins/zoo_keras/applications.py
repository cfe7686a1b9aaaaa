"""Keras Applications as headless, globally pooled backbones."""

from __future__ import annotations

from pathlib import Path

from zoo.api import BackboneSpec, ConfigError

POOLING = ("avg", "max")


def build(spec: BackboneSpec, *, weights: Path | None, input_size: int):
    """``keras.applications.<spec.model>`` without its top, pooled to one vector per image.

    Options: ``pooling`` = ``"avg"`` (default) or ``"max"``.
    """
    import keras

    from zoo.api import load_weights_file

    constructor = getattr(keras.applications, spec.model, None)
    if constructor is None or not callable(constructor):
        raise ConfigError(f"backbone '{spec.name}' ({spec.origin}): keras.applications has no model "
                          f"{spec.model!r}; fix its 'model' field")
    pooling = spec.option("pooling", "avg")
    if pooling not in POOLING:
        raise ConfigError(f"backbone '{spec.name}' ({spec.origin}): option pooling must be one of "
                          f"{', '.join(POOLING)}, got {pooling!r}")
    model = constructor(include_top=False, weights=None, input_shape=(input_size, input_size, spec.channels),
                        pooling=pooling)
    if weights is not None:
        load_weights_file(model, weights, what=f"backbone '{spec.name}'")
    return model
