"""The contract between the pipeline and a strategy, and the training loop they share.

A strategy's trainer receives a :class:`TrainJob` (a built backbone, the data, its
options) and returns a :class:`TrainOutcome` (the new head and the history). Every
phase it trains goes through :func:`fit_phase`, which gives it epoch-end checkpoints
(see :mod:`zoo.train.checkpoints` for how often), resume and the progress bar for free.
"""

from __future__ import annotations

import contextlib
from typing import Any

from zoo.train.checkpoints import epoch_checkpoint_callback
from zoo.train.distribute import check_trainable_across_workers, fit_across_workers, is_multi_worker
from zoo.train.job import TrainJob


def phase_finished(job: TrainJob, phase: str, epochs: int) -> bool:
    """Whether a resumed run already holds ``phase`` complete, so its inputs need not be prepared again."""
    state = job.checkpoints.state(phase)
    return state is not None and (state.done or state.epoch >= epochs)


def fit_phase(job: TrainJob, phase: str, model, train_data, val_data=None, epochs: int | None = None,
              steps_per_epoch: int | None = None, extra_callbacks: list | None = None) -> list[dict[str, Any]]:
    """``model.fit`` for one phase, resumable from its last checkpoint (see :mod:`zoo.train.checkpoints`).

    ``model`` must be compiled. Returns this phase's history rows (one per epoch). When
    the phase is already finished (:func:`phase_finished`) the model is only restored,
    and ``train_data`` may be ``None``.
    Under ``--distribute multi-worker`` the phase runs through
    :func:`zoo.train.distribute.fit_across_workers` (same checkpoints, history and callbacks);
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
