"""The contract between the pipeline and a strategy, and the training loop they share.

A strategy's trainer receives a :class:`TrainJob` (a built backbone, the data, its
options) and returns a :class:`TrainOutcome` (the new head and the history). Every
phase it trains goes through :func:`fit_phase`, which gives it epoch-end checkpoints
(see :mod:`zoo.train.checkpoints` for how often), resume, early stopping, learning-rate
schedules, class weights, TensorBoard logs, the plugins' callbacks and the progress bar for free.
"""

from __future__ import annotations

import contextlib
from typing import Any

from zoo.errors import UsageError
from zoo.train.callbacks import plugin_callbacks, tensorboard_callback
from zoo.train.checkpoints import current_learning_rate, epoch_checkpoint_callback
from zoo.train.distribute import check_trainable_across_workers, fit_across_workers, is_multi_worker
from zoo.train.job import TrainJob
from zoo.train.schedules import is_scheduled, schedule_callback
from zoo.train.stopping import EarlyStopper
from zoo.util.interrupt import interrupt_callback


def phase_finished(job: TrainJob, phase: str, epochs: int) -> bool:
    """Whether a resumed run already holds ``phase`` complete, so its inputs need not be prepared again."""
    state = job.checkpoints.state(phase)
    return state is not None and (state.done or state.epoch >= epochs)


KEEP_BEST = "keep-best"
"""``fit_phase(..., early_stopping=KEEP_BEST)``: train every epoch, then put back the best epoch's weights."""


def fit_phase(job: TrainJob, phase: str, model, train_data, val_data=None, epochs: int | None = None,
              steps_per_epoch: int | None = None, extra_callbacks: list | None = None,
              early_stopping: int | str | None = None) -> list[dict[str, Any]]:
    """``model.fit`` for one phase, resumable from its last checkpoint (see :mod:`zoo.train.checkpoints`).

    ``model`` must be compiled. Returns this phase's history rows (one per epoch). When
    the phase is already finished (:func:`phase_finished`) the model is only restored,
    and ``train_data`` may be ``None``.

    Every phase gets the run's steering for free: ``--early-stopping`` (on ``val_loss``, or
    ``loss`` without ``val_data``; the best weights and the patience counter are part of
    the checkpoint, so a resumed phase stops where it would have; ``early_stopping``
    overrides the job's patience, :data:`KEEP_BEST` keeps every epoch but ends on the best
    one), ``--schedule``/``--warmup`` (from the rate the model was compiled with; refused
    for an optimizer that has a schedule of its own), ``--class-weight`` (refused for a
    model with its own ``train_step``, which must weigh its loss itself), TensorBoard logs
    (``job.logs_dir``) and the plugins' ``zoo_callbacks``. The learning rate of each epoch
    is in its history row.

    Under ``--distribute multi-worker`` the phase runs through
    :func:`zoo.train.distribute.fit_across_workers` (same checkpoints, history and callbacks);
    a model with its own ``train_step`` is refused there with a :class:`UsageError`. An
    ``extra_callbacks`` entry must not change the model when training ends: the phase's
    checkpoint would not hold its result.
    """
    epochs = job.epochs if epochs is None else epochs
    across_workers = is_multi_worker(job.distribution)
    if across_workers:
        check_trainable_across_workers(model, phase)
    check_steering(job, model, phase, across_workers)
    base_lr = current_learning_rate(model)  # before a checkpoint puts a scheduled rate in its place
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
        stopper = make_stopper(job, early_stopping, "val_loss" if val_data is not None else "loss")
        if stopper is not None and state is not None:
            stopper.load(state.tracking, state.best_weights)
        # workers time their epochs apart; a checkpoint every epoch keeps theirs at one epoch for --resume
        callbacks = [interrupt_callback(),
                     epoch_checkpoint_callback(job.checkpoints, phase, history, every_epoch=across_workers,
                                               stopper=stopper)]
        if is_scheduled(job.schedule, job.warmup):
            callbacks.insert(0, schedule_callback(base_lr, job.schedule, job.warmup, epochs))
        if job.logs_dir is not None:
            callbacks.append(tensorboard_callback(job.logs_dir, phase))
        callbacks += [*plugin_callbacks(job, phase), *(extra_callbacks or [])]
        if across_workers:  # Keras 3's fit cannot (keras-team/keras#20585)
            fit_across_workers(job.distribution, model, train_data, val_data, epochs=epochs,
                               initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                               verbose=job.verbose)
        else:
            train_data, steps_per_epoch = one_stream(train_data, steps_per_epoch,
                                                     getattr(model, "steps_per_execution", 1))
            model.fit(train_data, validation_data=val_data, epochs=epochs, initial_epoch=initial_epoch,
                      steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=job.verbose, shuffle=False,
                      class_weight=job.class_weight)
        if stopper is not None and stopper.stopped_epoch:
            job.log(f"{phase}: early stopping after epoch {stopper.stopped_epoch} ({stopper.monitor} best at "
                    f"epoch {stopper.best_epoch}: {stopper.best:.4f}; those weights are kept)")
    else:  # no epoch to train; otherwise the checkpoint callback marked the phase done when training ended
        job.checkpoints.mark_done(phase, model, history)
    return history


def make_stopper(job: TrainJob, early_stopping: int | str | None, monitor: str) -> EarlyStopper | None:
    """The phase's :class:`EarlyStopper`: the call's ``early_stopping`` if given, else the job's."""
    if early_stopping == KEEP_BEST:
        return EarlyStopper(monitor, patience=job.early_stopping)
    patience = job.early_stopping if early_stopping is None else early_stopping
    return EarlyStopper(monitor, patience=int(patience)) if patience else None


def check_steering(job: TrainJob, model, phase: str, across_workers: bool) -> None:
    """Refuse, before the phase trains, the run options this model cannot honour."""
    import keras

    if is_scheduled(job.schedule, job.warmup) and not isinstance(getattr(model.optimizer, "learning_rate", None),
                                                                 keras.Variable):
        raise UsageError(f"phase '{phase}' schedules its own learning rate; leave out --schedule and --warmup "
                         "for this strategy")
    if job.class_weight is not None:
        if across_workers:
            raise UsageError("--class-weight is not supported with --distribute multi-worker; use --class-weight none")
        if type(model).train_step is not keras.Model.train_step:
            raise UsageError(f"phase '{phase}' trains with a loss of its own, which --class-weight cannot weigh; "
                             "use --class-weight none for this strategy")


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
