"""``--schedule`` and ``--warmup``: the learning rate of each epoch of a phase.

The rate is a function of the epoch number within the phase alone, set when the epoch
begins, so a resumed phase (which starts at its checkpointed epoch) is back on the
schedule with nothing else to restore. With ``warmup`` W, epoch ``e < W`` (0-based) runs
at ``lr * (e + 1) / (W + 1)``; the epochs after it, ``t = e - W`` of ``T = epochs - W``:

- ``constant``: ``lr``;
- ``cosine``: ``lr * (1 + cos(pi * t / T)) / 2``, from ``lr`` down towards 0;
- ``step``: ``lr * 0.1 ** floor(3 * t / T)``: a tenth after each third.
"""

from __future__ import annotations

import math

from zoo.train.config import SCHEDULES


def scheduled_rate(lr: float, schedule: str, warmup: int, epochs: int, epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (0-based) of a phase of ``epochs`` epochs."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}")
    if epoch < warmup:
        return lr * (epoch + 1) / (warmup + 1)
    t, total = epoch - warmup, max(epochs - warmup, 1)
    if schedule == "cosine":
        return lr * (1 + math.cos(math.pi * t / total)) / 2
    if schedule == "step":
        return lr * 0.1 ** math.floor(3 * t / total)
    return lr


def is_scheduled(schedule: str, warmup: int) -> bool:
    """Whether anything but a constant rate was asked for."""
    return schedule != "constant" or warmup > 0


def schedule_callback(lr: float, schedule: str, warmup: int, epochs: int):
    """A Keras callback setting the optimizer's rate at the start of each epoch."""
    import keras

    class ScheduledLearningRate(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.model.optimizer.learning_rate.assign(scheduled_rate(lr, schedule, warmup, epochs, epoch))

    return ScheduledLearningRate()
