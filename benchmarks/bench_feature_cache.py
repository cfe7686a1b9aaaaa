"""fe_cached_vs_naive_10ep: zoo's feature extraction against plain Keras ``fit`` with the
frozen backbone in the graph, 10 epochs each, same images.

zoo's side is the feature-extraction strategy's own trainer on a real TrainJob: it runs
the backbone once and trains the head on the cached features (with its checkpoints).
Plain Keras trains backbone + the same head layers with the backbone frozen (a plain
``tf.data`` pipeline), so every epoch pays a backbone pass. Whole wall time of each,
each on a freshly built ResNet50 (random weights) so both pay their own tracing, after
both ran once untimed on a tiny set (the process's first-use costs). Timed in turns
zoo, Keras, Keras, zoo (ABBA), so a drift in the machine's load falls on both alike;
the ratio is median zoo time / median Keras time. Full: 1,024 images at 96x96;
--quick: 128 at 32x32. Goal: <= 0.15.
"""

from __future__ import annotations

from workloads import (
    build,
    median,
    plain_batches,
    plain_classifier,
    random_split,
    strategy_options,
    timed,
    train_job,
    turns,
)

EPOCHS = 10
BATCH = 32
BACKBONE = "resnet50"


def zoo_feature_extraction(split, size: int, epochs: int = EPOCHS) -> float:
    from zoo.plugin.catalog import get_catalog
    from zoo.plugin.specs import load_object

    trainer = load_object(get_catalog().strategy("feature-extraction").trainer)
    built = build(BACKBONE, size)
    with train_job(built, split, strategy="feature-extraction", options={}, epochs=epochs, batch_size=BATCH) as job:
        seconds, outcome = timed(trainer, job)
    assert len(outcome.history) == epochs
    return seconds


def keras_frozen_backbone(split, size: int, epochs: int = EPOCHS) -> float:
    import keras

    built = build(BACKBONE, size)
    built.model.trainable = False
    model = plain_classifier(built, strategy_options("feature-extraction", {}), int(split.labels.max()) + 1)

    def fit():
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model.fit(plain_batches(split, BATCH, shuffle=True), epochs=epochs, verbose=0, shuffle=False)

    seconds, history = timed(fit)
    assert len(history.history["loss"]) == epochs
    return seconds


def run(quick: bool = False) -> tuple[float, dict]:
    count, size = (128, 32) if quick else (1024, 96)
    split = random_split(count, size)
    # the process's first fit/predict costs are no one's to pay
    warm_up = random_split(BATCH, size, seed=1)
    zoo_feature_extraction(warm_up, size, epochs=1)
    keras_frozen_backbone(warm_up, size, epochs=1)
    ours, plain = [], []
    for side in turns(2):
        if side == "zoo":
            ours.append(zoo_feature_extraction(split, size))
        else:
            plain.append(keras_frozen_backbone(split, size))
    zoo_seconds, keras_seconds = median(ours), median(plain)
    return zoo_seconds / keras_seconds, {
        "backbone": BACKBONE, "images": count, "image_size": size, "epochs": EPOCHS, "batch_size": BATCH,
        "zoo_s": round(zoo_seconds, 2), "keras_s": round(keras_seconds, 2),
        "zoo_runs_s": [round(s, 2) for s in ours], "keras_runs_s": [round(s, 2) for s in plain],
        "measures": "whole training wall time of each, run in turns zoo, Keras, Keras, zoo after a warm-up; "
                    "median zoo / median Keras",
    }
