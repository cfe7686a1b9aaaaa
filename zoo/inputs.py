"""The one input pipeline: dataset reference -> LoadedDataset -> batched ``tf.data``.

Every dataset, built-in or from a plugin, goes through :func:`make_tf_dataset`, which
decodes files in parallel, resizes to the model's input, caches, shuffles, batches,
augments (training only, by option) and prefetches. Batches are float32 images in
[0, 255] of shape ``(B, S, S, C)`` with int64 labels (-1 where unlabelled): each
backbone's own preprocessing is part of the model, not of this pipeline.

Image files are screened when a dataset is loaded (``on_bad_image``: skip or fail, the
skipped ones named in ``bad_files``). The pipeline itself never drops an example, since
callers pair its output with ``split.labels``: a file that fails to decode there
(changed since loading) stops it with an error naming the file.

Importing this module does not import TensorFlow; the functions that build datasets do.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from zoo.datasets import (
    LoadedDataset,
    Split,
    bad_images_error,
    check_fraction,
    check_on_bad_image,
    is_image_file,
    screen_images,
)
from zoo.errors import INPUT_ERROR_MARK, UsageError, ZooError

SHUFFLE_BUFFER = 10_000
"""Largest shuffle buffer (examples); smaller splits are shuffled whole."""

IN_GRAPH_LIMIT = 512 << 20
"""In-memory arrays larger than this (bytes) are streamed from NumPy instead of being
embedded in the ``tf.data`` graph, which cannot hold constants over 2 GB."""


# -- loading -------------------------------------------------------------------------


def _loader_kwargs(loader: Callable, ref: str, standard: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments ``loader`` accepts: standard ones if it names them, options always."""
    try:
        parameters = inspect.signature(loader).parameters
    except (TypeError, ValueError):
        return {**standard, **options}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return {**standard, **options}
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        accepted = sorted(set(parameters) - {"argument", *standard}) or ["none"]
        raise UsageError(f"dataset '{ref}' takes no option {', '.join(unknown)} (it takes: {', '.join(accepted)})")
    return {**{k: v for k, v in standard.items() if k in parameters}, **options}


def load_dataset(ref: str, *, catalog=None, val_split: float | None = None, seed: int = 0,
                 on_bad_image: str = "skip", **options: Any) -> LoadedDataset:
    """Open a dataset reference (``digits``, ``folder:PATH``, ...) through its plugin.

    With ``val_split``, a dataset that has no ``val`` split of its own gets one: that
    fraction of ``train``, stratified by class and drawn by ``seed``. Unreadable images
    are skipped and listed in ``bad_files``, or with ``on_bad_image="fail"`` refused
    with a :class:`UsageError` naming them.
    """
    from zoo.catalog import get_catalog
    from zoo.specs import load_object

    check_on_bad_image(on_bad_image)
    if val_split is not None:
        check_fraction(val_split)
    catalog = catalog or get_catalog()
    spec, argument = catalog.dataset(ref)
    loader = load_object(spec.loader)
    kwargs = _loader_kwargs(loader, ref, {"seed": seed, "on_bad_image": on_bad_image}, options)
    loaded = loader(argument, **kwargs)
    if not isinstance(loaded, LoadedDataset):
        raise ZooError(f"dataset '{ref}': the loader {spec.loader} of plugin '{spec.plugin}' returned "
                       f"{type(loaded).__name__}, not a zoo.datasets.LoadedDataset; report it to the plugin's authors")
    if on_bad_image == "fail" and loaded.bad_files:
        raise bad_images_error(loaded.bad_files, ref)
    if not loaded.splits:
        raise UsageError(f"dataset '{ref}' has no examples")
    if val_split and "val" not in loaded.splits and "train" in loaded.splits:
        loaded = loaded.with_val_split(val_split, seed)
    loaded.ref = loaded.ref or ref
    return loaded


# -- augmentation --------------------------------------------------------------------

FLIP_MODES = {"horizontal": "horizontal", "vertical": "vertical", "both": "horizontal_and_vertical",
              "horizontal_and_vertical": "horizontal_and_vertical"}


