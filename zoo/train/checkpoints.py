"""Epoch-end checkpoints that make an interrupted run resumable.

Each training phase of a strategy (e.g. fine-tuning's "head" then "fine-tune") keeps, at
the end of an epoch, the model's weights, the optimizer's state and the history so far:
after the first epoch that ends at least ``ZOO_CHECKPOINT_INTERVAL`` seconds (default
60; 0: every epoch) after the phase started or was last checkpointed, and always after
its last epoch. Short epochs then do not pay for a write each (a fine-tuned ResNet50 and
its optimizer are a few hundred MB), and a crash costs at most the interval plus one
epoch. The arrays go to a new folder (``weights-EPOCH/``, one ``.npy`` per array), then
the small ``state.json`` naming that folder is replaced, then the older folder is
removed: a kill at any instant leaves a state file and the very weights it was written
with.

The values are copied when an epoch ends and written by a background thread, at low
priority, while the next epoch trains (one write in flight per phase). Reading a
checkpoint waits for the write in flight; so does the interpreter at exit, so Ctrl-C
still leaves the last finished checkpoint on disk. Marking a phase done rewrites
``state.json`` alone when its last epoch was checkpointed, and writes that epoch
(waiting for it) when it was not.

The store lives in a run's work folder (``OUT.partial/checkpoints``); a checkpoint that
does not fit the model it is restored into (other settings, another version of a
strategy) is refused with a :class:`~zoo.errors.ZooError` naming that folder.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.errors import UsageError, ZooError
from zoo.util.files import atomic_write_text, is_out_of_space, out_of_space

STATE = "state.json"
INTERVAL_ENV = "ZOO_CHECKPOINT_INTERVAL"
DEFAULT_INTERVAL = 60.0


def checkpoint_interval() -> float:
    """Least seconds between two epoch-end checkpoints of a phase (``ZOO_CHECKPOINT_INTERVAL``)."""
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return DEFAULT_INTERVAL
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isnan(value) or value < 0:
        raise UsageError(f"{INTERVAL_ENV} must be a number of seconds, 0 or more (0: every epoch, inf: only "
                         f"after each phase's last epoch), got {text!r}")
    return value


@dataclass
class PhaseState:
    epoch: int = 0
    done: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)
    tracking: dict[str, Any] = field(default_factory=dict)
    """Small JSON state of the phase's callbacks that must survive a resume (early stopping's counter)."""
    best_weights: list[np.ndarray] | None = None
    """The weights early stopping would restore, kept in the checkpoint beside the current ones."""


_in_flight: dict[Path, "_Write"] = {}  # phase folder -> its background write (whichever store started it)
_in_flight_lock = threading.Lock()


class _Write(threading.Thread):
    """Writes one checkpoint; an error is kept and raised by whoever waits for it."""

    def __init__(self, folder: Path, arrays: dict[str, np.ndarray], state: PhaseState):
        super().__init__(name=f"zoo-checkpoint-{folder.name}")
        self.folder, self.arrays, self.state = folder, arrays, state
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # Linux: this thread only
        except (AttributeError, OSError):
            pass  # other systems: same priority as training
        try:
            _write(self.folder, self.arrays, self.state)
        except BaseException as error:  # raised in the training thread by _wait
            self.error = error
        finally:
            self.arrays = {}


def _read_state(folder: Path) -> dict[str, Any] | None:
    path = folder / STATE
    return json.loads(path.read_text()) if path.is_file() else None


def _write(folder: Path, arrays: dict[str, np.ndarray], state: PhaseState) -> None:
    current = (_read_state(folder) or {}).get("weights")
    for stale in [*folder.glob("weights-*"), *folder.glob(".weights-*")]:  # left by a kill mid-write
        if stale.name != current:
            shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=".weights-", dir=folder))
    name = f"weights-{state.epoch:04d}"
    if name == current:
        name += "-again"
    try:
        for key, value in arrays.items():
            np.save(tmp / f"{key}.npy", value, allow_pickle=False)
        for i, value in enumerate(state.best_weights or []):
            np.save(tmp / f"b{i}.npy", value, allow_pickle=False)
        os.replace(tmp, folder / name)
        _write_state(folder, state, name)
    except OSError as error:  # the last good checkpoint stays (state.json still names it); the new one goes
        for partial in (tmp, folder / name):
            shutil.rmtree(partial, ignore_errors=True)
        if is_out_of_space(error):
            run = folder.parent.parent.with_name(folder.parent.parent.name.removesuffix(".partial"))
            kept = "the last checkpoint is kept; " if current else ""
            size = sum(a.nbytes for a in arrays.values()) + sum(a.nbytes for a in state.best_weights or [])
            raise out_of_space(folder, f"the checkpoint of {run}", size,
                               f"{kept}free space and run the same command with --resume") from None
        raise
    if current:
        shutil.rmtree(folder / current, ignore_errors=True)


def _write_state(folder: Path, state: PhaseState, weights: str) -> None:
    saved = {"epoch": state.epoch, "done": state.done, "weights": weights, "history": state.history}
    if state.tracking:
        saved["tracking"] = state.tracking
    atomic_write_text(folder / STATE, json.dumps(saved))


def _wait(folder: Path) -> None:
    with _in_flight_lock:
        write = _in_flight.pop(folder, None)
    if write is not None:
        write.join()
        if write.error is not None:
            raise write.error


def _load_arrays(folder: Path, saved: dict[str, Any]) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """(model weights, optimizer values, best weights) of the checkpoint ``saved`` names."""
    where = folder / saved["weights"]
    names = {p.stem for p in where.glob("*.npy")}

    def series(prefix: str) -> list[np.ndarray]:
        count = sum(1 for n in names if n.startswith(prefix))
        return [np.load(where / f"{prefix}{i}.npy", allow_pickle=False) for i in range(count)]

    return series("w"), series("o"), series("b")


class CheckpointStore:
    """The checkpoints of one run's phases under ``root``.

    ``interval`` is the least seconds between two epoch-end checkpoints of a phase
    (default: :func:`checkpoint_interval`); see :meth:`epoch_ended`.
    """

    def __init__(self, root: Path, interval: float | None = None):
        self.root = Path(root)
        self.interval = checkpoint_interval() if interval is None else interval
        self._since: dict[str, float] = {}  # phase -> when it started or was last checkpointed

    def phase_started(self, phase: str) -> None:
        """Start the interval's clock for ``phase`` (its training begins or resumes now)."""
        self._since[phase] = time.monotonic()

    def epoch_ended(self, phase: str, model, state: PhaseState, every_epoch: bool = False) -> bool:
        """Checkpoint ``model`` when the interval has passed (or ``every_epoch``); whether it did.

        An epoch left out is written by :meth:`mark_done` if it turns out to be the last.
        """
        now = time.monotonic()
        if not every_epoch and now - self._since.setdefault(phase, now) < self.interval:
            return False
        self.save(phase, model, state)
        self._since[phase] = time.monotonic()
        return True

    def _dir(self, phase: str) -> Path:
        return (self.root / phase).absolute()

    def state(self, phase: str) -> PhaseState | None:
        saved = self._saved(phase)
        return None if saved is None else PhaseState(saved["epoch"], saved["done"], saved["history"],
                                                     saved.get("tracking", {}))

    def save(self, phase: str, model, state: PhaseState, wait: bool = False, with_optimizer: bool = True) -> None:
        """Checkpoint ``model`` (and its optimizer, when built and ``with_optimizer``) after an epoch.

        The values are taken now (``get_weights`` and ``.numpy()`` return copies); the
        files are written in the background, unless ``wait``.
        """
        folder = self._dir(phase)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {f"w{i}": np.asarray(v) for i, v in enumerate(model.get_weights())}
        optimizer = getattr(model, "optimizer", None)
        if with_optimizer and optimizer is not None and getattr(optimizer, "built", False):
            arrays.update({f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(optimizer.variables)})
        _wait(folder)  # the previous epoch's write first, so checkpoints land in order
        write = _Write(folder, arrays, PhaseState(state.epoch, state.done, list(state.history), dict(state.tracking),
                                                  state.best_weights))
        with _in_flight_lock:
            _in_flight[folder] = write
        write.start()
        if wait:
            _wait(folder)

    def mark_done(self, phase: str, model, history: list[dict[str, Any]], tracking: dict[str, Any] | None = None,
                  weights_changed: bool = False) -> None:
        """Record that ``phase`` is finished with ``model`` as it is after the last row of ``history``.

        When that epoch is checkpointed already, only ``state.json`` is rewritten; otherwise
        (an epoch the interval left out, a phase of no epochs, or ``weights_changed``: early
        stopping put its best epoch's weights back) the weights of ``model``
        are saved before this returns, without the optimizer's state: a finished phase
        never steps again (a resumed run only restores it), and that state is often more
        than half the bytes.
        """
        folder = self._dir(phase)
        saved = self._saved(phase)
        last = history[-1]["epoch"] if history else 0
        tracking = dict(tracking or {})
        if saved is None or saved["epoch"] != last or weights_changed:
            self.save(phase, model, PhaseState(epoch=last, done=True, history=list(history), tracking=tracking),
                      wait=True, with_optimizer=False)
            return
        _write_state(folder, PhaseState(saved["epoch"], True, list(history), tracking), saved["weights"])

    def restore(self, phase: str, model) -> PhaseState | None:
        """Load the last checkpoint of ``phase`` into ``model`` (and its optimizer).

        Raises :class:`ZooError` when the checkpoint does not fit: another number or
        shape of weights or optimizer variables than ``model`` has.
        """
        saved = self._saved(phase)
        if saved is None:
            return None
        weights, optimizer_values, best = _load_arrays(self._dir(phase), saved)
        self._check_fits(phase, "weights", weights, model.weights)
        optimizer = getattr(model, "optimizer", None)
        if optimizer_values and optimizer is not None:
            if not optimizer.built:
                optimizer.build(model.trainable_variables)
            self._check_fits(phase, "optimizer variables", optimizer_values, optimizer.variables)
            for variable, value in zip(optimizer.variables, optimizer_values):
                variable.assign(value)
        if best:
            self._check_fits(phase, "best weights", best, model.weights)
        model.set_weights(weights)
        return PhaseState(epoch=saved["epoch"], done=saved["done"], history=saved["history"],
                          tracking=saved.get("tracking", {}), best_weights=best or None)

    def holds_any(self) -> bool:
        """Whether any phase has a checkpoint on disk, once the writes in flight have landed."""
        phases = [p.name for p in self.root.iterdir() if p.is_dir()] if self.root.is_dir() else []
        for phase in phases:
            with contextlib.suppress(Exception):  # a failed write is reported by whoever waits for it
                _wait(self._dir(phase))
        return any(self.root.glob(f"*/{STATE}"))

    def _saved(self, phase: str) -> dict[str, Any] | None:
        _wait(self._dir(phase))
        return _read_state(self._dir(phase))

    def _check_fits(self, phase: str, what: str, values: list[np.ndarray], variables) -> None:
        """Refuse before anything is assigned: one line naming the checkpoint and the way out."""
        shapes = [tuple(np.shape(v)) for v in values]
        expected = [tuple(v.shape) for v in variables]
        if shapes == expected:
            return
        if len(shapes) != len(expected):
            found = f"it holds {len(shapes)} {what}, this run has {len(expected)}"
        else:
            index = next(i for i, (a, b) in enumerate(zip(shapes, expected)) if a != b)
            found = f"its {what} #{index} has shape {shapes[index]}, this run's {expected[index]}"
        raise ZooError(f"the checkpoint of phase '{phase}' in '{self._dir(phase)}' does not fit this run "
                       f"({found}): it was written with other settings; start afresh by deleting "
                       f"'{self.root.parent}', or resume with the settings it was started with")


