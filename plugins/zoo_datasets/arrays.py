"""``npz:PATH``: images held in a NumPy ``.npz`` file.

Arrays: ``x`` (N,H,W) or (N,H,W,C) and ``y`` (N,) class indices (or one-hot (N,K));
optional ``x_val``/``y_val`` and ``x_test``/``y_test``, and ``class_names`` (strings);
any other array is an error (a misspelt name would otherwise drop a split unseen).
A split whose ``y`` is missing is unlabelled (labels -1), which suits a domain
adaptation target. Grayscale images get three channels; float images in [0, 1] are
scaled to [0, 255]. The file is opened with ``allow_pickle=False``: an ``.npz`` never
runs code, and one holding object arrays, or not an ``.npz`` at all, is a UsageError
naming the file and what is wrong with it.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from zoo.api import LoadedDataset, Split, UsageError, check_on_bad_image, class_counts

SPLIT_KEYS = {"train": ("x", "y"), "val": ("x_val", "y_val"), "test": ("x_test", "y_test")}
KNOWN_KEYS = {key for pair in SPLIT_KEYS.values() for key in pair} | {"class_names"}


def _path(argument: str | None) -> Path:
    if not argument:
        raise UsageError("dataset 'npz' needs a path: write npz:PATH")
    path = Path(argument).expanduser()
    if not path.is_file():
        raise UsageError(f"npz file '{argument}' does not exist")
    return path


NOT_NPZ = "save the arrays with numpy.savez(PATH, x=images, y=labels)"


def _open(path: Path):
    """The file as an ``NpzFile``, or a UsageError saying what it is instead."""
    try:
        archive = np.load(path, allow_pickle=False)
    except zipfile.BadZipFile as exc:
        raise UsageError(f"'{path}' is not a valid .npz file: a damaged zip archive ({exc}); {NOT_NPZ}") from None
    except ValueError:  # neither zip nor .npy: NumPy would read it as a pickle, which we never do
        raise UsageError(f"'{path}' is not a .npz file (not a zip archive of .npy arrays); {NOT_NPZ}") from None
    except EOFError:
        raise UsageError(f"'{path}' is empty, not a .npz file; {NOT_NPZ}") from None
    except OSError as exc:
        raise UsageError(f"cannot read '{path}': {exc.strerror or exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise UsageError(f"'{path}' holds one bare array (a .npy file), not named arrays; {NOT_NPZ}")
    return archive


def _objects_error(key: str, path: Path) -> UsageError:
    return UsageError(f"array '{key}' in '{path}' holds Python objects, which only pickle can read and zoo never "
                      f"unpickles; save plain numeric arrays (and class_names as a str array)")


def _array(archive, key: str, path: Path) -> np.ndarray:
    """One array of the archive; pickled (object) or damaged members are UsageErrors naming it."""
    try:
        value = archive[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise _objects_error(key, path) from None
        raise UsageError(f"array '{key}' in '{path}' is damaged: {exc}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise UsageError(f"array '{key}' in '{path}' is damaged: {exc}; {NOT_NPZ}") from None
    if not isinstance(value, np.ndarray):
        raise UsageError(f"member '{key}' of '{path}' is not a .npy array; {NOT_NPZ}")
    return value


def _check_names(archive, path: Path) -> None:
    """``x`` is there and nothing else is unknown (a misspelt ``y_valid`` would silently drop a split)."""
    if "x" not in archive.files:
        raise UsageError(f"'{path}' has no array 'x' (it has: {', '.join(archive.files) or 'nothing'}); "
                         f"expected x (images) and y (labels)")
    unknown = sorted(set(archive.files) - KNOWN_KEYS)
    if unknown:
        raise UsageError(f"'{path}' has arrays zoo does not read: {', '.join(unknown)}; the names are "
                         f"{', '.join(sorted(KNOWN_KEYS))} (rename or remove the others)")


def as_images(x: np.ndarray, key: str, path: Path) -> np.ndarray:
    """uint8 ``(N, H, W, 3)`` (or 4 -> 3): grayscale repeated, floats in [0, 1] scaled."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise UsageError(f"array '{key}' in '{path}' has shape {x.shape}; expected (N,H,W) or (N,H,W,C) with C 1, 3 or 4")
    if x.dtype == bool or not np.issubdtype(x.dtype, np.number):
        raise UsageError(f"array '{key}' in '{path}' holds {x.dtype}, not numbers")
    if x.dtype != np.uint8:
        floating = np.issubdtype(x.dtype, np.floating)
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise UsageError(f"array '{key}' in '{path}' has NaN or infinite values")
        if x.size and floating and x.min() >= 0.0 and x.max() <= 1.0:
            x = x * 255.0
        elif x.size and (x.min() < 0.0 or x.max() > 255.0):
            raise UsageError(f"array '{key}' in '{path}' has values in [{x.min():g}, {x.max():g}]; "
                             f"expected pixels in [0, 255] (or floats in [0, 1])")
        x = np.rint(x).astype(np.uint8)
    if x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    elif x.shape[-1] == 4:
        x = np.ascontiguousarray(x[..., :3])
    return x


