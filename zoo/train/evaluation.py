"""Scoring a model on a labelled split: accuracy, loss, per-class figures, the confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.errors import UsageError, ZooError


def predict_probabilities(model, dataset) -> np.ndarray:
    """Class probabilities for every image of an unshuffled dataset (labels, if any, ignored)."""
    return np.asarray(model.predict(dataset, verbose=0), dtype=np.float32)


def score(probs: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """Accuracy, cross-entropy loss, per-class accuracy and the confusion matrix.

    Refuses what would give wrong numbers rather than an error: unlabelled examples
    (label -1), labels outside the classes, and not one row of probabilities per label.
    """
    probs, labels = np.asarray(probs), np.asarray(labels)
    check_scorable(probs, labels, len(class_names))
    n = len(labels)
    if n == 0:
        return {"accuracy": None, "loss": None, "n": 0, "per_class_accuracy": {}, "confusion": []}
    predicted = probs.argmax(axis=1)
    k = len(class_names)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    picked = np.clip(probs[np.arange(n), labels], 1e-7, 1.0)
    per_class = {}
    for i, name in enumerate(class_names):
        total = confusion[i].sum()
        per_class[name] = float(confusion[i, i] / total) if total else None
    return {
        "accuracy": float((predicted == labels).mean()),
        "loss": float(-np.log(picked).mean()),
        "n": int(n),
        "per_class_accuracy": per_class,
        "confusion": confusion.tolist(),
    }


def check_scorable(probs: np.ndarray, labels: np.ndarray, num_classes: int) -> None:
    """Raise, in one line, why ``probs`` and ``labels`` cannot be scored together."""
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ZooError(f"cannot score: labels must be class numbers, one per example (got {labels.dtype} "
                       f"of shape {labels.shape})")
    if len(probs) != len(labels):
        raise ZooError(f"cannot score: {len(probs)} predictions for {len(labels)} labels; "
                       "each example needs exactly one prediction, in order")
    if len(probs) and (probs.ndim != 2 or probs.shape[1] != num_classes):
        raise ZooError(f"cannot score: predictions of shape {probs.shape} for {num_classes} classes")
    unlabelled = int((labels < 0).sum())
    if unlabelled:
        raise UsageError(f"cannot score: {unlabelled} of {len(labels)} examples have no label (negative, e.g. -1); "
                         "score a labelled split")
    outside = labels[labels >= num_classes]
    if len(outside):
        raise UsageError(f"cannot score: label {int(outside[0])} is not one of the {num_classes} classes "
                         f"(0 to {num_classes - 1}); score data with the model's classes")


def evaluate(model, dataset, labels: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    """Score ``model`` on an unshuffled dataset whose labels, in order, are ``labels``."""
    return score(predict_probabilities(model, dataset), np.asarray(labels), class_names)
