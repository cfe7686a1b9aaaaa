"""Five target domains for the adaptation benchmark, each a different kind of shift from ``digits``.

All are generated here, offline, in a second or two, from scikit-learn's digits (the
stroke masks of :mod:`zoo_datasets.digits`) or from Pillow's own scalable font:

``texture``     ``digits-m``: coloured strokes over random colour gradients and textures
``inverted``    contrast: dark strokes on light, uneven grey paper, at a random gamma
``geometry``    the same strokes under random affine maps (rotation, shear, scale) and an
                elastic warp, thinned or thickened
``blur-noise``  a defocused, dim sensor: Gaussian blur, lower contrast, heavy grain
``fonts``       stroke style: printed digits (Pillow's Aileron, sizes, weights, slants),
                passed through the same 8x8 capture and upscaling as scikit-learn's
                handwritten ones

Each gives an unlabelled train split and a labelled test split. The four made from the
strokes use the fixed digits split (train images unlabelled, the test digits scored),
so no test digit is ever seen, even unlabelled; ``fonts`` draws its own 1,438 + 359.
``seed`` changes every random draw (as ``digits-m``'s backgrounds do).
"""

from __future__ import annotations

import numpy as np

SHIFTS = ("texture", "inverted", "geometry", "blur-noise", "fonts")
SHIFT_STREAM = 0x5A17  # keeps these draws apart from every other use of the seed


def _rng(name: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([SHIFT_STREAM, SHIFTS.index(name), int(seed)])


def _rgb(gray: np.ndarray) -> np.ndarray:
    """float (N, H, W) in [0, 255] -> uint8 (N, H, W, 3)."""
    return np.repeat(np.clip(np.rint(gray), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def inverted(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from zoo_datasets.digits import _upsample

    n = len(masks)
    paper = rng.uniform(170, 250, (n, 1, 1)) + _upsample(rng.standard_normal((n, 3, 3)) * 15, masks.shape[1])
    ink = rng.uniform(110, 170, (n, 1, 1))
    gamma = rng.uniform(0.6, 1.6, (n, 1, 1))
    return _rgb(paper - ink * masks ** gamma)


def geometry(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    size = masks.shape[1]
    centre = (size - 1) / 2.0
    ys, xs = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    out = np.empty_like(masks)
    for i, mask in enumerate(masks):
        angle = np.deg2rad(rng.uniform(-30, 30))
        shear = rng.uniform(-0.3, 0.3)
        scale = rng.uniform(0.75, 1.15, 2)
        matrix = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ \
            np.array([[1.0, shear], [0.0, 1.0]]) @ np.diag(1.0 / scale)
        offset = centre - matrix @ np.array([centre, centre]) + rng.uniform(-2, 2, 2)
        warped = ndimage.affine_transform(mask, matrix, offset=offset, order=1)
        dy, dx = (ndimage.gaussian_filter(rng.uniform(-1, 1, (size, size)), 4) * 20 for _ in range(2))
        warped = ndimage.map_coordinates(warped, [ys + dy, xs + dx], order=1)
        width = rng.integers(-1, 2)
        if width > 0:
            warped = ndimage.grey_dilation(warped, size=(2, 2))
        elif width < 0:
            warped = ndimage.grey_erosion(warped, size=(2, 2))
        out[i] = warped
    return _rgb(np.clip(out, 0, 1) * 255.0)


def blur_noise(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    sigma = rng.uniform(1.2, 2.2, len(masks))
    blurred = np.stack([ndimage.gaussian_filter(mask, s) for mask, s in zip(masks, sigma)])
    blurred /= blurred.max(axis=(1, 2), keepdims=True).clip(1e-6)
    level = rng.uniform(90, 150, (len(masks), 1, 1))
    floor = rng.uniform(20, 70, (len(masks), 1, 1))
    grain = rng.normal(0, 22, masks.shape)
    return _rgb(floor + level * blurred + grain)


def font_digits(labels: np.ndarray, rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """Printed digits through the 8x8 capture of scikit-learn's (4x4 blocks of a 32x32 bitmap, 0-16), upscaled."""
    from PIL import Image, ImageDraw, ImageFont
    from zoo_datasets.digits import DIGIT_SIZE, _upsample

    grids = np.empty((len(labels), 8, 8), np.float32)
    font = ImageFont.load_default(size=100)
    for i, label in enumerate(labels):
        image = Image.new("L", (160, 160), 0)
        draw = ImageDraw.Draw(image)
        draw.text((30, 10), str(label), fill=255, font=font, stroke_width=int(rng.integers(0, 5)), stroke_fill=255)
        slant = rng.uniform(-0.35, 0.35)
        image = image.transform(image.size, Image.Transform.AFFINE, (1, slant, -slant * 80, 0, 1, 0),
                                resample=Image.Resampling.BILINEAR)
        glyph = image.crop(image.getbbox())  # the glyph scaled to fill the 32x32 box, as NIST's preprocessing did
        height = int(rng.integers(26, 33))
        width = min(32, max(8, round(glyph.width * height / glyph.height * rng.uniform(0.8, 1.25))))
        glyph = glyph.resize((width, height), Image.Resampling.BILINEAR)
        bitmap = Image.new("L", (32, 32), 0)
        bitmap.paste(glyph, ((32 - width) // 2 + int(rng.integers(-1, 2)), (32 - height) // 2))
        bitmap = np.asarray(bitmap, np.float32) > 127
        grids[i] = bitmap.reshape(8, 4, 8, 4).sum(axis=(1, 3))  # 0-16, as scikit-learn's digits
    masks = np.zeros((len(labels), size, size), np.float32)
    pad = (size - DIGIT_SIZE) // 2
    masks[:, pad:pad + DIGIT_SIZE, pad:pad + DIGIT_SIZE] = np.clip(_upsample(grids / 16.0, DIGIT_SIZE), 0, 1)
    return _rgb(masks * 255.0)


def make_shift(name: str, seed: int) -> dict[str, np.ndarray]:
    """``{"x": unlabelled train images, "x_test": ..., "y_test": ...}``, uint8 (N, 32, 32, 3)."""
    from zoo_datasets.digits import raw_digits, split_indices, strokes, target_images

    if name not in SHIFTS:
        raise ValueError(f"no shift {name!r}; the shifts are {', '.join(SHIFTS)}")
    rng = _rng(name, seed)
    _, labels = raw_digits()
    split = split_indices()
    if name == "fonts":
        train_labels = rng.permutation(labels[split["train"]])
        test_labels = labels[split["test"]]
        images = font_digits(np.concatenate([train_labels, test_labels]), rng)
        return {"x": images[:len(train_labels)], "x_test": images[len(train_labels):], "y_test": test_labels}
    if name == "texture":
        images = target_images(seed)
    else:
        images = {"inverted": inverted, "geometry": geometry, "blur-noise": blur_noise}[name](
            np.asarray(strokes(), np.float32), rng)
    return {"x": images[split["train"]], "x_test": images[split["test"]], "y_test": labels[split["test"]]}


def write_shift(path, name: str, seed: int):
    """The shift as an ``npz:`` dataset for ``zoo train --target`` (no training labels at all)."""
    from zoo_datasets.digits import CLASS_NAMES

    arrays = make_shift(name, seed)
    np.savez(path, **arrays, class_names=np.array(CLASS_NAMES))
    return path
