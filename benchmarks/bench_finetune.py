"""finetune_vs_keras_fit: steady-state throughput of zoo's fine-tuning against plain Keras ``fit``.

zoo's side is the fine-tuning strategy's own trainer on a real TrainJob (no warm-up
phase, last stage unfrozen, BatchNorm frozen, zoo's input pipeline), so every epoch goes
through ``fit_phase`` and its checkpoint policy at the default interval (a checkpoint of
the model and optimizer, about 214 MB here, at the first epoch end 60 s after the last
one; the weights, about 95 MB, after the last epoch: see ``zoo.train.checkpoints``); the
trainer returns only after that last checkpoint is on disk. Plain Keras compiles the
same backbone with the same trainable set (``conv5_*`` without BatchNorm), the same head
layers, optimizer and images (a plain ``tf.data`` pipeline) and calls ``fit``, writing
no checkpoint.

Both are timed the same way: from the moment the first epoch, its end-of-epoch callbacks
included, is done (tracing and warm-up are left out) until the trainer / ``fit``
returns. So zoo's time holds epochs 2..N and the final checkpoint write: one write per
run of a few seconds' epochs, more often than the interval would write in a long run. A
run's throughput is the images of epochs 2..N over that time. Runs take turns (zoo,
Keras, Keras, zoo, ...); the ratio is the median over rounds of the two runs' throughput
ratio (images/s ours / images/s Keras). The info also gives the ratio by process CPU
time (less swayed by other processes' load; it counts the checkpoint thread), each
epoch's wall time after the first and each run's tail (last epoch's end to the return),
how many checkpoints each zoo run wrote and how long its training thread waited in
checkpoint calls, and each run's whole wall time (model compose, compile and the first
epoch included).

Plain Keras' ``fit`` makes a new iterator of its dataset every epoch, and on a 2-core
machine the first step after that switch is now and then held up by about 1.8 s
(``zoo.train.fit.one_stream``); zoo's trainer repeats the dataset and keeps one iterator.
So that neither that nor the checkpoint interval hides anything, the full run adds one
run of each variant, for the info: Keras given one iterator as zoo has it
(``vs_keras_one_iterator``: zoo / that) and zoo checkpointing every epoch
(``zoo_every_epoch_checkpoints_vs_keras``: that / plain Keras). Full: ResNet50, 256
images at 96x96, 6 epochs a run, 3 rounds; --quick: 96 at 64x64, 3 epochs, 2 rounds.
Goal: >= 0.95.
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


def timed_checkpoints(interval: float):
    from zoo.train.checkpoints import CheckpointStore

    class TimedCheckpoints(CheckpointStore):
        """The real store at ``interval``, noting when each epoch ended (its end-of-epoch
        checkpoint, if any, taken), how many checkpoints it wrote and how long training waited in
        each call (copying the values, waiting for the previous write, the final write)."""

        def __init__(self, root):
            super().__init__(root, interval=interval)
            self.ends: list[tuple[float, float]] = []
            self.waits: list[float] = []
            self.writes = 0

        def epoch_ended(self, *args, **kwargs):
            started = time.perf_counter()
            wrote = super().epoch_ended(*args, **kwargs)
            self.waits.append(time.perf_counter() - started)
            self.ends.append(clock())
            return wrote

        def save(self, *args, **kwargs):
            self.writes += 1
            super().save(*args, **kwargs)

        def mark_done(self, *args, **kwargs):
            started = time.perf_counter()
            super().mark_done(*args, **kwargs)
            self.waits.append(time.perf_counter() - started)

    return TimedCheckpoints


def zoo_fine_tuning(built, split, epochs: int, interval: float | None = None) -> dict:
    """Steady and whole (wall, CPU) seconds of one run of zoo's fine-tuning trainer, checkpointing
    at ``interval`` (default: zoo's default)."""
    from zoo.plugin.catalog import get_catalog
    from zoo.plugin.specs import load_object
    from zoo.train.checkpoints import DEFAULT_INTERVAL

    trainer = load_object(get_catalog().strategy("fine-tuning").trainer)
    with train_job(built, split, strategy="fine-tuning", options=OPTIONS, epochs=epochs, batch_size=BATCH,
                   checkpoints=timed_checkpoints(DEFAULT_INTERVAL if interval is None else interval)) as job:
        started = clock()
        outcome = trainer(job)
        returned = clock()
        ends, waits, writes = job.checkpoints.ends, job.checkpoints.waits, job.checkpoints.writes
    assert len(outcome.history) == epochs == len(ends), (len(outcome.history), len(ends))
    return {"steady": elapsed(ends[0], returned), "whole": elapsed(started, returned), **epochs_and_tail(ends, returned),
            "checkpoint_waits": waits[1:],  # the first epoch's call is over before the steady time starts
            "checkpoints_written": writes, "trainable": outcome.metrics["trainable_backbone_parameters"]}


def keras_fine_tuning(built, split, epochs: int, one_iterator: bool = False) -> dict:
    """The same measurements for plain Keras: compose, freeze as zoo does, compile, ``fit``
    (with ``one_iterator``, of the repeated dataset with the steps of one pass, as zoo does)."""
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
    data, steps = plain_batches(split, BATCH, shuffle=True), None
    if one_iterator:
        data, steps = data.repeat(), -(-len(split) // BATCH)
    model.fit(data, epochs=epochs, steps_per_epoch=steps, callbacks=[timer], verbose=0, shuffle=False)
    returned = clock()
    trainable = int(sum(keras.ops.size(v) for v in built.model.trainable_weights))
    built.model.trainable = False
    return {"steady": elapsed(timer.ends[0], returned), "whole": elapsed(started, returned),
            **epochs_and_tail(timer.ends, returned), "trainable": trainable}


def elapsed(start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float]:
    return end[0] - start[0], end[1] - start[1]


def epochs_and_tail(ends: list[tuple[float, float]], returned: tuple[float, float]) -> dict:
    """Wall seconds of each epoch after the first, and from the last epoch's end until the return."""
    return {"epochs": [b[0] - a[0] for a, b in zip(ends, ends[1:])], "tail": returned[0] - ends[-1][0]}


def steady_seconds(run: dict) -> float:
    return run["steady"][0]


def run(quick: bool = False) -> tuple[float, dict]:
    count, size, epochs, rounds = (96, 64, 3, 2) if quick else (256, 96, 6, 3)
    split = random_split(count, size)
    built = build(BACKBONE, size)
    ours, plain = [], []
    for side in turns(rounds):
        if side == "zoo":
            ours.append(zoo_fine_tuning(built, split, epochs))
        else:
            plain.append(keras_fine_tuning(built, split, epochs))
    # one run each, for the info: Keras given zoo's one iterator, and zoo checkpointing every epoch
    same_iterator = None if quick else keras_fine_tuning(built, split, epochs, one_iterator=True)
    every_epoch = None if quick else zoo_fine_tuning(built, split, epochs, interval=0)
    if {one["trainable"] for one in ours} != {one["trainable"] for one in plain}:
        raise AssertionError(f"plain Keras trains {plain[0]['trainable']} backbone parameters, "
                             f"zoo {ours[0]['trainable']}")
    steady_images = count * (epochs - 1)

    def paired(seconds) -> float:
        return median([seconds(b) / seconds(a) for a, b in zip(ours, plain)])  # (images/s ours) / (images/s Keras)

    return paired(steady_seconds), {
        "backbone": BACKBONE, "unfreeze": "conv5", "images": count, "image_size": size, "batch_size": BATCH,
        "epochs_per_run": epochs, "runs_each": rounds, "trainable_backbone_parameters": ours[0]["trainable"],
        "zoo_images_per_s": round(steady_images / median([steady_seconds(one) for one in ours]), 1),
        "keras_images_per_s": round(steady_images / median([steady_seconds(one) for one in plain]), 1),
        "zoo_steady_s": [round(steady_seconds(one), 2) for one in ours],
        "keras_steady_s": [round(steady_seconds(one), 2) for one in plain],
        "zoo_epoch_s": [[round(t, 2) for t in one["epochs"]] for one in ours],
        "keras_epoch_s": [[round(t, 2) for t in one["epochs"]] for one in plain],
        "zoo_tail_s": [round(one["tail"], 2) for one in ours],
        "keras_tail_s": [round(one["tail"], 2) for one in plain],
        "zoo_whole_s": [round(one["whole"][0], 2) for one in ours],
        "keras_whole_s": [round(one["whole"][0], 2) for one in plain],
        "cpu_time_ratio": round(paired(lambda one: one["steady"][1]), 4),
        "zoo_checkpoint_wait_s": [round(sum(one["checkpoint_waits"]), 2) for one in ours],
        "zoo_checkpoints_written": [one["checkpoints_written"] for one in ours],
        "vs_keras_one_iterator": same_iterator and round(
            steady_seconds(same_iterator) / median([steady_seconds(one) for one in ours]), 4),
        "keras_one_iterator_epoch_s": same_iterator and [round(t, 2) for t in same_iterator["epochs"]],
        "zoo_every_epoch_checkpoints_vs_keras": every_epoch and round(
            median([steady_seconds(one) for one in plain]) / steady_seconds(every_epoch), 4),
        "zoo_every_epoch_checkpoints_epoch_s": every_epoch and [round(t, 2) for t in every_epoch["epochs"]],
        "measures": f"per run: images of epochs 2..{epochs} / time from the end of epoch 1 (its callbacks done) "
                    "until the trainer or fit returns (zoo's final checkpoint write included); median over ABBA "
                    "rounds of zoo/Keras",
    }