@dataclass(frozen=True)
class Augmentation:
    """Random training-time changes; a zero factor (or no flip) leaves that one out.

    ``rotation`` is a fraction of a full turn (0.1: up to +-36 degrees), ``zoom`` a
    fraction of the size (in or out), ``contrast`` the largest relative change.
    """

    flip: str | None = None
    rotation: float = 0.0
    zoom: float = 0.0
    contrast: float = 0.0

    DEFAULTS = {"flip": "horizontal", "rotation": 0.1, "zoom": 0.1, "contrast": 0.2}

    def __post_init__(self) -> None:
        if self.flip is not None and self.flip not in FLIP_MODES:
            raise UsageError(f"flip must be horizontal, vertical or both, not {self.flip!r}")
        for name in ("rotation", "zoom", "contrast"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
                raise UsageError(f"augmentation {name} must be a number in [0, 1), not {value!r}")

    @property
    def enabled(self) -> bool:
        return bool(self.flip) or any((self.rotation, self.zoom, self.contrast))

    @classmethod
    def parse(cls, text: str | None) -> "Augmentation":
        """``"flip,rotation=0.1,zoom"`` -> an Augmentation; names alone take DEFAULTS.

        ``""``, ``"none"`` or ``"off"`` mean no augmentation, ``"all"`` every kind at its default.
        """
        text = (text or "").strip()
        if text.lower() in ("", "none", "off", "no", "false"):
            return cls()
        values: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = (s.strip() for s in item.partition("="))
            name = name.lower()
            if name == "all" and not sep:
                values.update(cls.DEFAULTS)
                continue
            if name not in cls.DEFAULTS:
                raise UsageError(f"unknown augmentation {name!r}; choose from {', '.join(cls.DEFAULTS)} "
                                 f"(e.g. --augment flip,rotation=0.1)")
            if not sep:
                values[name] = cls.DEFAULTS[name]
            elif name == "flip":
                values[name] = value.lower()
            else:
                try:
                    values[name] = float(value)
                except ValueError:
                    raise UsageError(f"augmentation {name}={value!r}: expected a number, e.g. {name}=0.1") from None
        return cls(**values)

    def __str__(self) -> str:
        parts = [f"flip={self.flip}"] if self.flip else []
        parts += [f"{name}={getattr(self, name):g}" for name in ("rotation", "zoom", "contrast") if getattr(self, name)]
        return ",".join(parts) or "none"

    def layers(self, seed: int = 0) -> list:
        """Keras preprocessing layers doing this augmentation on [0, 255] batches."""
        import keras

        result = []
        if self.flip:
            result.append(keras.layers.RandomFlip(FLIP_MODES[self.flip], seed=seed))
        if self.rotation:
            result.append(keras.layers.RandomRotation(self.rotation, fill_mode="reflect", seed=seed + 1))
        if self.zoom:
            result.append(keras.layers.RandomZoom((-self.zoom, self.zoom), fill_mode="reflect", seed=seed + 2))
        if self.contrast:
            result.append(keras.layers.RandomContrast(self.contrast, value_range=(0, 255), seed=seed + 3))
        return result


# -- the pipeline --------------------------------------------------------------------


def _match_channels(image, channels: int):
    """An image tensor ``(H, W, c)`` with ``channels`` channels (1 or 3)."""
    import tensorflow as tf

    have = image.shape[-1]
    if have is None:
        image = tf.cond(tf.shape(image)[-1] == 1, lambda: tf.image.grayscale_to_rgb(image), lambda: image[..., :3])
        image.set_shape([None, None, 3])
        have = 3
    if have == 1 and channels == 3:
        image = tf.image.grayscale_to_rgb(image)
    elif have in (3, 4) and channels == 3:
        image = image[..., :3]
    elif have != 1 and channels == 1:
        image = tf.image.rgb_to_grayscale(image[..., :3])
    return image


def _to_model_input(image, image_size: int, channels: int):
    """uint8 (or any numeric) ``(H, W, c)`` -> float32 ``(S, S, channels)`` in [0, 255]."""
    import tensorflow as tf

    image = _match_channels(image, channels)
    height, width = image.shape[0], image.shape[1]
    if height == image_size and width == image_size:
        image = tf.cast(image, tf.float32)
    else:
        image = tf.image.resize(image, [image_size, image_size], method="bilinear", antialias=True)
        image = tf.clip_by_value(image, 0.0, 255.0)
    image.set_shape([image_size, image_size, channels])
    return image


def _decode_file(path, image_size: int, channels: int):
    import tensorflow as tf

    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, 3])
    return _to_model_input(image, image_size, channels)


