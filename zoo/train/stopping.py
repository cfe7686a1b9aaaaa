"""Early stopping whose whole state lives in the phase's checkpoint.

Keras' own ``EarlyStopping`` keeps its counter and best weights in memory, so a run
killed and resumed would start counting afresh and, if it stopped later, put back the
best weights of the resumed part only. :class:`EarlyStopper` holds the same things as
plain data (:meth:`state`, :attr:`best_weights`), which
:func:`zoo.train.checkpoints.epoch_checkpoint_callback` saves with every checkpoint and
:func:`zoo.train.fit.fit_phase` hands back on resume.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class EarlyStopper:
    """Stop when ``monitor`` (a loss: lower is better) has not improved for ``patience``
    epochs; :meth:`restore_best` then puts back the weights of its best epoch.

    ``patience=None`` never stops but still keeps and restores the best epoch's weights.
    """

    def __init__(self, monitor: str, patience: int | None, min_delta: float = 0.0):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.best = math.inf
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch = 0
        self.best_weights: list[np.ndarray] | None = None

    def state(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "patience": self.patience, "best": self.best if math.isfinite(self.best)
                else None, "best_epoch": self.best_epoch, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load(self, tracking: dict[str, Any], best_weights: list[np.ndarray] | None) -> None:
        """Continue from a checkpoint's state (another monitor's state is ignored: it does not apply)."""
        if not tracking or tracking.get("monitor") != self.monitor:
            return
        self.best = math.inf if tracking.get("best") is None else float(tracking["best"])
        self.best_epoch = int(tracking.get("best_epoch", 0))
        self.wait = int(tracking.get("wait", 0))
        self.stopped_epoch = int(tracking.get("stopped_epoch", 0))
        self.best_weights = best_weights

    def epoch_ended(self, epoch: int, logs: dict[str, Any], model) -> bool:
        """Record epoch ``epoch`` (1-based); whether training should stop now."""
        value = logs.get(self.monitor)
        if value is None or not math.isfinite(float(value)):
            self.wait += 1  # a missing or NaN loss is no improvement
        elif float(value) < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            self.best_weights = [np.array(w, copy=True) for w in model.get_weights()]
        else:
            self.wait += 1
        if self.patience is not None and self.wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def restore_best(self, model) -> bool:
        """Put the best epoch's weights back; whether that changed anything."""
        if self.best_weights is None:
            return False
        current = model.get_weights()
        if all(np.array_equal(a, b) for a, b in zip(current, self.best_weights)):
            return False
        model.set_weights(self.best_weights)
        return True
