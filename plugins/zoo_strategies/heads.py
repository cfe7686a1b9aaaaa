"""The new head every strategy trains: backbone features -> class probabilities.

Built from stock Keras layers only, so ``head.keras`` loads with plain Keras
(``safe_mode=True``) and the adapter can be used without zoo. The last layer is kept
in float32 under mixed precision, as Keras advises for the softmax.

With ``standardise=True`` (feature extraction, fine-tuning) the head starts with a
Keras ``Normalization`` layer holding the training features' mean and variance
(:func:`set_standardisation`): the head then takes the backbone's features as they are,
and its dropout drops standardised values in every phase alike.
"""

from __future__ import annotations

STANDARDISE = "standardise"


def make_head(feature_dim: int, num_classes: int, *, units: int = 0, dropout: float = 0.0, name: str = "head",
              standardise: bool = False):
    import keras

    features = keras.Input((feature_dim,), name="features")
    x = keras.layers.Normalization(axis=-1, name=STANDARDISE)(features) if standardise else features
    if units:
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout_in")(x)
        x = keras.layers.Dense(units, activation="relu", name="head_hidden")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="classifier")(x)
    return keras.Model(features, outputs, name=name)


def compile_classifier(model, lr: float, steps_per_execution: int = 1) -> None:
    """Adam on sparse categorical cross-entropy; ``steps_per_execution`` > 1 runs that many steps in one
    call (a head on cached features: its steps are so cheap that the per-call cost would dominate)."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)


def standardisation_layer(head):
    """The head's ``Normalization`` layer, or None for a head made without one."""
    try:
        return head.get_layer(STANDARDISE)
    except ValueError:
        return None


def set_standardisation(head, mean, variance) -> bool:
    """Put the features' statistics into the head; whether it has the layer for them."""
    import numpy as np

    layer = standardisation_layer(head)
    if layer is None:
        return False
    count = layer.get_weights()[2]
    layer.set_weights([np.asarray(mean, np.float32), np.asarray(variance, np.float32), count])
    layer.finalize_state()
    return True


def refresh_standardisation(head) -> None:
    """After ``set_weights`` (a checkpoint restored): Keras' Normalization computes with copies it
    takes in ``finalize_state``."""
    layer = standardisation_layer(head)
    if layer is not None:
        layer.finalize_state()
