"""A ``.keras`` file that plain Keras loads with ``safe_mode=True``, checked in a process that cannot import zoo.

A model is exportable this way only if every layer in it is a Keras built-in or a KerasHub
class (the Keras team's model library: ``pip install keras-hub`` beside Keras loads it, and
its layers keep their whole state in the archive): a layer class of a plugin (a TF Hub module
wrapper, say) would need that plugin installed to load, and its config may point at files
outside the archive. Such runs are refused with the formats that do hold their whole graph.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from zoo.errors import ZooError

CHECK_TIMEOUT = 600
PLAIN_MODULES = ("keras.", "keras_hub.")
"""Where the classes of a .keras export may come from: Keras, and KerasHub (which a user installs beside it)."""

CHILD = r"""
import importlib.abc, sys
class NoZoo(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0].startswith("zoo"):
            raise ImportError(f"{name}: this check runs without zoo")
sys.meta_path.insert(0, NoZoo())
import numpy as np, keras
try:
    import keras_hub  # noqa: F401  (registers KerasHub's classes, as a KerasHub user's session has)
except ImportError:
    pass
model = keras.saving.load_model(sys.argv[1], safe_mode=True)
np.save(sys.argv[3], np.asarray(model.predict(np.load(sys.argv[2]), verbose=0)))
"""
"""Runs in the child: loads the file with stock Keras only (any ``zoo*`` import fails) and predicts."""


def plain_keras_obstacle(model) -> str | None:
    """Why ``model`` cannot be a .keras file for plain Keras, as a phrase; None when it can."""
    import keras

    for layer in model._flatten_layers(include_self=False, recursive=True):
        cls = type(layer)
        if not cls.__module__.startswith(PLAIN_MODULES) or isinstance(layer, keras.layers.Lambda):
            return (f"its layer '{layer.name}' is {cls.__name__} from {cls.__module__}, which plain Keras cannot "
                    "rebuild without that package (and whatever files it points at)")
    return None


def write(model, path: Path, *, quantize: str = "none", calibration=None) -> str:
    model.save(path)
    import keras

    return f"Keras {keras.__version__} without zoo (load_model safe_mode=True, in a separate process)"


def predict(path: Path, images):
    import numpy as np

    with tempfile.TemporaryDirectory(prefix="zoo-keras-check-") as work:
        given, got = os.path.join(work, "images.npy"), os.path.join(work, "probabilities.npy")
        np.save(given, images)
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
        try:
            done = subprocess.run([sys.executable, "-c", CHILD, str(path), given, got], capture_output=True,
                                  text=True, env=env, timeout=CHECK_TIMEOUT, cwd=work)
        except subprocess.TimeoutExpired:
            raise ZooError(f"loading the exported model ({path.name}) in plain Keras took over {CHECK_TIMEOUT} s") from None
        if done.returncode != 0:
            last = next((line for line in reversed(done.stderr.splitlines()) if line.strip()), "no output")
            raise ZooError(f"plain Keras cannot load the exported model ({path.name}): {last}")
        return np.load(got)

