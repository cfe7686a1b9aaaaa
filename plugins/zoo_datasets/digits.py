"""``digits`` and ``digits-m``: two offline image domains built from scikit-learn's digits.

``digits`` (the source domain) is scikit-learn's 1,797 8x8 handwritten digits, upscaled
to 32x32 as light strokes on black, 3 channels, uint8. ``digits-m`` (the target domain)
draws the very same strokes in colour over random colour gradients and textures, in the
spirit of MNIST-M: a classifier trained on ``digits`` alone does poorly there, yet the
digit stays visible because every stroke is drawn brighter than the background beneath
it (see :func:`target_images` for by how much).

Both use one fixed, stratified 80/20 train/test split of the 1,797 digits (the same
indices in both domains), so scores are comparable across runs. ``seed`` only changes
what ``digits-m``'s backgrounds and stroke colours look like. Generation is vectorised
NumPy and takes a fraction of a second.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os
from typing import Any

import numpy as np

from zoo.api import LoadedDataset, Split, UsageError, class_counts, stratified_split

IMAGE_SIZE = 32
DIGIT_SIZE = 28  # the strokes fill 28x28 in the middle, like MNIST's margin
CLASS_NAMES = [str(i) for i in range(10)]
TEST_FRACTION = 0.2
SPLIT_SEED = 1797  # fixed: the train/test split never changes with --seed
MIN_CONTRAST = 80.0  # how much brighter (luminance) a stroke's colour is than the mean background beneath it
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
TARGET_STREAM = 0x6D  # keeps digits-m's random stream apart from any other use of seed


@functools.lru_cache(maxsize=1)
def raw_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as ``(images (1797, 8, 8) float32 in [0, 1], labels)``.

    Read straight from the CSV scikit-learn ships (importing ``sklearn.datasets`` costs
    about a second); ``sklearn.datasets.load_digits`` is the fallback.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise UsageError("the digits datasets need scikit-learn; pip install scikit-learn")
    csv = None
    for location in spec.submodule_search_locations or []:
        candidate = os.path.join(location, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(candidate):
            csv = candidate
    if csv is not None:
        with gzip.open(csv, "rt") as handle:
            data = np.loadtxt(handle, delimiter=",", dtype=np.float32)
        images, labels = data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    else:
        from sklearn.datasets import load_digits as sklearn_digits

        bunch = sklearn_digits()
        images, labels = bunch.images.astype(np.float32), bunch.target.astype(np.int64)
    images = images / 16.0
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


@functools.lru_cache(maxsize=1)
def split_indices() -> dict[str, np.ndarray]:
    """The fixed stratified split: ``{"train": indices, "test": indices}``."""
    _, labels = raw_digits()
    train, test = stratified_split(labels, TEST_FRACTION, SPLIT_SEED)
    return {"train": train, "test": test}


def _resize_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Bilinear interpolation (pixel centres aligned) as an ``(n_out, n_in)`` matrix."""
    centres = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    centres = np.clip(centres, 0, n_in - 1)
    low = np.floor(centres).astype(int)
    high = np.minimum(low + 1, n_in - 1)
    weight = centres - low
    matrix = np.zeros((n_out, n_in), dtype=np.float32)
    matrix[np.arange(n_out), low] += 1 - weight
    matrix[np.arange(n_out), high] += weight
    return matrix


def _upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """``(N, h, w[, C])`` -> ``(N, size, size[, C])``, bilinear, vectorised."""
    rows = _resize_matrix(size, grid.shape[1])
    cols = _resize_matrix(size, grid.shape[2])
    if grid.ndim == 3:
        return np.einsum("ih,nhw,jw->nij", rows, grid, cols, optimize=True)
    return np.einsum("ih,nhwc,jw->nijc", rows, grid, cols, optimize=True)


@functools.lru_cache(maxsize=1)
def strokes() -> np.ndarray:
    """Every digit as a ``(1797, 32, 32)`` float32 stroke mask in [0, 1]."""
    images, _ = raw_digits()
    pad = (IMAGE_SIZE - DIGIT_SIZE) // 2
    mask = np.zeros((len(images), IMAGE_SIZE, IMAGE_SIZE), dtype=np.float32)
    mask[:, pad:pad + DIGIT_SIZE, pad:pad + DIGIT_SIZE] = np.clip(_upsample(images, DIGIT_SIZE), 0.0, 1.0)
    mask.flags.writeable = False
    return mask


def source_images() -> np.ndarray:
    """``digits``: the strokes, white on black, as uint8 RGB."""
    gray = np.rint(strokes() * 255.0).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)


