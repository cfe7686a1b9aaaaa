"""What the benchmarks share: random images (in memory or as files), a zoo backbone, a real
TrainJob or run folder, the plain-Keras counterparts, and taking turns.

zoo's side of every comparison goes through zoo's own code (the backbone from the
registry, the strategy's trainer with a :class:`zoo.train.job.TrainJob` as ``zoo train``
builds it, its input pipeline, ``open_run`` and ``predict_files``); plain Keras gets the
very same model and images through the straightforward ``tf.data`` + ``fit``/``predict``
a Keras user would write. Random weights and random pixels: speed does not depend on
what the numbers mean.
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

# -- data -----------------------------------------------------------------------------


def random_split(count: int, size: int, classes: int = 10, seed: int = 0):
    from zoo.data.records import Split

    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)
    return Split(labels=rng.integers(0, classes, count), images=images)


def write_jpegs(folder: Path, count: int, size: int, seed: int = 0) -> Path:
    """``count`` random ``size`` x ``size`` JPEG files in ``folder`` (created), like a folder of photos."""
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"image{i:05d}.jpg", quality=90)
    return folder


def plain_batches(split, batch_size: int, shuffle: bool = False, seed: int = 0):
    """The ``tf.data`` pipeline a Keras user writes for in-memory images: slices, shuffle, batch, float32."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((split.images, split.labels))
    if shuffle:
        dataset = dataset.shuffle(len(split), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).map(lambda x, y: (tf.cast(x, tf.float32), y),
                                            num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


# -- models ---------------------------------------------------------------------------


def build(backbone: str, size: int):
    """A zoo backbone with random weights, built as ``zoo train`` builds it."""
    from zoo.backbone.build import build_backbone
    from zoo.plugin.catalog import get_catalog

    catalog = get_catalog()
    return build_backbone(catalog.backbone(backbone), weights="none", input_size=size, catalog=catalog)


def strategy_options(strategy: str, given: dict[str, Any]) -> dict[str, Any]:
    from zoo.plugin.catalog import get_catalog
    from zoo.train.config import resolve_strategy_options

    return resolve_strategy_options(get_catalog().strategy(strategy), given, "benchmark")


def plain_classifier(built, options: dict[str, Any], classes: int):
    """Backbone + the same head layers as zoo's (``units``, ``dropout``), written in plain Keras, compiled later."""
    import keras

    images = keras.Input(built.model.input_shape[1:])
    x = built.model(images)
    if options["units"]:
        x = keras.layers.Dropout(options["dropout"])(x) if options["dropout"] else x
        x = keras.layers.Dense(options["units"], activation="relu")(x)
    if options["dropout"]:
        x = keras.layers.Dropout(options["dropout"])(x)
    return keras.Model(images, keras.layers.Dense(classes, activation="softmax")(x))


@contextlib.contextmanager
def train_job(built, split, *, strategy: str, options: dict[str, Any], epochs: int, batch_size: int,
              checkpoints=None, lr: float = 1e-3, seed: int = 0):
    """A TrainJob like run_stage's, in a fresh work folder (so nothing is resumed), removed after."""
    from zoo.train.checkpoints import CheckpointStore
    from zoo.train.job import TrainJob

    work = Path(tempfile.mkdtemp(prefix="zoo-bench-"))

    def make_dataset(part, training: bool = False, batch_size: int | None = None, repeat: bool = False,
                     seed: int | None = None, cache: bool | None = None):
        from zoo.data.tfdata import make_tf_dataset

        return make_tf_dataset(part, image_size=built.input_size, channels=built.spec.channels,
                               batch_size=batch_size or job.batch_size, shuffle=training,
                               seed=job.seed if seed is None else seed, repeat=repeat,
                               cache=cache)

    job = TrainJob(backbone=built, class_names=[str(i) for i in range(int(split.labels.max()) + 1)], train=split,
                   val=None, options=strategy_options(strategy, options), epochs=epochs, batch_size=batch_size,
                   lr=lr, seed=seed, make_dataset=make_dataset,
                   checkpoints=(checkpoints or CheckpointStore)(work / "checkpoints"), work_dir=work, verbose=0,
                   log=lambda message: None)
    try:
        yield job
    finally:
        shutil.rmtree(work, ignore_errors=True)


def make_run(work: Path, backbone: str, size: int, batch_size: int = 16) -> Path:
    """A real run folder (``zoo train``'s ``run_stage``: feature extraction, one epoch, random weights)
    trained on 2 classes of 8 JPEGs each; its ``backbone.delta.npz`` then holds every backbone variable."""
    from zoo.train.config import StageConfig
    from zoo.train.stage import run_stage

    for index, name in enumerate(("a", "b")):
        write_jpegs(work / "train" / name, 8, size, seed=100 + index)
    config = StageConfig(backbone=backbone, dataset=f"folder:{work / 'train'}", image_size=size, epochs=1,
                         batch_size=batch_size, weights="none", out=str(work / "run"), val_split=0.0)
    return run_stage(config, verbose=0, log=lambda message: None).out


# -- timing ---------------------------------------------------------------------------


def clock() -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds): the second is less swayed by other processes' load."""
    return time.perf_counter(), time.process_time()


def epoch_timer():
    """A Keras callback noting (:func:`clock`) when each epoch's end-of-epoch work is done (``.ends``);
    put it last among the callbacks."""
    import keras

    class EpochEnds(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.ends: list[tuple[float, float]] = []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(clock())

    return EpochEnds()


def turns(rounds: int) -> Iterator[str]:
    """"zoo", "keras", "keras", "zoo", ... (ABBA): neither side always goes first, so a slow drift
    in the machine's load falls on both alike."""
    for round_ in range(rounds):
        yield from ("zoo", "keras") if round_ % 2 == 0 else ("keras", "zoo")


def median(values: list[float]) -> float:
    return statistics.median(values)


def timed(function, *args, **kwargs) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


CACHE_ENV = "ZOO_BENCH_CACHE"
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "zoo-bench-cache"


def jpeg_classes(count: int, size: int, classes: int = 10) -> Path:
    """A ``folder:`` dataset of ``count`` random ``size`` px JPEGs in ``classes`` class folders,
    generated once into ``$ZOO_BENCH_CACHE`` (default ``/tmp/zoo-bench-cache``) and reused after:
    20,000 files take a minute to write. Complete only once its marker file exists."""
    import os

    root = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE) / f"jpegs-{count}-{size}px-{classes}"
    marker = root / ".complete"
    if marker.is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for label in range(classes):
        share = count // classes + (label < count % classes)
        write_jpegs(partial / f"class{label}", share, size, seed=1000 + label)
    partial.rename(root)
    marker.write_text("done\n")
    return root
