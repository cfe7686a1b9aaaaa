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

import os
from pathlib import Path
from typing import Callable

import numpy as np

from zoo.data.augment import Augmentation
from zoo.data.images import bad_images_error, expand_image_paths, screen_images
from zoo.data.records import Split
from zoo.errors import INPUT_ERROR_MARK, UsageError

SHUFFLE_BUFFER = 10_000
"""Largest shuffle buffer (examples); smaller splits are shuffled whole."""

IN_GRAPH_LIMIT = 512 << 20
"""In-memory arrays larger than this (bytes) are streamed from NumPy instead of being
embedded in the ``tf.data`` graph, which cannot hold constants over 2 GB."""

MEMORY_CACHE_LIMIT = 1 << 30
"""``cache=True`` keeps decoded images in memory only up to this many bytes (float32 at the
model's size: about 9,000 images at 96 px); a larger split is decoded anew each pass, so
memory stays flat however large the dataset (cache to files with a path instead)."""


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
                    cache: bool | str | None = None, repeat: bool = False, drop_remainder: bool = False,
                    map_images: Callable | None = None):
    """Batches ``(float32 images (B, S, S, C) in [0, 255], int64 labels)`` of one split.

    ``cache`` keeps decoded, resized images in memory (True, for splits up to
    :data:`MEMORY_CACHE_LIMIT`) or in files with that path prefix (a str), so later epochs
    skip decoding; by default (None) only batches that will be read again are cached in
    memory (``shuffle`` or ``repeat``: training epochs), never a single pass. Shuffling (by
    ``seed``, anew each epoch) and augmentation come after the cache. Pass ``augment`` for training
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
    if cache is None:
        cache = shuffle or repeat
    if cache:
        if isinstance(cache, (str, os.PathLike)):
            Path(cache).parent.mkdir(parents=True, exist_ok=True)
            dataset = dataset.cache(str(cache))
        elif len(split) * image_size * image_size * channels * 4 <= MEMORY_CACHE_LIMIT:
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
    return prefetched(dataset)


def prefetched(dataset, buffer_size: int | None = None):
    """A pipeline's last step: prefetch (``None``: a buffer tf.data grows as it is drained),
    with tf.data's autotuning thread off.

    That thread re-optimises a running pipeline now and then, and an iterator is not deleted
    while it runs: when ``fit`` (or ``predict``) returned, dropping its iterator waited for it,
    about 2 s on a quiet 2-core machine and 4-5 s on a busy one, in about one run of three
    (``py-spy dump --native`` showed ``RootDataset::Iterator::~Iterator`` waiting on it: the
    "end-of-phase stall"); on two cores it also takes CPU from the model while it works.
    Without it, ``AUTOTUNE`` parallel calls are one per core; the same fine-tuning runs were
    no slower, and a ResNet50 ``predict`` over 1,024 images took 7.7-8.8 s against 8.5-10.3 s.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(tf.data.AUTOTUNE if buffer_size is None else buffer_size).with_options(options)


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
