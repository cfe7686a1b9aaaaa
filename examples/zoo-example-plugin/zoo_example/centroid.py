"""The ``nearest-centroid`` strategy: no gradient descent at all.

Each class is the mean of its training images' (L2-normalised) backbone features; an
image belongs to the class whose mean is closest in angle. That fits in stock Keras
layers (a unit normalisation and a bias-free Dense whose kernel holds the centroids), so
the adapter is an ordinary ``head.keras`` that zoo evaluates, exports and pushes like
any other.
"""

from __future__ import annotations

import numpy as np

from zoo.api import TrainJob, TrainOutcome


def centroids(features: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    unit = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    means = np.stack([unit[labels == c].mean(axis=0) for c in range(num_classes)])
    return means / np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)


def train(job: TrainJob) -> TrainOutcome:
    import keras

    job.backbone.model.trainable = False
    features = job.backbone.model.predict(job.make_dataset(job.train), verbose=0)
    missing = sorted(set(range(job.num_classes)) - set(job.train.labels.tolist()))
    if missing:
        from zoo.api import UsageError

        raise UsageError(f"nearest-centroid needs training images of every class; none for {missing}")
    means = centroids(np.asarray(features, np.float32), job.train.labels, job.num_classes)
    inputs = keras.Input((job.backbone.feature_dim,), name="features")
    unit = keras.layers.UnitNormalization(name="unit")(inputs)
    scores = keras.layers.Dense(job.num_classes, use_bias=False, name="centroids")(unit)
    outputs = keras.layers.Softmax(dtype="float32", name="probabilities")(scores)
    head = keras.Model(inputs, outputs, name="head")
    head.get_layer("centroids").set_weights([(means * float(job.options["temperature"])).T])
    train_accuracy = float((head.predict(features, verbose=0).argmax(axis=1) == job.train.labels).mean())
    job.log(f"nearest-centroid: {job.num_classes} centroids, training accuracy {train_accuracy:.3f}")
    return TrainOutcome(head=head, history=[{"phase": "centroids", "epoch": 1, "accuracy": train_accuracy}])
