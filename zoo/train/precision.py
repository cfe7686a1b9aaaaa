"""``--precision``: the Keras dtype policy a run trains under, and float32 artifacts after it.

Mixed precision is a way to train faster, not a property of the result: variables
stay float32 throughout, and the head a run saves is rebuilt with float32 layers, so
an adapter trained in ``mixed_bfloat16`` loads and predicts in float32 like any other.
"""

from __future__ import annotations

import contextlib
from typing import Iterator


@contextlib.contextmanager
def precision_policy(name: str) -> Iterator[None]:
    """Set Keras' global dtype policy for the run, and put the old one back after."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_copy(model):
    """``model`` with every layer computing in float32 and the same weights (itself if it already does)."""
    import keras

    if all(layer.dtype_policy.name == "float32" for layer in _layers(model)):
        return model

    def float32_layer(layer):
        if isinstance(layer, keras.Model):
            return float32_copy(layer)
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=float32_layer)
    copy.set_weights(model.get_weights())
    return copy


def _layers(model):
    return model._flatten_layers(include_self=False, recursive=True)
