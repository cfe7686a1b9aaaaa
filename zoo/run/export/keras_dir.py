"""Keras' own folder layout (``config.json``, ``metadata.json``, ``model.weights.h5``), as ``model.save(folder,
zipped=False)`` writes it: what ``keras.saving.load_model`` reads from a folder and from ``hf://OWNER/REPO``.

Keras' ``_load_model_from_dir`` (keras.src.saving.saving_lib) reads the config and the weights; the
metadata records the Keras version. It is not a ``zoo export`` format: ``zoo push`` puts it at a
repository's root (:mod:`zoo.run.full_model`). It is checked like a ``.keras`` file, by plain Keras
loading the folder in a process that cannot import zoo.
"""

from __future__ import annotations

from pathlib import Path

from zoo.run.export.keras_file import predict  # noqa: F401 (the same check: load_model takes the folder)


def write(model, path: Path, *, quantize: str = "none", calibration=None) -> str:
    model.save(path, zipped=False)
    import keras

    return f"Keras {keras.__version__} without zoo (load_model of the folder, safe_mode=True, in a separate process)"
