"""finetune_vs_keras_fit: steady-state throughput of zoo's fine-tuning against plain Keras ``fit``.

zoo's side is the fine-tuning strategy's own trainer on a real TrainJob (no warm-up
phase, last stage unfrozen, BatchNorm frozen, zoo's input pipeline), so every epoch
goes through ``fit_phase`` and its per-epoch checkpoint of the model and optimizer
(copied at the epoch's end, written by a background thread: see ``zoo.checkpoints``),
and the trainer returns only after its final checkpoint is on disk. Plain Keras
compiles the same backbone with the same trainable set (``conv5_*`` without BatchNorm),
the same head layers, optimizer and images (a plain ``tf.data`` pipeline) and calls
``fit``, writing no checkpoint.

Both are timed the same way: from the moment the first epoch, its end-of-epoch
callbacks included, is done (tracing and warm-up are left out) until the trainer / ``fit``
returns. So zoo's time holds epochs 2..N and all N checkpoint writes (the first
epoch's runs on into epoch 2; the last one the trainer waits for before it returns): a
conservative count. A run's throughput is the images of epochs 2..N over that time.
Runs take turns (zoo, Keras, Keras, zoo, ...); the ratio is the median over rounds of
the two runs' throughput ratio (images/s ours / images/s Keras). The info also gives
the ratio by process CPU time (less swayed by other processes' load; it counts the
checkpoint thread), how long zoo's training thread waited in checkpoint calls, and
each run's whole wall time (model compose, compile and the first epoch included). Full: ResNet50, 256 images at
96x96, 6 epochs a run, 2 rounds; --quick: 96 at 64x64, 3 epochs, 2 rounds. Goal: >= 0.95.
"""

from __future__ import annotations

import time

from workloads import (
    build,
    clock,
    epoch_timer,
    median,
    plain_batches,
    plain_classifier,
    random_split,
    strategy_options,
    train_job,
    turns,
)

BATCH = 32
BACKBONE = "resnet50"
OPTIONS = {"unfreeze": "1", "warmup_epochs": 0}


def timed_checkpoints():
    from zoo.checkpoints import CheckpointStore

    class TimedCheckpoints(CheckpointStore):
        """The real store, noting when each epoch-end checkpoint has been taken (its write then runs on)
        and how long training waited in each call (copying the values, waiting for the previous write)."""

        def __init__(self, root):
            super().__init__(root)
            self.ends: list[tuple[float, float]] = []
            self.waits: list[float] = []

        def save(self, phase, model, state, **kwargs):
            started = time.perf_counter()
            super().save(phase, model, state, **kwargs)
            self.waits.append(time.perf_counter() - started)
            if not state.done:
                self.ends.append(clock())

        def mark_done(self, *args, **kwargs):
            started = time.perf_counter()
            super().mark_done(*args, **kwargs)
            self.waits.append(time.perf_counter() - started)

    return TimedCheckpoints


def zoo_fine_tuning(built, split, epochs: int) -> dict:
    """Steady and whole (wall, CPU) seconds of one run of zoo's fine-tuning trainer."""
    from zoo.catalog import get_catalog
    from zoo.specs import load_object

    trainer = load_object(get_catalog().strategy("fine-tuning").trainer)
    with train_job(built, split, strategy="fine-tuning", options=OPTIONS, epochs=epochs, batch_size=BATCH,
                   checkpoints=timed_checkpoints()) as job:
        started = clock()
        outcome = trainer(job)
        returned = clock()
        ends, waits = job.checkpoints.ends, job.checkpoints.waits
    assert len(outcome.history) == epochs == len(ends), (len(outcome.history), len(ends))
    return {"steady": elapsed(ends[0], returned), "whole": elapsed(started, returned),
            "checkpoint_waits": waits[1:],  # the first epoch's save is over before the steady time starts
            "trainable": outcome.metrics["trainable_backbone_parameters"]}


def keras_fine_tuning(built, split, epochs: int) -> dict:
    """The same measurements for plain Keras: compose, freeze as zoo does, compile, ``fit``."""
    import keras

    started = clock()
    built.model.trainable = True
    for layer in built.model.layers:
        layer.trainable = layer is built.base
    for layer in built.base.layers:
        layer.trainable = layer.name.startswith("conv5_") and not isinstance(layer, keras.layers.BatchNormalization)
    model = plain_classifier(built, strategy_options("fine-tuning", OPTIONS), int(split.labels.max()) + 1)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = epoch_timer()
    model.fit(plain_batches(split, BATCH, shuffle=True), epochs=epochs, callbacks=[timer], verbose=0, shuffle=False)
    returned = clock()
    trainable = int(sum(keras.ops.size(v) for v in built.model.trainable_weights))
    built.model.trainable = False
    return {"steady": elapsed(timer.ends[0], returned), "whole": elapsed(started, returned), "trainable": trainable}


def elapsed(start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
    return end[0] - start[0], end[1] - start[1]


def run(quick: bool = False) -> tuple[float, dict]:
    count, size, epochs, rounds = (96, 64, 3, 2) if quick else (256, 96, 6, 2)
    split = random_split(count, size)
    built = build(BACKBONE, size)
    ours, plain = [], []
    for side in turns(rounds):
        if side == "zoo":
            ours.append(zoo_fine_tuning(built, split, epochs))
        else:
            plain.append(keras_fine_tuning(built, split, epochs))
    if {one["trainable"] for one in ours} != {one["trainable"] for one in plain}:
        raise AssertionError(f"plain Keras trains {plain[0]['trainable']} backbone parameters, "
                             f"zoo {ours[0]['trainable']}")
    steady_images = count * (epochs - 1)

    def rates(runs, which: int) -> list[float]:
        return [steady_images / one["steady"][which] for one in runs]

    def paired(which: int) -> float:
        return median([a / b for a, b in zip(rates(ours, which), rates(plain, which))])

    return paired(0), {
        "backbone": BACKBONE, "unfreeze": "conv5", "images": count, "image_size": size, "batch_size": BATCH,
        "epochs_per_run": epochs, "runs_each": rounds, "trainable_backbone_parameters": ours[0]["trainable"],
        "zoo_images_per_s": round(median(rates(ours, 0)), 1), "keras_images_per_s": round(median(rates(plain, 0)), 1),
        "zoo_steady_s": [round(one["steady"][0], 2) for one in ours],
        "keras_steady_s": [round(one["steady"][0], 2) for one in plain],
        "zoo_whole_s": [round(one["whole"][0], 2) for one in ours],
        "keras_whole_s": [round(one["whole"][0], 2) for one in plain],
        "cpu_time_ratio": round(paired(1), 4),
        "zoo_checkpoint_wait_s": [round(sum(one["checkpoint_waits"]), 2) for one in ours],
        "measures": f"per run: images of epochs 2..{epochs} / time from the end of epoch 1 (its callbacks done) "
                    "until the trainer or fit returns (zoo's checkpoint writes included); median over ABBA rounds "
                    "of zoo/Keras",
    }
