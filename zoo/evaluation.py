"""Scoring a model on a labelled split, and the plots a run leaves behind."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import UsageError, ZooError
from zoo.fileio import atomic_write_bytes, atomic_write_text


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


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def _pyplot():
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(fig, path: Path) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    atomic_write_bytes(path, buffer.getvalue())


def plot_curves(path: Path, rows: list[dict[str, Any]], title: str = "") -> None:
    """Loss and accuracy per epoch, train and validation, phases one after another."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    x = np.arange(1, len(rows) + 1)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            values = [row.get(key) for row in rows]
            if any(v is not None for v in values):
                ax.plot(x, [np.nan if v is None else v for v in values], style, marker="o", markersize=3,
                        label="validation" if key.startswith("val_") else "train")
        phases = [row.get("phase") for row in rows]
        for i in range(1, len(phases)):
            if phases[i] != phases[i - 1]:
                ax.axvline(i + 0.5, color="grey", linewidth=0.8, linestyle=":")
                ax.text(i + 0.6, ax.get_ylim()[1], str(phases[i]), va="top", fontsize=8, color="grey")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    _save_figure(fig, path)
    plt.close(fig)


def plot_confusion(path: Path, confusion: list[list[int]], class_names: list[str], title: str = "") -> None:
    plt = _pyplot()
    matrix = np.asarray(confusion)
    size = max(4.0, 0.45 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(class_names) <= 30:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (i, j), value in np.ndenumerate(matrix):
            ax.text(j, i, str(value), ha="center", va="center", fontsize=8,
                    color="white" if value > threshold else "black")
    ax.set_title(title or "confusion matrix")
    _save_figure(fig, path)
    plt.close(fig)
