"""``--class-weight auto|none|FILE``: how much each class's examples count in the training loss.

``auto`` weighs class ``c`` by ``n / (k * n_c)`` (``n`` training examples, ``k`` classes,
``n_c`` of class ``c``), so every class contributes as much to the loss as if the folder
were balanced; ``none`` (the default) counts every example the same. ``FILE`` is a JSON
object from class names to positive weights; classes it does not name weigh 1.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ConfigError, UsageError


def read_weights_file(value: str, where: str) -> dict[str, float]:
    """The weights a ``--class-weight FILE`` gives, checked for shape (the names are checked later)."""
    path = Path(value)
    if not path.is_file():
        raise UsageError(f"{where}: --class-weight must be auto, none or a JSON file of class weights; "
                         f"'{value}' is not a file")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid JSON ({error}); write an object such as {{\"cat\": 2.0}}") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: class weights must be a JSON object from class names to weights, "
                          "such as {\"cat\": 2.0}")
    for name, weight in data.items():
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                or weight <= 0:
            raise ConfigError(f"{path}: the weight of class '{name}' must be a number greater than 0, got {weight!r}")
    return {str(k): float(v) for k, v in data.items()}


def check_class_weight(value: str | None, where: str) -> None:
    """What can be checked before any data is loaded: the word, or the file's shape."""
    if value is not None and value not in ("auto", "none"):
        read_weights_file(value, where)


def resolve_class_weight(value: str | None, labels: Any, class_names: list[str],
                         where: str) -> dict[int, float] | None:
    """``{class index: weight}`` for ``fit``, or ``None`` for equal weights."""
    if value is None or value == "none":
        return None
    if value == "auto":
        labels = np.asarray(labels, dtype=np.int64)
        counts = np.bincount(labels[labels >= 0], minlength=len(class_names))
        total = float(counts.sum())
        return {i: total / (len(class_names) * float(c)) if c else 1.0 for i, c in enumerate(counts)}
    given = read_weights_file(value, where)
    unknown = sorted(set(given) - set(class_names))
    if unknown:
        raise UsageError(f"{where}: --class-weight file '{value}' names class '{unknown[0]}', which the dataset "
                         f"does not have (its classes: {', '.join(class_names)})")
    return {i: given.get(name, 1.0) for i, name in enumerate(class_names)}
