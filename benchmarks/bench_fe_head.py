"""fe_head_vs_logreg: zoo's default feature extraction against a standardised L-BFGS logistic
regression, on the very features zoo cached and the same split.

A dataset other than the tests' coloured shapes: ``digits-m`` (10 classes of coloured
digits over textured backgrounds, 32x32) through ``alexnet-small`` with random weights,
whose features are far from linearly separable. zoo's side is the feature-extraction
trainer on a real TrainJob with its defaults (``--epochs 5``, ``--lr 1e-3``, batch 32),
its features kept on disk so that the reference reads exactly the arrays zoo trained on;
the reference is scikit-learn's ``StandardScaler`` + ``LogisticRegression`` (L-BFGS, its
default L2 penalty, run to convergence) fit on zoo's training features. Both are scored
on zoo's validation features (20% of ``digits-m``'s training split, drawn by seed 0 as
``--val-split 0.2`` draws it). The ratio is zoo's accuracy / the regression's; goal >= 0.98.
Full: every training image (1,437: 1,150 to train, 287 to validate), 3 seeds (the mean);
--quick: 400 of them, 1 seed.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

BACKBONE = "alexnet-small"
SIZE = 32
BATCH = 32
EPOCHS = 5


def one_seed(seed: int, limit: int | None, epochs: int = EPOCHS, lr: float = 1e-3, options: dict | None = None) -> dict[str, Any]:
    import keras
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from workloads import build

    from zoo.data.loading import load_dataset
    from zoo.data.records import stratified_split
    from zoo.data.tfdata import make_tf_dataset
    from zoo.plugin.catalog import get_catalog
    from zoo.plugin.specs import load_object
    from zoo.train.checkpoints import CheckpointStore
    from zoo.train.config import resolve_strategy_options
    from zoo.train.job import TrainJob

    data = load_dataset("digits-m", seed=seed)
    if limit:  # a stratified part of the training images, before the validation draw
        keep, _ = stratified_split(data.splits["train"].labels, 1 - limit / len(data.splits["train"]), seed)
        data.splits["train"] = data.splits["train"].subset(keep)
    data = data.with_val_split(0.2, seed)
    keras.utils.set_random_seed(seed)
    built = build(BACKBONE, SIZE)
    catalog = get_catalog()
    work = Path(tempfile.mkdtemp(prefix="zoo-bench-"))

    def make_dataset(part, training=False, batch_size=None, repeat=False, seed=None, cache=None):
        return make_tf_dataset(part, image_size=SIZE, channels=3, batch_size=batch_size or BATCH, shuffle=training,
                               seed=job.seed if seed is None else seed, repeat=repeat,
                               cache=cache)

    train, val = data.splits["train"], data.splits["val"]
    job = TrainJob(backbone=built, class_names=data.class_names, train=train, val=val,
                   options=resolve_strategy_options(catalog.strategy("feature-extraction"),
                                                    {"feature_cache": "disk", **(options or {})}, "benchmark"),
                   epochs=epochs, batch_size=BATCH, lr=lr, seed=seed, make_dataset=make_dataset,
                   checkpoints=CheckpointStore(work / "checkpoints"), work_dir=work, verbose=0,
                   log=lambda message: None)
    try:
        started = time.perf_counter()
        outcome = load_object(catalog.strategy("feature-extraction").trainer)(job)
        zoo_s = time.perf_counter() - started
        x_train = np.load(work / "features" / "train.npy")
        x_val = np.load(work / "features" / "val.npy")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours = float((outcome.head.predict(x_val, verbose=0).argmax(axis=1) == val.labels).mean())
    started = time.perf_counter()
    reference = make_pipeline(StandardScaler(), LogisticRegression(max_iter=10000)).fit(x_train, train.labels)
    logreg_s = time.perf_counter() - started
    return {"zoo": ours, "logreg": float(reference.score(x_val, val.labels)), "zoo_s": round(zoo_s, 2),
            "logreg_s": round(logreg_s, 2), "train": len(train), "val": len(val)}


def run(quick: bool = False) -> tuple[float, dict]:
    seeds, limit = (1, 400) if quick else (3, None)
    runs = [one_seed(seed, limit) for seed in range(seeds)]
    zoo_accuracy = float(np.mean([r["zoo"] for r in runs]))
    logreg_accuracy = float(np.mean([r["logreg"] for r in runs]))
    return zoo_accuracy / logreg_accuracy, {
        "dataset": "digits-m", "backbone": f"{BACKBONE} (random weights)", "image_size": SIZE, "epochs": EPOCHS,
        "seeds": seeds, "zoo_accuracy": round(zoo_accuracy, 4),
        "logreg_accuracy": round(logreg_accuracy, 4), "runs": runs,
        "measures": "validation accuracy of zoo's default feature-extraction head / a standardised L-BFGS "
                    "logistic regression's, both on the features zoo cached, same split",
    }