def _decoded_files(split: Split, image_size: int, channels: int):
    """The split's files decoded in parallel, in order, every one of them or an error naming it.

    Loaders screen files with Pillow, but a file can change after that, or be a variant
    TensorFlow does not read. Dropping it here would shift every later image against
    the labels that evaluation and feature caching take from ``split.labels``, so the
    first file that fails stops the pipeline with :data:`zoo.errors.INPUT_ERROR_MARK`
    and its path (:func:`zoo.errors.input_error` turns that into a UsageError).
    """
    import tensorflow as tf

    count = len(split)
    paths = tf.constant(np.asarray(split.files, dtype=str))
    dataset = tf.data.Dataset.from_tensor_slices((tf.range(count, dtype=tf.int64), paths, split.labels))

    def decode(index, path, label):
        return index, _decode_file(path, image_size, channels), label

    def check_in_order(expected, example):
        index, image, label = example
        missing = tf.gather(paths, tf.minimum(expected, count - 1))
        message = tf.strings.join([INPUT_ERROR_MARK, "TensorFlow cannot decode image ", missing,
                                   " (changed or removed since the dataset was loaded, or a variant TensorFlow "
                                   "does not read); fix, convert or remove it and run again"])
        with tf.control_dependencies([tf.debugging.Assert(tf.equal(index, expected), [message])]):
            index = tf.identity(index)
        return index + 1, (index, image, label)

    def is_example(index, image, label):
        return index < count

    def without_index(index, image, label):
        return image, label

    end = tf.data.Dataset.from_tensors((tf.constant(count, tf.int64), tf.zeros([image_size, image_size, channels]),
                                        tf.constant(-1, tf.int64)))
    dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).ignore_errors()
    dataset = dataset.concatenate(end).scan(tf.constant(0, tf.int64), check_in_order)
    dataset = dataset.filter(is_example).map(without_index)
    return dataset.apply(tf.data.experimental.assert_cardinality(count))


def _examples(split: Split, image_size: int, channels: int):
    """``(float32 image, int64 label)`` examples of a split, decoded and resized."""
    import tensorflow as tf

    parallel = tf.data.AUTOTUNE
    if split.kind == "files":
        return _decoded_files(split, image_size, channels)
    if split.kind == "images":
        images = np.asarray(split.images)
        if images.ndim == 3:
            images = images[..., None]
        if images.nbytes <= IN_GRAPH_LIMIT:
            dataset = tf.data.Dataset.from_tensor_slices((images, split.labels))
        else:
            labels = split.labels
            dataset = tf.data.Dataset.from_generator(
                lambda: zip(images, labels),
                output_signature=(tf.TensorSpec(images.shape[1:], tf.as_dtype(images.dtype)),
                                  tf.TensorSpec((), tf.int64)))
    else:
        dataset = split.make_tf_dataset()
    return dataset.map(lambda image, label: (_to_model_input(image, image_size, channels), tf.cast(label, tf.int64)),
                       num_parallel_calls=parallel, deterministic=True)


