"""Small, learnable image folders written by tests: coloured shapes on noisy backgrounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
COLOURS = {"circle": (220, 40, 40), "square": (40, 180, 40), "triangle": (40, 60, 220)}


def shape_image(kind: str, size: int, rng: np.random.Generator) -> Image.Image:
    background = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    r = int(size * rng.uniform(0.25, 0.4))
    cx, cy = (int(size / 2 + rng.integers(-size // 8, size // 8 + 1)) for _ in range(2))
    colour = tuple(int(np.clip(c + rng.integers(-30, 31), 0, 255)) for c in COLOURS[kind])
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif kind == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    return image


def make_shapes_folder(root: Path, per_class: int = 30, size: int = 40, seed: int = 0, fmt: str = "png") -> Path:
    rng = np.random.default_rng(seed)
    for kind in SHAPES:
        folder = root / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape_image(kind, size, rng).save(folder / f"{kind}_{i:03d}.{fmt}")
    return root