def epoch_checkpoint_callback(store: CheckpointStore, phase: str, history: list[dict[str, Any]],
                              every_epoch: bool = False, stopper=None):
    """A Keras callback that records each epoch's logs (and learning rate), checkpoints the
    model when due (:meth:`CheckpointStore.epoch_ended`) and marks the phase done when
    training ends.

    With a ``stopper`` (:class:`zoo.train.stopping.EarlyStopper`) it also asks it after
    each epoch whether to stop, checkpoints its counter and best weights with the epoch,
    and puts the best weights back before the phase is marked done: so a resumed run
    stops where an uninterrupted one would, with the same weights.
    """
    import keras

    class EpochCheckpoint(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            store.phase_started(phase)

        def on_epoch_end(self, epoch, logs=None):
            rate = current_learning_rate(self.model)
            if rate is not None and logs is not None:
                logs.setdefault("learning_rate", rate)  # for the callbacks after this one, too
            row = {"phase": phase, "epoch": epoch + 1}
            row.update({k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0})
            history.append(row)
            state = PhaseState(epoch=epoch + 1, history=list(history))
            if stopper is not None:
                if stopper.epoch_ended(epoch + 1, row, self.model):
                    self.model.stop_training = True
                state.tracking, state.best_weights = stopper.state(), stopper.best_weights
            store.epoch_ended(phase, self.model, state, every_epoch)

        def on_train_end(self, logs=None):
            restored = stopper is not None and stopper.restore_best(self.model)
            store.mark_done(phase, self.model, history, tracking=stopper.state() if stopper else None,
                            weights_changed=restored)

    return EpochCheckpoint()


def current_learning_rate(model) -> float | None:
    """The optimizer's learning rate now (a schedule's value at the current step), or None."""
    optimizer = getattr(model, "optimizer", None)
    try:
        return float(np.asarray(optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return None
