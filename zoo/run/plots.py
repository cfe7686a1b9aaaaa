"""The pictures and tables a run leaves: history.csv, curves.png, confusion.png (also in TensorBoard).

Written headless (matplotlib's Agg) and atomically, like every run file.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo.util.files import atomic_write_bytes, atomic_write_text


def write_history(path: Path, rows: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def pyplot():
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def save_figure(fig, path: Path) -> None:
    atomic_write_bytes(path, figure_png(fig))


def plot_curves(path: Path, rows: list[dict[str, Any]], title: str = "") -> None:
    """Loss and accuracy per epoch, train and validation, phases one after another."""
    plt = pyplot()
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
    save_figure(fig, path)
    plt.close(fig)


def plot_confusion(path: Path, confusion: list[list[int]], class_names: list[str], title: str = "") -> None:
    atomic_write_bytes(path, confusion_png(confusion, class_names, title))


def confusion_png(confusion: list[list[int]], class_names: list[str], title: str = "") -> bytes:
    """The confusion matrix as a PNG: true classes down, predicted across, counts in the cells."""
    plt = pyplot()
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
    png = figure_png(fig)
    plt.close(fig)
    return png