def _backgrounds(rng: np.random.Generator, count: int) -> np.ndarray:
    """Random colour gradients, blotches, stripes and grain: ``(count, 32, 32, 3)`` float32."""
    size = IMAGE_SIZE
    ys, xs = np.meshgrid(np.linspace(0, 1, size, dtype=np.float32), np.linspace(0, 1, size, dtype=np.float32),
                         indexing="ij")

    def uniform(low, high, shape):
        return rng.uniform(low, high, shape).astype(np.float32)

    # a linear gradient between two random colours, at a random angle
    angle = uniform(0, 2 * np.pi, (count, 1, 1))
    along = np.cos(angle) * xs + np.sin(angle) * ys
    along -= along.min(axis=(1, 2), keepdims=True)
    along /= along.max(axis=(1, 2), keepdims=True).clip(1e-6)
    start, end = uniform(0, 255, (2, count, 1, 1, 3))
    background = start + (end - start) * along[..., None]
    # low-frequency colour blotches
    background += _upsample(rng.standard_normal((count, 4, 4, 3), dtype=np.float32) * 20, size)
    # stripes of random frequency, direction and colour
    frequency = uniform(1.5, 6.0, (count, 1, 1))
    direction = uniform(0, np.pi, (count, 1, 1))
    phase = uniform(0, 2 * np.pi, (count, 1, 1))
    wave = np.sin(2 * np.pi * frequency * (np.cos(direction) * xs + np.sin(direction) * ys) + phase)
    background += wave[..., None] * uniform(-20, 20, (count, 1, 1, 3))
    # fine grain
    background += rng.standard_normal(background.shape, dtype=np.float32) * 6
    return np.clip(background, 0, 255, out=background)


def _mean_under(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean colour of ``values`` (N, H, W, 3) weighted by the stroke ``mask`` (N, H, W)."""
    weight = mask[..., None]
    return (values * weight).sum(axis=(1, 2)) / (weight.sum(axis=(1, 2)) + 1e-6)


def _luminance(colour: np.ndarray) -> np.ndarray:
    return colour @ LUMA


def _stroke_colours(rng: np.random.Generator, under: np.ndarray) -> np.ndarray:
    """A random colour per digit, lightened until it is ``MIN_CONTRAST`` brighter than ``under``.

    Lightening mixes in white: ``c + t (255 - c)`` raises luminance linearly in ``t``,
    so the needed ``t`` is exact and no redrawing loop is needed.
    """
    colour = rng.uniform(0, 255, (len(under), 3)).astype(np.float32)
    have, need = _luminance(colour), np.minimum(_luminance(under) + MIN_CONTRAST, 255.0)
    mix = np.clip((need - have) / np.maximum(255.0 - have, 1e-3), 0.0, 1.0)
    return colour + mix[:, None] * (255.0 - colour)


def target_images(seed: int = 0) -> np.ndarray:
    """``digits-m``: the strokes in colour over textured backgrounds, uint8 RGB.

    Each digit's stroke colour is at least ``MIN_CONTRAST`` (80) luminance levels above
    the mean of the background beneath the stroke; a background too bright for that is
    dimmed first. The stroke is then blended in with an opacity of 85-100% times the
    stroke mask (which peaks at 0.86-1 and fades at the edges), so the stroke's core
    ends up at least about 55, typically 75, levels above that mean; single background
    pixels vary around the mean with the texture and grain.
    """
    rng = np.random.default_rng([TARGET_STREAM, int(seed)])
    mask = strokes()
    background = _backgrounds(rng, len(mask))
    brightness = _luminance(_mean_under(background, mask))
    ceiling = 255.0 - MIN_CONTRAST
    background *= (np.minimum(brightness, ceiling) / np.maximum(brightness, 1e-3))[:, None, None, None]
    colour = _stroke_colours(rng, _mean_under(background, mask))[:, None, None, :]
    alpha = mask[..., None] * rng.uniform(0.85, 1.0, (len(mask), 1, 1, 1)).astype(np.float32)
    image = background + (colour - background) * alpha
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _check_options(name: str, options: dict[str, Any]) -> None:
    options = {k: v for k, v in options.items() if k != "on_bad_image"}  # no files to go bad
    if options:
        raise UsageError(f"dataset '{name}' takes no option {', '.join(sorted(options))}")


def _loaded(name: str, images: np.ndarray) -> LoadedDataset:
    _, labels = raw_digits()
    splits = {split: Split(labels=labels[index], images=images[index]) for split, index in split_indices().items()}
    return LoadedDataset(ref=name, class_names=list(CLASS_NAMES), splits=splits)


def load_digits(argument: str | None = None, *, seed: int = 0, **options: Any) -> LoadedDataset:
    """The source domain: train (1,438) and test (359) splits, uint8 (N, 32, 32, 3)."""
    _check_options("digits", options)
    return _loaded("digits", source_images())


def load_digits_m(argument: str | None = None, *, seed: int = 0, **options: Any) -> LoadedDataset:
    """The target domain: the same splits, generated anew for each ``seed``."""
    _check_options("digits-m", options)
    return _loaded("digits-m", target_images(seed))


def _describe(domain: str) -> dict[str, Any]:
    _, labels = raw_digits()
    indices = split_indices()
    return {
        "domain": domain,
        "classes": list(CLASS_NAMES),
        "num_classes": len(CLASS_NAMES),
        "image_shape": [IMAGE_SIZE, IMAGE_SIZE, 3],
        "splits": {split: int(len(index)) for split, index in indices.items()},
        "counts": {split: class_counts(labels[index], CLASS_NAMES) for split, index in indices.items()},
    }


def describe_digits(argument: str | None = None) -> dict[str, Any]:
    return _describe("source: scikit-learn digits, light strokes on black")


def describe_digits_m(argument: str | None = None) -> dict[str, Any]:
    return _describe("target: coloured strokes over random colour and texture backgrounds (varies with --seed)")
