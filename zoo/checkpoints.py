"""Per-epoch checkpoints that make an interrupted run resumable.

Each training phase of a strategy (e.g. fine-tuning's "head" then "fine-tune") keeps,
after every epoch, the model's weights, the optimizer's state and the history so far.
Weights are written first and the small state file last, both by rename, so a kill at
any instant leaves the previous epoch's checkpoint intact.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zoo.fileio import atomic_write_text


@dataclass
class PhaseState:
    epoch: int = 0
    done: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


class CheckpointStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _dir(self, phase: str) -> Path:
        return self.root / phase

    def state(self, phase: str) -> PhaseState | None:
        path = self._dir(phase) / "state.json"
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return PhaseState(epoch=data["epoch"], done=data["done"], history=data["history"])

    def save(self, phase: str, model, state: PhaseState) -> None:
        """Checkpoint ``model`` (and its optimizer, when built) after an epoch."""
        folder = self._dir(phase)
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {f"w{i}": np.asarray(v) for i, v in enumerate(model.get_weights())}
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and getattr(optimizer, "built", False):
            arrays.update({f"o{i}": v.numpy() for i, v in enumerate(optimizer.variables)})
        fd, tmp = tempfile.mkstemp(prefix=".weights.", suffix=".npz", dir=folder)
        os.close(fd)
        try:
            np.savez(tmp, **arrays)
            os.replace(tmp, folder / "weights.npz")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        atomic_write_text(folder / "state.json",
                          json.dumps({"epoch": state.epoch, "done": state.done, "history": state.history}))

    def restore(self, phase: str, model) -> PhaseState | None:
        """Load the last checkpoint of ``phase`` into ``model`` (and its optimizer)."""
        state = self.state(phase)
        if state is None:
            return None
        with np.load(self._dir(phase) / "weights.npz", allow_pickle=False) as data:
            weights = [data[f"w{i}"] for i in range(sum(k.startswith("w") for k in data.files))]
            optimizer_values = [data[f"o{i}"] for i in range(sum(k.startswith("o") for k in data.files))]
        model.set_weights(weights)
        optimizer = getattr(model, "optimizer", None)
        if optimizer_values and optimizer is not None:
            if not optimizer.built:
                optimizer.build(model.trainable_variables)
            if len(optimizer.variables) == len(optimizer_values):
                for variable, value in zip(optimizer.variables, optimizer_values):
                    variable.assign(value)
        return state


def epoch_checkpoint_callback(store: CheckpointStore, phase: str, history: list[dict[str, Any]],
                              extra_row: dict[str, Any] | None = None):
    """A Keras callback that records each epoch's logs and checkpoints the model."""
    import keras

    class EpochCheckpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            row = {"phase": phase, "epoch": epoch + 1, **(extra_row or {})}
            row.update({k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0})
            history.append(row)
            store.save(phase, self.model, PhaseState(epoch=epoch + 1, history=list(history)))

    return EpochCheckpoint()
