"""predict_vs_keras: throughput of zoo's predict against plain ``model.predict``.

zoo's side is :func:`zoo.inference.predict_arrays` (what ``zoo predict`` runs once the
images are decoded) on a model composed as zoo loads an adapter (backbone with its
preprocessing, then the head); plain Keras calls ``predict`` on that same model with the
same images and batch size. Both warmed up first, then timed in rounds of one call
each, in turns (zoo, Keras | Keras, zoo | ...); the ratio is the median over rounds of
Keras' time / zoo's time within the round (= images/s ours / images/s Keras), so the two
calls compared were made back to back, under the same load from other processes. Many
short rounds rather than a few long ones, so a burst of load spoils few of them. Full: ResNet50, 256 images at 96x96, 12 rounds; --quick: 128 at 64x64, 6
rounds. Goal: >= 0.95.
"""

from __future__ import annotations

import numpy as np

from workloads import build, median, random_split, strategy_options, timed

BATCH = 64
BACKBONE = "resnet50"


def run(quick: bool = False) -> tuple[float, dict]:
    from zoo.inference import predict_arrays
    from zoo.models import compose
    from zoo_strategies.heads import make_head

    count, size, rounds = (128, 64, 6) if quick else (256, 96, 12)
    images = random_split(count, size).images.astype(np.float32)
    built = build(BACKBONE, size)
    options = strategy_options("feature-extraction", {})
    model = compose(built.model, make_head(built.feature_dim, 10, units=options["units"], dropout=options["dropout"]))
    ours_out = predict_arrays(model, images[:BATCH], batch_size=BATCH)
    plain_out = model.predict(images[:BATCH], batch_size=BATCH, verbose=0)
    np.testing.assert_allclose(ours_out, plain_out, rtol=1e-5, atol=1e-6)
    ours, plain = [], []
    for round_ in range(rounds):  # zoo, Keras, Keras, zoo, ...: neither always goes first
        for side in ("zoo", "keras") if round_ % 2 == 0 else ("keras", "zoo"):
            if side == "zoo":
                ours.append(timed(predict_arrays, model, images, batch_size=BATCH)[0])
            else:
                plain.append(timed(model.predict, images, batch_size=BATCH, verbose=0)[0])
    ours_rate, plain_rate = count / median(ours), count / median(plain)
    paired = median([keras_s / zoo_s for zoo_s, keras_s in zip(ours, plain)])
    return paired, {
        "backbone": BACKBONE, "images": count, "image_size": size, "batch_size": BATCH, "rounds": rounds,
        "zoo_images_per_s": round(ours_rate, 1), "keras_images_per_s": round(plain_rate, 1),
        "zoo_call_s": [round(s, 3) for s in ours], "keras_call_s": [round(s, 3) for s in plain],
        "ratio_of_medians": round(ours_rate / plain_rate, 4),
        "measures": "median over rounds of the time ratio of two back-to-back whole predict calls (order ABBA), "
                    "after one warm-up call each",
    }
