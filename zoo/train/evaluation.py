"""Scoring a model on a labelled split: accuracy, loss, per-class figures, the confusion matrix.

The keys of a score, as ``metrics.json`` and ``zoo evaluate --json`` give them:
``accuracy``, ``loss`` (mean cross-entropy), ``n`` (images scored), ``per_class_accuracy``
(recall by class name), ``per_class`` (``{name: {precision, recall, f1, support}}``),
``macro_f1`` (the unweighted mean of the F1 of every class with examples or predictions),
``top_k`` and ``top_k_accuracy`` (the true class among the ``top_k`` most probable; ``top_k``
is 5, or the number of classes when fewer), ``confusion`` (true class by row). A precision,
recall or F1 that would divide by zero is ``null``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.errors import UsageError, ZooError


def predict_probabilities(model, dataset) -> np.ndarray:
    """Class probabilities for every image of an unshuffled dataset (labels, if any, ignored)."""
    from zoo.util.interrupt import interrupt_callback

    return np.asarray(model.predict(dataset, verbose=0, callbacks=[interrupt_callback()]), dtype=np.float32)


TOP_K = 5


def score(probs: np.ndarray, labels: np.ndarray, class_names: list[str], top_k: int = TOP_K) -> dict[str, Any]:
    """Accuracy, cross-entropy loss, per-class figures, top-k accuracy and the confusion matrix.

    Refuses what would give wrong numbers rather than an error: unlabelled examples
    (label -1), labels outside the classes, and not one row of probabilities per label.
    """
    probs, labels = np.asarray(probs), np.asarray(labels)
    check_scorable(probs, labels, len(class_names))
    n = len(labels)
    k = len(class_names)
    top_k = max(1, min(int(top_k), k))
    if n == 0:
        return {"accuracy": None, "loss": None, "n": 0, "per_class_accuracy": {}, "per_class": {}, "macro_f1": None,
                "top_k": top_k, "top_k_accuracy": None, "confusion": []}
    predicted = probs.argmax(axis=1)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    picked = np.clip(probs[np.arange(n), labels], 1e-7, 1.0)
    per_class = {}
    for i, name in enumerate(class_names):
        total = confusion[i].sum()
        per_class[name] = float(confusion[i, i] / total) if total else None
    figures = per_class_figures(confusion, class_names)
    f1s = [f["f1"] for f in figures.values() if f["support"] or f["predicted"]]
    ranked = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
    return {
        "accuracy": float((predicted == labels).mean()),
        "loss": float(-np.log(picked).mean()),
        "n": int(n),
        "per_class_accuracy": per_class,
        "per_class": {name: {key: f[key] for key in ("precision", "recall", "f1", "support")}
                      for name, f in figures.items()},
        "macro_f1": float(np.mean([f or 0.0 for f in f1s])) if f1s else None,
        "top_k": top_k,
        "top_k_accuracy": float((ranked == labels[:, None]).any(axis=1).mean()),
        "confusion": confusion.tolist(),
    }


def per_class_figures(confusion: np.ndarray, class_names: list[str]) -> dict[str, dict[str, Any]]:
    """Precision, recall, F1, support (true examples) and predicted count of each class."""
    figures = {}
    for i, name in enumerate(class_names):
        hits, support, predicted = int(confusion[i, i]), int(confusion[i].sum()), int(confusion[:, i].sum())
        precision = hits / predicted if predicted else None
        recall = hits / support if support else None
        if precision is None or recall is None:
            f1 = None if precision is None and recall is None else 0.0
        else:
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        figures[name] = {"precision": precision, "recall": recall, "f1": f1, "support": support, "predicted": predicted}
    return figures


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


def evaluate(model, dataset, labels: np.ndarray, class_names: list[str], top_k: int = TOP_K) -> dict[str, Any]:
    """Score ``model`` on an unshuffled dataset whose labels, in order, are ``labels``."""
    return score(predict_probabilities(model, dataset), np.asarray(labels), class_names, top_k=top_k)
