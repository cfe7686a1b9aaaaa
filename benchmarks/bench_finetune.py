"""finetune_vs_keras_fit: steady-state throughput of zoo's fine-tuning against plain Keras ``fit``.

zoo's side is the fine-tuning strategy's own trainer on a real TrainJob (no warm-up
phase, last stage unfrozen, BatchNorm frozen), so every epoch goes through ``fit_phase``
and its per-epoch checkpoint (written in the background: see ``zoo.checkpoints``). Plain
Keras fits the same backbone with the same trainable set (``conv5_*`` without
BatchNorm), the same head layers, optimizer and batches, and writes no checkpoint.

Epoch time is measured from one epoch's end to the next (zoo: when its checkpoint is
taken, so each checkpoint's cost falls in the next interval; Keras: ``on_epoch_end``), the first epoch left out as warm-up. A
run's throughput is its images over the summed time of those epochs, so the epochs that
carry a checkpoint count in full. Runs take turns (zoo, Keras, Keras, zoo) and the ratio
is of the median run throughputs (images/s ours / images/s Keras); the same ratio by
process CPU time, which other processes' load sways less, is in the info, with how many
checkpoints zoo wrote inside the timed epochs. Full: ResNet50, 256 images at 96x96, 6 epochs a run, 2 runs each;
--quick: 64 at 48x48, 3 epochs, 1 run each. Goal: >= 0.95.
"""

from __future__ import annotations

from workloads import batches, build, clock, epoch_timer, median, random_split, steady_epochs, strategy_options, train_job

BATCH = 32
BACKBONE = "resnet50"
OPTIONS = {"unfreeze": "1", "warmup_epochs": 0}


def timed_checkpoints():
    from zoo.checkpoints import CheckpointStore

    class TimedCheckpoints(CheckpointStore):
        """The real store, noting when each epoch ends (each epoch-end checkpoint starts then)."""

        def __init__(self, root):
            super().__init__(root)
            self.ends: list[tuple[float, float]] = []

        def save(self, phase, model, state, **kwargs):
            if not state.done:
                self.ends.append(clock())
            super().save(phase, model, state, **kwargs)

    return TimedCheckpoints


def zoo_fine_tuning(built, split, epochs: int) -> tuple[list[tuple[float, float]], int]:
    """(wall, CPU) seconds of the epochs after the first, and the checkpoints written among them."""
    from zoo.catalog import get_catalog
    from zoo.specs import load_object

    trainer = load_object(get_catalog().strategy("fine-tuning").trainer)
    with train_job(built, split, strategy="fine-tuning", options=OPTIONS, epochs=epochs, batch_size=BATCH,
                   checkpoints=timed_checkpoints()) as job:
        trainer(job)
        store = job.checkpoints
    return steady_epochs(store.ends), len(store.ends) - 1


def keras_fine_tuning(built, split, epochs: int) -> tuple[list[tuple[float, float]], int]:
    import keras

    options = strategy_options("fine-tuning", OPTIONS)
    built.model.trainable = True
    for layer in built.model.layers:
        layer.trainable = layer is built.base
    for layer in built.base.layers:
        layer.trainable = layer.name.startswith("conv5_") and not isinstance(layer, keras.layers.BatchNormalization)
    images = keras.Input(built.model.input_shape[1:])
    x = keras.layers.Dropout(options["dropout"])(built.model(images))
    model = keras.Model(images, keras.layers.Dense(int(split.labels.max()) + 1, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = epoch_timer()
    model.fit(batches(built, split, BATCH, shuffle=True), epochs=epochs, callbacks=[timer], verbose=0, shuffle=False)
    trainable = len(built.model.trainable_weights)
    built.model.trainable = False
    return steady_epochs(timer.ends), trainable


def zoo_trainable_set(built, split) -> int:
    """How many backbone tensors zoo's fine-tuning trains (plain Keras must train the same)."""
    from zoo_strategies.fine_tuning import unfreeze

    with train_job(built, split, strategy="fine-tuning", options=OPTIONS, epochs=1, batch_size=BATCH) as job:
        unfreeze(job, OPTIONS["unfreeze"])
        count = len(built.model.trainable_weights)
    built.model.trainable = False
    return count


def run(quick: bool = False) -> tuple[float, dict]:
    count, size, epochs, rounds = (64, 48, 3, 1) if quick else (256, 96, 6, 2)
    split = random_split(count, size)
    built = build(BACKBONE, size)
    zoo_trainable = zoo_trainable_set(built, split)
    ours, plain, checkpoints = [], [], 0  # per run: list of (wall, CPU) epoch durations
    for round_ in range(rounds):  # zoo, Keras, Keras, zoo: neither always goes first
        for side in ("zoo", "keras") if round_ % 2 == 0 else ("keras", "zoo"):
            if side == "zoo":
                durations, written = zoo_fine_tuning(built, split, epochs)
                ours.append(durations)
                checkpoints += written
            else:
                durations, trainable = keras_fine_tuning(built, split, epochs)
                plain.append(durations)
    if trainable != zoo_trainable:
        raise AssertionError(f"plain Keras trains {trainable} backbone tensors, zoo {zoo_trainable}")

    def rate(runs, which: int) -> float:
        return median([count * len(run) / sum(d[which] for d in run) for run in runs])

    ours_rate, plain_rate = rate(ours, 0), rate(plain, 0)
    return ours_rate / plain_rate, {
        "backbone": BACKBONE, "unfreeze": "conv5", "images": count, "image_size": size, "batch_size": BATCH,
        "epochs_per_run": epochs, "runs_each": rounds, "trainable_backbone_tensors": trainable,
        "zoo_images_per_s": round(ours_rate, 1), "keras_images_per_s": round(plain_rate, 1),
        "zoo_epoch_s": [[round(d[0], 2) for d in run] for run in ours],
        "keras_epoch_s": [[round(d[0], 2) for d in run] for run in plain],
        "cpu_time_ratio": round(rate(ours, 1) / rate(plain, 1), 4),
        "zoo_epoch_cpu_s": [[round(d[1], 2) for d in run] for run in ours],
        "keras_epoch_cpu_s": [[round(d[1], 2) for d in run] for run in plain],
        "zoo_checkpoints_in_timed_epochs": checkpoints,
        "measures": "per run: images / summed time of the epochs after the first, end to end (zoo's with its "
                    "checkpoints); median over runs taken in turns",
    }
