"""Small image folders and .npz files written by the dataset and input-pipeline tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "fox")
COLOURS = {"cat": (220, 40, 40), "dog": (40, 200, 60), "fox": (50, 70, 230)}
FORMATS = ("png", "jpg", "bmp", "gif")


def class_image(name: str, index: int, size=(20, 24)) -> np.ndarray:
    """A mostly ``COLOURS[name]`` image with a little noise, so labels can be told apart."""
    rng = np.random.default_rng(index)
    colour = np.array(COLOURS[name], dtype=np.int16)
    image = colour + rng.integers(-10, 10, (size[0], size[1], 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def write_image(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def make_class_folder(root: Path, per_class: int = 4, classes=CLASSES, size=(20, 24)) -> Path:
    """``root/CLASS/CLASS_i.EXT`` with the four formats in turn."""
    for name in classes:
        for i in range(per_class):
            write_image(root / name / f"{name}_{i}.{FORMATS[i % len(FORMATS)]}", class_image(name, i, size))
    return root


def add_corrupt_files(root: Path) -> list[Path]:
    """A garbage .jpg, a truncated .png and an empty .bmp, in the first two classes."""
    garbage = root / CLASSES[0] / "garbage.jpg"
    garbage.write_bytes(b"this is not a JPEG at all" * 10)
    truncated = root / CLASSES[1] / "truncated.png"
    write_image(truncated, class_image(CLASSES[1], 99, (40, 40)))
    truncated.write_bytes(truncated.read_bytes()[:120])
    empty = root / CLASSES[1] / "empty.bmp"
    empty.write_bytes(b"")
    return [garbage, truncated, empty]


def make_npz(path: Path, n: int = 12, size=(10, 10), grayscale: bool = False, extra: bool = False, **more) -> Path:
    """x/y with labels cycling over three classes (pixels brighter for higher labels)."""
    labels = np.arange(n) % 3
    shape = (n, *size) if grayscale else (n, *size, 3)
    x = (np.ones(shape) * (labels * 80 + 20).reshape((n,) + (1,) * (len(shape) - 1))).astype(np.uint8)
    arrays = {"x": x, "y": labels}
    if extra:
        arrays.update(x_val=x[:3], y_val=labels[:3], x_test=x[:6], y_test=labels[:6],
                      class_names=np.array(["low", "mid", "high"]))
    arrays.update(more)
    np.savez(path, **arrays)
    return path
