"""Small, learnable image folders written by tests: zoo.testing's coloured shapes on noisy backgrounds."""

from __future__ import annotations

from pathlib import Path

from zoo.testing import SHAPES, make_image_folder

__all__ = ["SHAPES", "make_shapes_folder"]


def make_shapes_folder(root: Path, per_class: int = 30, size: int = 40, seed: int = 0, fmt: str = "png") -> Path:
    return make_image_folder(root, per_class=per_class, size=size, seed=seed, fmt=fmt)
