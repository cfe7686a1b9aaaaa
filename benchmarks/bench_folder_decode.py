"""folder_decode_vs_keras: zoo's input pipeline against ``keras.utils.image_dataset_from_directory``.

Both read the same folder of JPEG files (class subfolders), decode, resize to the same
size and batch, with no model: zoo loads it as ``folder:PATH`` (list, label) and runs
:func:`zoo.data.tfdata.make_tf_dataset` without its cache (every pass decodes); Keras
lists it and decodes it with ``image_dataset_from_directory`` (no shuffle). Each side
is one whole pass over every batch, the listing included; zoo's screening of each file
with Pillow when a dataset is loaded is timed apart (``zoo_screen_s``) and left out of
the ratio, since ``zoo train`` does it once per run for every epoch's sake. Turns ABBA; the
ratio is the median over rounds of images/s ours / images/s Keras. Full: 2,000 files at
96 px resized to 80 px, 5 rounds; --quick: 200 files, 2 rounds. Goal: >= 1.0.
"""

from __future__ import annotations

import time

from workloads import jpeg_classes, median, turns

BATCH = 32


def zoo_pass(folder, size: int, split) -> float:
    from zoo.data.tfdata import make_tf_dataset

    started = time.perf_counter()
    count = sum(len(images) for images, _ in make_tf_dataset(split, image_size=size, batch_size=BATCH, cache=False))
    assert count == len(split)
    return time.perf_counter() - started


def keras_pass(folder, size: int, expected: int) -> float:
    import keras

    started = time.perf_counter()
    dataset = keras.utils.image_dataset_from_directory(folder, image_size=(size, size), batch_size=BATCH,
                                                       shuffle=False, verbose=False)
    count = sum(len(images) for images, _ in dataset)
    assert count == expected, (count, expected)
    return time.perf_counter() - started


def resize_pass(split, size: int, antialias: bool) -> float:
    """Where the time goes: a plain ``tf.data`` read + decode + resize + batch of the same files, with
    zoo's antialiased resize or with Keras' plain bilinear one (no order check, no clipping)."""
    import numpy as np
    import tensorflow as tf

    def load(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        image.set_shape([None, None, 3])
        return tf.image.resize(image, [size, size], antialias=antialias), label

    started = time.perf_counter()
    dataset = tf.data.Dataset.from_tensor_slices((np.asarray(split.files, dtype=str), split.labels))
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(BATCH).prefetch(tf.data.AUTOTUNE)
    assert sum(len(images) for images, _ in dataset) == len(split)
    return time.perf_counter() - started


def run(quick: bool = False) -> tuple[float, dict]:
    from zoo.data.loading import load_dataset

    count, file_size, size, rounds = (200, 96, 80, 2) if quick else (2000, 96, 80, 5)
    folder = jpeg_classes(count, file_size)
    started = time.perf_counter()
    split = load_dataset(f"folder:{folder}").splits["train"]
    screen_s = time.perf_counter() - started
    zoo_pass(folder, size, split), keras_pass(folder, size, count)  # warm the file cache and tf.data
    ours, plain = [], []
    for side in turns(rounds):
        if side == "zoo":
            ours.append(zoo_pass(folder, size, split))
        else:
            plain.append(keras_pass(folder, size, count))
    ratios = [keras / zoo for zoo, keras in zip(ours, plain)]
    passes: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(rounds):  # the resize alone, both ways, in turns (ABBA)
        for antialias in ((True, False) if round_ % 2 == 0 else (False, True)):
            passes[antialias].append(resize_pass(split, size, antialias))
    antialiased, bilinear = passes[True], passes[False]
    return median(ratios), {
        "images": count, "file_size": file_size, "image_size": size, "batch_size": BATCH, "rounds": rounds,
        "zoo_images_per_s": round(count / median(ours), 1), "keras_images_per_s": round(count / median(plain), 1),
        "zoo_pass_s": [round(s, 3) for s in ours], "keras_pass_s": [round(s, 3) for s in plain],
        "zoo_screen_s": round(screen_s, 2),
        "plain_antialias_pass_s": round(median(antialiased), 3), "plain_bilinear_pass_s": round(median(bilinear), 3),
        "measures": "median over ABBA rounds of Keras' pass time / zoo's (decode + resize + batch, no model)",
    }
