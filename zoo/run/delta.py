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


HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def check_plain_arrays(path: Path) -> None:
    """Refuse an ``.npz`` holding any object array, read from the array headers alone.

    ``allow_pickle=False`` would stop NumPy from unpickling it too, but with words that
    suggest turning that off; zoo says why it never will, before NumPy reads a byte of data.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                with archive.open(member) as handle:
                    version = np.lib.format.read_magic(handle)
                    read_header = HEADER_READERS.get(version)
                    if read_header is None:
                        raise ValueError(f"{member}: .npy format version {version}, which zoo does not read")
                    dtype = read_header(handle)[2]
                if dtype.hasobject:
                    raise ZooError(f"{path} holds a pickled object array ({member.removesuffix('.npy')!r}), which "
                                   "zoo never loads: unpickling runs arbitrary code")
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise ZooError(f"{path}: not a readable .npz file ({exc})") from None


def load_delta(path: Path) -> dict[str, np.ndarray]:
    check_plain_arrays(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            paths = [str(p) for p in data["__paths__"]]
            return {p: data[f"v{i}"] for i, p in enumerate(paths)}
    except (KeyError, ValueError, OSError) as exc:
        raise ZooError(f"{path}: not a backbone delta zoo wrote ({exc})") from None


def apply_delta(backbone_model, delta: dict[str, np.ndarray], source: str = "delta") -> None:
    variables = backbone_variables(backbone_model)
    for path, value in delta.items():
        if path not in variables:
            raise ZooError(f"{source}: the backbone has no variable {path!r}; the adapter was made for another backbone")
        if tuple(variables[path].shape) != value.shape:
            raise ZooError(f"{source}: variable {path!r} has shape {value.shape}, the backbone expects {tuple(variables[path].shape)}")
        variables[path].assign(value)
