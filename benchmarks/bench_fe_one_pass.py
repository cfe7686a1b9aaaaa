"""fe_vs_one_pass: zoo's whole feature-extraction training against its floor, one plain
Keras ``predict`` pass of the same backbone over the same images.

zoo's side is the feature-extraction strategy's trainer on a real TrainJob with a train
and a validation split (7/8 and 1/8 of the images): features of both, then the head's
10 epochs with validation and checkpoints. Keras' side is ``backbone.predict`` over all
the images (a plain ``tf.data`` pipeline), nothing else. One ResNet50 (random weights,
float32 on both sides) serves both, warmed up once by each side, so neither pays a
first trace; then turns zoo, Keras, Keras, zoo (ABBA). The ratio is the median over
rounds of the two back-to-back times' ratio. The info splits zoo's time into the feature
pass and the head's training (everything after the pass). Full: 1,024 images at 96x96,
3 rounds; --quick: 128 at 32x32, 1 round. Goal: <= 1.05.
"""

from __future__ import annotations

import time

from workloads import build, median, plain_batches, random_split, train_job, turns

EPOCHS = 10
BATCH = 32
BACKBONE = "resnet50"


def zoo_feature_extraction(built, split, epochs: int = EPOCHS) -> tuple[float, float]:
    """(whole seconds, seconds of the feature pass) of the trainer on a train/val TrainJob."""
    import zoo_strategies.features as features

    from zoo.data.records import Split
    from zoo.plugin.catalog import get_catalog
    from zoo.plugin.specs import load_object

    trainer = load_object(get_catalog().strategy("feature-extraction").trainer)
    cut = len(split) - len(split) // 8
    train = Split(labels=split.labels[:cut], images=split.images[:cut])
    val = Split(labels=split.labels[cut:], images=split.images[cut:])
    compute, pass_s = features.compute_split_features, []

    def timed_pass(*args, **kwargs):
        started = time.perf_counter()
        try:
            return compute(*args, **kwargs)
        finally:
            pass_s.append(time.perf_counter() - started)

    features.compute_split_features = timed_pass
    import zoo_strategies.feature_extraction as strategy

    strategy.compute_split_features = timed_pass
    try:
        with train_job(built, train, strategy="feature-extraction", options={}, epochs=epochs,
                       batch_size=BATCH) as job:
            job.val = val
            started = time.perf_counter()
            outcome = trainer(job)
            seconds = time.perf_counter() - started
    finally:
        features.compute_split_features = strategy.compute_split_features = compute
    assert len(outcome.history) == epochs and "val_loss" in outcome.history[-1], outcome.history[-1]
    return seconds, sum(pass_s)


def keras_one_pass(built, split) -> float:
    started = time.perf_counter()
    features = built.model.predict(plain_batches(split, BATCH), verbose=0)
    seconds = time.perf_counter() - started
    assert len(features) == len(split)
    return seconds


def run(quick: bool = False) -> tuple[float, dict]:
    count, size, rounds = (128, 32, 1) if quick else (1024, 96, 3)
    split = random_split(count, size)
    built = build(BACKBONE, size)
    zoo_feature_extraction(built, random_split(2 * BATCH, size, seed=1), epochs=1)  # first traces: no one's to pay
    keras_one_pass(built, split)
    ours, plain = [], []
    for side in turns(rounds):
        if side == "zoo":
            ours.append(zoo_feature_extraction(built, split))
        else:
            plain.append(keras_one_pass(built, split))
    ratios = [zoo[0] / keras for zoo, keras in zip(ours, plain)]
    return median(ratios), {
        "backbone": BACKBONE, "images": count, "image_size": size, "epochs": EPOCHS, "batch_size": BATCH,
        "precision": "float32", "rounds": rounds, "round_ratios": [round(r, 3) for r in ratios],
        "zoo_s": [round(z[0], 2) for z in ours], "zoo_feature_pass_s": [round(z[1], 2) for z in ours],
        "zoo_head_training_s": [round(z[0] - z[1], 2) for z in ours],
        "keras_one_pass_s": [round(k, 2) for k in plain],
        "measures": "median over ABBA rounds of zoo's whole trainer time (train+val features, 10 head epochs "
                    "with validation and checkpoints) / one Keras predict pass over the same images",
    }