def as_labels(y: np.ndarray, key: str, path: Path, count: int) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(axis=1)
    y = y.reshape(-1) if y.ndim == 2 and y.shape[1] == 1 else y
    if y.ndim != 1:
        raise UsageError(f"array '{key}' in '{path}' has shape {y.shape}; expected (N,) class indices")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or not np.all(np.mod(y, 1) == 0):
            raise UsageError(f"array '{key}' in '{path}' must hold integer class indices, not {y.dtype}")
    if len(y) != count:
        raise UsageError(f"'{path}' has {count} images but {len(y)} labels in '{key}'")
    y = y.astype(np.int64)
    if (y < -1).any():
        raise UsageError(f"array '{key}' in '{path}' has negative labels; use -1 only for unlabelled examples")
    return y


def _class_names(archive, path: Path, labels: list[np.ndarray]) -> list[str]:
    largest = max((int(y.max()) for y in labels if len(y)), default=-1)
    if "class_names" in archive.files:
        names = [str(n) for n in _array(archive, "class_names", path).reshape(-1)]
        if largest >= len(names):
            raise UsageError(f"'{path}' has label {largest} but only {len(names)} class_names")
        return names
    return [str(i) for i in range(largest + 1)]


def load(argument: str | None, *, seed: int = 0, on_bad_image: str = "skip", **options: Any) -> LoadedDataset:
    """The splits present in the file (``train`` always), as uint8 RGB arrays."""
    if options:
        raise UsageError(f"dataset 'npz' takes no option {', '.join(sorted(options))}")
    check_on_bad_image(on_bad_image)
    path = _path(argument)
    with _open(path) as archive:
        _check_names(archive, path)
        splits = {}
        for split, (x_key, y_key) in SPLIT_KEYS.items():
            if x_key not in archive.files:
                if y_key in archive.files:
                    raise UsageError(f"'{path}' has '{y_key}' but no '{x_key}'")
                continue
            x = as_images(_array(archive, x_key, path), x_key, path)
            if y_key in archive.files:
                y = as_labels(_array(archive, y_key, path), y_key, path, len(x))
            else:
                y = np.full(len(x), -1, dtype=np.int64)
            splits[split] = Split(labels=y, images=x)
        names = _class_names(archive, path, [s.labels for s in splits.values()])
    return LoadedDataset(ref=f"npz:{argument}", class_names=names, splits=splits)


def _shape_of(path: Path, key: str) -> tuple[int, ...]:
    """An array's shape from its .npy header, without reading the data."""
    try:
        with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    except KeyError:
        raise UsageError(f"member '{key}' of '{path}' is not a .npy array; {NOT_NPZ}") from None
    except (ValueError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise UsageError(f"array '{key}' in '{path}' is damaged: {exc}; {NOT_NPZ}") from None
    if dtype.hasobject:
        raise _objects_error(key, path)
    return tuple(int(s) for s in shape)


def describe(argument: str | None) -> dict[str, Any]:
    """Classes, counts and image shape, reading only the labels and the x headers."""
    path = _path(argument)
    with _open(path) as archive:
        _check_names(archive, path)
        labels, shapes = {}, {}
        for split, (x_key, y_key) in SPLIT_KEYS.items():
            if x_key not in archive.files:
                continue
            shapes[split] = list(_shape_of(path, x_key))
            if y_key in archive.files:
                labels[split] = as_labels(_array(archive, y_key, path), y_key, path, shapes[split][0])
            else:
                labels[split] = np.full(shapes[split][0], -1, dtype=np.int64)
        names = _class_names(archive, path, list(labels.values()))
    return {
        "path": str(path.resolve()),
        "classes": names,
        "num_classes": len(names),
        "splits": {split: len(y) for split, y in labels.items()},
        "counts": {split: class_counts(y, names) for split, y in labels.items()},
        "array_shapes": shapes,
    }
