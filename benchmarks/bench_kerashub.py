"""kerashub_fe_vs_keras: zoo's feature extraction on a KerasHub ResNet against plain KerasHub
and Keras doing the same job, same preset, images and epochs.

The preset is a ResNet-18-shaped KerasHub ``ResNetBackbone`` (random weights) written with
``save_to_preset`` into a temporary folder. zoo's side is ``kerashub:FOLDER`` built as
``zoo train`` builds it (files hashed and pinned) and the feature-extraction trainer on a
real TrainJob: one backbone pass, then the head on cached features. The plain side is
``keras_hub.models.Backbone.from_preset(FOLDER)``, frozen, with average pooling and the
same head in one Keras model, ``fit`` for the same epochs (a backbone pass every epoch) and
``predict`` on the training images. Whole wall time of each, preset loading included, in
turns zoo, plain, plain, zoo after an untimed warm-up of both; the ratio is median zoo /
median plain. Full: 512 images at 96x96, 10 epochs; --quick: 96 at 32x32, 5 epochs.
Goal: <= 0.5.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from workloads import median, plain_batches, random_split, timed, train_job, turns

BATCH = 32


def save_preset(folder: Path) -> Path:
    import keras_hub

    keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[7], stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[2, 2, 2, 2], stackwise_num_strides=[1, 2, 2, 2], block_type="basic_block",
        use_pre_activation=False, image_shape=(None, None, 3)).save_to_preset(str(folder))
    return folder


def zoo_feature_extraction(folder: Path, split, size: int, epochs: int) -> float:
    from zoo.backbone.build import build_backbone
    from zoo.plugin.catalog import get_catalog
    from zoo.plugin.specs import load_object

    def run():
        catalog = get_catalog()
        built = build_backbone(catalog.backbone(f"kerashub:{folder}"), input_size=size, catalog=catalog)
        trainer = load_object(catalog.strategy("feature-extraction").trainer)
        with train_job(built, split, strategy="feature-extraction", options={}, epochs=epochs,
                       batch_size=BATCH) as job:
            outcome = trainer(job)
        assert len(outcome.history) == epochs
        return outcome

    return timed(run)[0]


def plain_keras_hub(folder: Path, split, size: int, epochs: int) -> float:
    import keras
    import keras_hub

    classes = int(split.labels.max()) + 1

    def run():
        backbone = keras_hub.models.Backbone.from_preset(str(folder), image_shape=(size, size, 3))
        backbone.trainable = False
        images = keras.Input((size, size, 3))
        scaled = keras.layers.Normalization(mean=[123.675, 116.28, 103.53],
                                            variance=[58.395 ** 2, 57.12 ** 2, 57.375 ** 2])(images)
        pooled = keras.layers.GlobalAveragePooling2D()(backbone(scaled))
        outputs = keras.layers.Dense(classes, activation="softmax")(keras.layers.Dropout(0.2)(pooled))
        model = keras.Model(images, outputs)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        history = model.fit(plain_batches(split, BATCH, shuffle=True), epochs=epochs, verbose=0)
        model.predict(plain_batches(split, BATCH), verbose=0)
        assert len(history.history["loss"]) == epochs

    return timed(run)[0]


def run(quick: bool = False) -> tuple[float, dict]:
    count, size, epochs = (96, 32, 5) if quick else (512, 96, 10)
    work = Path(tempfile.mkdtemp(prefix="zoo-bench-kerashub-"))
    try:
        folder = save_preset(work / "resnet18")
        split = random_split(count, size)
        warm_up = random_split(BATCH, size, seed=1)
        zoo_feature_extraction(folder, warm_up, size, 1)
        plain_keras_hub(folder, warm_up, size, 1)
        ours, plain = [], []
        for side in turns(2):
            if side == "zoo":
                ours.append(zoo_feature_extraction(folder, split, size, epochs))
            else:
                plain.append(plain_keras_hub(folder, split, size, epochs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    zoo_seconds, plain_seconds = median(ours), median(plain)
    return zoo_seconds / plain_seconds, {
        "backbone": "KerasHub ResNetBackbone, ResNet-18 shape (random weights, local preset)", "images": count,
        "image_size": size, "epochs": epochs, "batch_size": BATCH, "zoo_s": round(zoo_seconds, 2),
        "plain_s": round(plain_seconds, 2), "zoo_runs_s": [round(s, 2) for s in ours],
        "plain_runs_s": [round(s, 2) for s in plain],
        "measures": "whole wall time, preset loading to trained head (+ predict on the plain side), in turns "
                    "zoo, plain, plain, zoo after a warm-up; median zoo / median plain",
    }