def make_tf_dataset(split: Split, *, image_size: int, channels: int = 3, batch_size: int = 32,
                    shuffle: bool = False, seed: int = 0, augment: Augmentation | None = None,
                    cache: bool | str = True, repeat: bool = False, drop_remainder: bool = False,
                    map_images: Callable | None = None):
    """Batches ``(float32 images (B, S, S, C) in [0, 255], int64 labels)`` of one split.

    ``cache`` keeps decoded, resized images in memory (True) or in files with that
    path prefix (a str), so later epochs skip decoding; shuffling (by ``seed``, anew
    each epoch) and augmentation come after the cache. Pass ``augment`` for training
    only. ``map_images``, if given, is applied to each float32 image batch last.
    """
    import tensorflow as tf

    if not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise UsageError(f"image size must be a positive whole number of pixels, not {image_size!r}")
    if channels not in (1, 3):
        raise UsageError(f"channels must be 1 or 3, not {channels!r}")
    if batch_size < 1:
        raise UsageError(f"batch size must be at least 1, not {batch_size}")
    if not len(split):
        raise UsageError("cannot make batches from an empty split")
    image_size = int(image_size)

    dataset = _examples(split, image_size, channels)
    if cache:
        if isinstance(cache, (str, os.PathLike)):
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            dataset = dataset.cache(str(cache))
        else:
            dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(min(len(split), SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=tf.data.AUTOTUNE,
                            deterministic=True)
    if augment is not None and augment.enabled:
        layers = augment.layers(seed)

        def augment_batch(images, labels):
            for layer in layers:
                images = layer(images, training=True)
            return tf.cast(images, tf.float32), labels

        dataset = dataset.map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE)
    if map_images is not None:
        dataset = dataset.map(lambda images, labels: (map_images(images), labels), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


# -- loose image files (zoo predict) ---------------------------------------------------


def expand_image_paths(paths: str | os.PathLike | list) -> list[str]:
    """Files as given, and the image files under each folder (sorted, recursively)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: list[str] = []
    for entry in paths:
        path = Path(entry).expanduser()
        if path.is_dir():
            inside = sorted(str(p) for p in path.rglob("*")
                            if p.is_file() and is_image_file(p.name) and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not inside:
                raise UsageError(f"folder '{entry}' has no jpg/png/bmp/gif images")
            found.extend(inside)
        elif path.is_file():
            found.append(str(path))
        else:
            raise UsageError(f"image '{entry}' does not exist")
    if not found:
        raise UsageError("no images given")
    return found


def load_images(paths, image_size: int, channels: int = 3) -> np.ndarray:
    """float32 ``(N, S, S, C)`` in [0, 255], exactly as :func:`make_tf_dataset` prepares them.

    Folders are expanded with :func:`expand_image_paths` (use it for the file names
    in the same order). Any unreadable file is a :class:`UsageError` naming it.
    """
    batches = image_batches(expand_image_paths(paths), image_size, channels=channels)
    return np.concatenate([images.numpy() for images, _ in batches], axis=0)


def image_batches(files: list[str], image_size: int, channels: int = 3, batch_size: int = 64):
    """``files``, screened (any unreadable one is a :class:`UsageError` naming it), as a
    ``tf.data`` stream of ``(images, -1 labels)`` batches: decoding overlaps whatever
    consumes it, and the whole set never sits in memory."""
    bad = screen_images(files)
    if bad:
        raise bad_images_error(bad, "the images given", show=5, advice="fix or remove them")
    split = Split(labels=np.full(len(files), -1), files=files)
    return make_tf_dataset(split, image_size=image_size, channels=channels, batch_size=batch_size, cache=False)


def sample_images(split: Split, n: int, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Up to ``n`` examples drawn by ``seed``, as uint8 arrays at their own size, with labels.

    For previews: files are read with Pillow, a streamed split gives its first ``n``.
    """
    count = min(int(n), len(split))
    if split.kind == "stream":
        images, labels = [], []
        for image, label in split.make_tf_dataset().take(count):
            images.append(np.asarray(image, dtype=np.uint8))
            labels.append(int(label))
        return images, np.asarray(labels, dtype=np.int64)
    index = np.sort(np.random.default_rng(seed).choice(len(split), size=count, replace=False))
    if split.kind == "images":
        return [np.asarray(split.images[i]) for i in index], split.labels[index]
    from PIL import Image

    images = []
    for i in index:
        with Image.open(split.files[i]) as image:
            images.append(np.asarray(image.convert("RGB")))
    return images, split.labels[index]
