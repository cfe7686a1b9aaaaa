"""``backbone.delta.npz``: only the backbone variables a run changed, keyed by variable path.

A fine-tuned ResNet50 run stores its last stage, not 98 MB of weights the registry can
fetch again; the file is plain arrays, loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import ZooError


def backbone_variables(backbone_model) -> dict[str, Any]:
    """Every variable of the backbone (trainable or not) by its path."""
    variables = {}
    for variable in backbone_model.weights:
        if variable.path in variables:
            raise ZooError(f"backbone variable path {variable.path!r} is not unique; cannot save a delta")
        variables[variable.path] = variable
    return variables


def snapshot(backbone_model) -> dict[str, np.ndarray]:
    return {path: np.array(v.numpy(), copy=True) for path, v in backbone_variables(backbone_model).items()}


def changed_variables(backbone_model, before: dict[str, np.ndarray] | None, always: set[str] = frozenset()) -> dict[str, np.ndarray]:
    """Values of the variables that differ from ``before`` (all of them when it is None)."""
    delta = {}
    for path, variable in backbone_variables(backbone_model).items():
        value = np.asarray(variable.numpy())
        if before is None or path in always or not np.array_equal(value, before[path]):
            delta[path] = value
    return delta


def save_delta(path: Path, delta: dict[str, np.ndarray]) -> None:
    # keys are variable paths ("resnet50/conv5_block3_2_conv/kernel"); npz keys cannot hold "/" portably
    np.savez(path, **{f"v{i}": value for i, value in enumerate(delta.values())},
             __paths__=np.array(list(delta.keys()), dtype=np.str_))


def load_delta(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        paths = [str(p) for p in data["__paths__"]]
        return {p: data[f"v{i}"] for i, p in enumerate(paths)}


def apply_delta(backbone_model, delta: dict[str, np.ndarray], source: str = "delta") -> None:
    variables = backbone_variables(backbone_model)
    for path, value in delta.items():
        if path not in variables:
            raise ZooError(f"{source}: the backbone has no variable {path!r}; the adapter was made for another backbone")
        if tuple(variables[path].shape) != value.shape:
            raise ZooError(f"{source}: variable {path!r} has shape {value.shape}, the backbone expects {tuple(variables[path].shape)}")
        variables[path].assign(value)
