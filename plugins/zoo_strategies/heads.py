"""The new head every strategy trains: backbone features -> class probabilities.

Built from stock Keras layers only, so ``head.keras`` loads with plain Keras
(``safe_mode=True``) and the adapter can be used without zoo. The last layer is kept
in float32 under mixed precision, as Keras advises for the softmax.
"""

from __future__ import annotations


def make_head(feature_dim: int, num_classes: int, *, units: int = 0, dropout: float = 0.0, name: str = "head"):
    import keras

    features = keras.Input((feature_dim,), name="features")
    x = features
    if units:
        if dropout:
            x = keras.layers.Dropout(dropout, name="head_dropout_in")(x)
        x = keras.layers.Dense(units, activation="relu", name="head_hidden")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="classifier")(x)
    return keras.Model(features, outputs, name=name)


def compile_classifier(model, lr: float) -> None:
    import keras

    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
