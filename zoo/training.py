"""The contract between the pipeline and a strategy, and the training loop they share.

A strategy's trainer receives a :class:`TrainJob` (a built backbone, the data, its
options) and returns a :class:`TrainOutcome` (the new head and the history). Every
phase it trains goes through :func:`fit_phase`, which gives it epoch-end checkpoints
(see :mod:`zoo.checkpoints` for how often), resume and the progress bar for free.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from zoo.checkpoints import CheckpointStore, epoch_checkpoint_callback
from zoo.datasets import Split
from zoo.distribute import check_trainable_across_workers, fit_across_workers, is_multi_worker


@dataclass
class TrainJob:
    """Everything a strategy needs; it must not read anything else.

    ``make_dataset(split, training, batch_size=None, repeat=False, seed=None)`` turns a
    :class:`zoo.datasets.Split` into batches of raw RGB images in [0, 255] at the
    backbone's input size (shuffled by ``seed``, default the job's, and augmented when
    ``training``). ``target`` is unlabelled data for domain adaptation: its labels
    must not be used for training. ``target_eval`` (may be ``None``) holds the target's
    evaluation images, for reporting only; both reach the strategy with every label
    blanked to -1 (the pipeline scores the target itself).

    ``precision`` is the Keras dtype policy the trainer runs under (the pipeline has
    set it globally already). ``fit``'s own step scales the loss under
    ``mixed_float16`` (``compile`` wraps the optimizer in a ``LossScaleOptimizer``); a
    model with its own ``train_step`` must do it itself, with
    ``optimizer.scale_loss(loss)`` (a no-op for other optimizers).
    """

    backbone: Any  # zoo.backbones.BuiltBackbone
    class_names: list[str]
    train: Split
    val: Split | None
    options: dict[str, Any]
    epochs: int
    batch_size: int
    lr: float
    seed: int
    make_dataset: Callable[..., Any]
    checkpoints: CheckpointStore
    work_dir: Path
    target: Split | None = None
    target_eval: Split | None = None
    augmenting: bool = False
    precision: str = "float32"
    distribution: Any = None  # a tf.distribute.Strategy, or None
    verbose: int = 1
    log: Callable[[str], None] = print

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


@dataclass
class TrainOutcome:
    """What a strategy hands back. ``head`` maps backbone features to class probabilities."""

    head: Any  # keras.Model
    history: list[dict[str, Any]]
    metrics: dict[str, Any] = field(default_factory=dict)


def phase_finished(job: TrainJob, phase: str, epochs: int) -> bool:
    """Whether a resumed run already holds ``phase`` complete, so its inputs need not be prepared again."""
    state = job.checkpoints.state(phase)
    return state is not None and (state.done or state.epoch >= epochs)


def fit_phase(job: TrainJob, phase: str, model, train_data, val_data=None, epochs: int | None = None,
              steps_per_epoch: int | None = None, extra_callbacks: list | None = None) -> list[dict[str, Any]]:
    """``model.fit`` for one phase, resumable from its last checkpoint (see :mod:`zoo.checkpoints`).

    ``model`` must be compiled. Returns this phase's history rows (one per epoch). When
    the phase is already finished (:func:`phase_finished`) the model is only restored,
    and ``train_data`` may be ``None``.
    Under ``--distribute multi-worker`` the phase runs through
    :func:`zoo.distribute.fit_across_workers` (same checkpoints, history and callbacks);
    a model with its own ``train_step`` is refused there with
    a :class:`UsageError`. The checkpoint of a finished phase holds the weights of its
    last epoch: an ``extra_callbacks`` entry that changes the model when training ends
    (``EarlyStopping(restore_best_weights=True)``) must save its result itself, or a
    resumed run comes back with the last epoch's weights.
    """
    epochs = job.epochs if epochs is None else epochs
    across_workers = is_multi_worker(job.distribution)
    if across_workers:
        check_trainable_across_workers(model, phase)
    with job.distribution.scope() if job.distribution is not None else contextlib.nullcontext():
        state = job.checkpoints.restore(phase, model)  # may build the optimizer: its variables belong there
    if state is not None and (state.done or state.epoch >= epochs):
        job.log(f"{phase}: restored from checkpoint ({state.epoch} epochs done)")
        return state.history
    history = list(state.history) if state else []
    initial_epoch = state.epoch if state else 0
    if initial_epoch:
        job.log(f"{phase}: resuming at epoch {initial_epoch + 1} of {epochs}")
    if epochs > initial_epoch:
        # workers time their epochs apart; a checkpoint every epoch keeps theirs at one epoch for --resume
        callbacks = [epoch_checkpoint_callback(job.checkpoints, phase, history, every_epoch=across_workers),
                     *(extra_callbacks or [])]
        if across_workers:  # Keras 3's fit cannot (keras-team/keras#20585)
            fit_across_workers(job.distribution, model, train_data, val_data, epochs=epochs,
                               initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                               verbose=job.verbose)
        else:
            train_data, steps_per_epoch = one_stream(train_data, steps_per_epoch,
                                                     getattr(model, "steps_per_execution", 1))
            model.fit(train_data, validation_data=val_data, epochs=epochs, initial_epoch=initial_epoch,
                      steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=job.verbose, shuffle=False)
    else:  # no epoch to train; otherwise the checkpoint callback marked the phase done when training ended
        job.checkpoints.mark_done(phase, model, history)
    return history


def one_stream(data, steps_per_epoch: int | None, steps_per_execution: int = 1) -> tuple[Any, int | None]:
    """``(data repeated, the steps of one pass)`` for a finite ``tf.data.Dataset`` of known length,
    so that ``fit`` keeps one iterator for every epoch; anything else as given.

    Given a finite dataset, Keras makes a new iterator of it each epoch. On a 2-core machine
    the switch from one autotuned ``tf.data`` iterator to the next held up the first step of
    about two epochs in five by some 1.8 s (ResNet50 at 96x96, 3.2 s epochs). Each pass of
    the repeated stream is one epoch, shuffled anew, as before.
    """
    import tensorflow as tf

    if steps_per_epoch is not None or not isinstance(data, tf.data.Dataset) or steps_per_execution != 1:
        return data, steps_per_epoch  # several steps a call would run epochs into the next pass
    batches = int(data.cardinality())
    if batches <= 0:  # unknown, infinite or empty: fit decides as before
        return data, steps_per_epoch
    return data.repeat(), batches
