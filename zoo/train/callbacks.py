"""The Keras callbacks every phase gets besides its checkpoints: TensorBoard and the plugins'.

TensorBoard logs go to ``logs/PHASE/`` of the run's work folder while it trains
(``OUT.partial/logs/``, so ``tensorboard --logdir OUT.partial/logs`` watches a run live)
and move with the run into ``OUT/logs/``. They are Keras' own ``TensorBoard`` callback's
event files: ``train/`` and ``validation/`` scalars per epoch (``epoch_loss``,
``epoch_accuracy``, ``epoch_learning_rate``), the epoch number as the step, so a resumed
phase continues its curves where the checkpoint left them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.run.folder import LOGS

__all__ = ["LOGS", "plugin_callbacks", "tensorboard_callback"]


def tensorboard_callback(logs_dir: Path, phase: str):
    import keras

    return keras.callbacks.TensorBoard(log_dir=str(Path(logs_dir) / phase), write_graph=False, profile_batch=0,
                                       update_freq="epoch")


def plugin_callbacks(job: Any, phase: str) -> list[Any]:
    """What every plugin's ``zoo_callbacks(job, phase)`` returns, flattened, in plugin name order.

    A plugin whose hook raises is quarantined like any other (its callbacks are left
    out, training goes on); one that returns something that is not a Keras callback
    stops the run with a :class:`ZooError` naming it, before the phase trains.
    """
    import keras

    from zoo.plugin.host import get_host

    found = []
    for plugin, value in get_host().call("zoo_callbacks", job=job, phase=phase):
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if not isinstance(item, keras.callbacks.Callback):
                raise ZooError(f"plugin '{plugin}': zoo_callbacks() returned {type(item).__name__}, not a "
                               "keras.callbacks.Callback; report it to the plugin's authors")
        found.extend(items)
    return found
