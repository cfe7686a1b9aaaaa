"""finetune_auto_vs_float32: zoo's fine-tuning under ``--precision auto`` against float32.

The workload of ``finetune_vs_keras_fit`` (ResNet50's conv5 trained, BatchNorm frozen,
zoo's fine-tuning trainer on a real TrainJob, default checkpoint interval), here with a
validation split and images whose class can be learned (each class its own tint under
the noise), so that both runs' final validation accuracy says whether the faster one
learns as well. The backbone and head are built under the policy ``auto`` resolves to
(:func:`zoo.train.precision.resolve_precision`, as ``zoo train`` does) and under float32.
Timed as ``finetune_vs_keras_fit`` is: from the end of the first epoch to the return.
Turns ABBA; the ratio is the median over rounds of images/s auto / images/s float32.
Where ``auto`` resolves to float32 (no bf16 CPU, no GPU) the ratio is about 1 by
construction, and the info says so. Full: 256 + 64 images at 96x96, 6 epochs, 2 rounds;
--quick: 96 + 32 at 64x64, 3 epochs, 1 round. Goal: >= 1.3 on a CPU with avx512_bf16.
"""

from __future__ import annotations

import numpy as np
from bench_finetune import BACKBONE, BATCH, OPTIONS, elapsed, timed_checkpoints
from workloads import build, clock, median, train_job, turns


def tinted_split(count: int, size: int, classes: int = 10, seed: int = 0):
    from zoo.data.records import Split

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, count)
    tints = np.random.default_rng(99).integers(0, 256, (classes, 3))
    noise = rng.integers(0, 128, (count, size, size, 3))
    return Split(labels=labels, images=((noise + tints[labels][:, None, None, :]) // 1.5).astype(np.uint8))


def fine_tune(policy: str, train, val, size: int, epochs: int) -> dict:
    from zoo.plugin.catalog import get_catalog
    from zoo.plugin.specs import load_object
    from zoo.train.checkpoints import DEFAULT_INTERVAL
    from zoo.train.precision import precision_policy

    trainer = load_object(get_catalog().strategy("fine-tuning").trainer)
    with precision_policy(policy):
        built = build(BACKBONE, size)
        with train_job(built, train, strategy="fine-tuning", options=OPTIONS, epochs=epochs, batch_size=BATCH,
                       checkpoints=timed_checkpoints(DEFAULT_INTERVAL), lr=1e-3) as job:
            job.val = val
            outcome = trainer(job)
            returned = clock()
            ends = job.checkpoints.ends
    return {"steady": elapsed(ends[0], returned)[0], "val_accuracy": outcome.history[-1]["val_accuracy"],
            "epochs": [b[0] - a[0] for a, b in zip(ends, ends[1:])]}


def run(quick: bool = False) -> tuple[float, dict]:
    from zoo.train.precision import resolve_precision

    count, val_count, size, epochs, rounds = (96, 32, 64, 3, 1) if quick else (256, 64, 96, 6, 2)
    train, val = tinted_split(count, size), tinted_split(val_count, size, seed=1)
    auto, why = resolve_precision("auto")
    ours, plain = [], []
    for side in turns(rounds):
        if side == "zoo":
            ours.append(fine_tune(auto, train, val, size, epochs))
        else:
            plain.append(fine_tune("float32", train, val, size, epochs))
    ratios = [f32["steady"] / fast["steady"] for fast, f32 in zip(ours, plain)]
    steady_images = count * (epochs - 1)
    return median(ratios), {
        "auto_policy": auto, "auto_reason": why, "backbone": BACKBONE, "unfreeze": "conv5", "images": count,
        "val_images": val_count, "image_size": size, "epochs_per_run": epochs, "rounds": rounds,
        "round_ratios": [round(r, 3) for r in ratios],
        "auto_images_per_s": round(steady_images / median([r["steady"] for r in ours]), 1),
        "float32_images_per_s": round(steady_images / median([r["steady"] for r in plain]), 1),
        "auto_final_val_accuracy": [round(r["val_accuracy"], 4) for r in ours],
        "float32_final_val_accuracy": [round(r["val_accuracy"], 4) for r in plain],
        "auto_epoch_s": [[round(t, 2) for t in r["epochs"]] for r in ours],
        "float32_epoch_s": [[round(t, 2) for t in r["epochs"]] for r in plain],
        "gpu_measured": False if not gpu_names() else gpu_names(),
        "measures": f"per run: images of epochs 2..{epochs} / time from the end of epoch 1 to the trainer's return; "
                    "median over ABBA rounds of auto/float32 throughput",
    }


def gpu_names() -> list[str]:
    import tensorflow as tf

    return [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")]
