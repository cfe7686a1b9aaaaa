"""fe_cached_vs_naive_10ep: zoo's feature extraction against plain Keras ``fit`` with the
frozen backbone in the graph, 10 epochs each, same images.

zoo's side is the feature-extraction strategy's own trainer on a real TrainJob: it runs
the backbone once and trains the head on the cached features (with its checkpoints).
Plain Keras trains backbone + head with the backbone frozen, so every epoch pays a
backbone pass. Whole wall time of each, each on a freshly built ResNet50 (random
weights) so both pay their own tracing, after both ran once untimed on a tiny set (the
process's first-use costs; not with --quick, where run.py's earlier benchmarks have
warmed the process); zoo is timed before and after Keras and the median taken. Full:
1,024 images at 96x96; --quick: 256 at 48x48. Goal: <= 0.15.
"""

from __future__ import annotations

from workloads import batches, build, median, random_split, strategy_options, timed, train_job

EPOCHS = 10
BATCH = 32
BACKBONE = "resnet50"


def zoo_feature_extraction(split, size: int, epochs: int = EPOCHS) -> float:
    from zoo.catalog import get_catalog
    from zoo.specs import load_object

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
    options = strategy_options("feature-extraction", {})
    images = keras.Input(built.model.input_shape[1:])
    x = keras.layers.Dropout(options["dropout"])(built.model(images))
    probabilities = keras.layers.Dense(int(split.labels.max()) + 1, activation="softmax")(x)
    model = keras.Model(images, probabilities)

    def fit():
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        return model.fit(batches(built, split, BATCH, shuffle=True), epochs=epochs, verbose=0, shuffle=False)

    seconds, history = timed(fit)
    assert len(history.history["loss"]) == epochs
    return seconds


def run(quick: bool = False) -> tuple[float, dict]:
    count, size = (256, 48) if quick else (1024, 96)
    split = random_split(count, size)
    if not quick:  # the process's first fit/predict costs are no one's to pay (run.py runs this last anyway)
        warm_up = random_split(BATCH, size, seed=1)
        zoo_feature_extraction(warm_up, size, epochs=1)
        keras_frozen_backbone(warm_up, size, epochs=1)
    ours = [zoo_feature_extraction(split, size)]
    keras_seconds = keras_frozen_backbone(split, size)
    ours.append(zoo_feature_extraction(split, size))
    zoo_seconds = median(ours)
    return zoo_seconds / keras_seconds, {
        "backbone": BACKBONE, "images": count, "image_size": size, "epochs": EPOCHS, "batch_size": BATCH,
        "zoo_s": round(zoo_seconds, 2), "zoo_runs_s": [round(s, 2) for s in ours], "keras_s": round(keras_seconds, 2),
        "measures": "whole training wall time, zoo before and after Keras (median)",
        "warmed_up": not quick,
    }
