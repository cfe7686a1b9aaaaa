"""One writer per export format: ``write(model, path, ...) -> runtime`` and ``predict(path, images) -> probabilities``.

``write`` makes the file at a temporary ``path``; ``predict`` runs it in the format's own
runtime, which is how :func:`zoo.run.export.export_run` checks it before renaming it into
place with :func:`staged`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from zoo.errors import UsageError
from zoo.run.export import keras_dir, keras_file, onnx_file, savedmodel, tflite

KERAS_DIRECTORY = "keras-directory"
"""Keras' folder layout, for ``zoo push`` (:mod:`zoo.run.export.keras_dir`); not a ``zoo export --format``."""
WRITERS = {"keras": keras_file, "savedmodel": savedmodel, "tflite": tflite, "onnx": onnx_file,
           KERAS_DIRECTORY: keras_dir}
DIRECTORIES = {"savedmodel", KERAS_DIRECTORY}
"""Formats written as a folder rather than a file."""


@contextlib.contextmanager
def staged(out: Path, *, directory: bool) -> Iterator[Path]:
    """A temporary path beside ``out`` (same suffix) that becomes ``out`` when the block succeeds."""
    from zoo.util.files import atomic_directory

    if directory:
        with atomic_directory(out) as tmp:
            os.rmdir(tmp)  # the exporters want to create the folder themselves
            try:
                yield tmp
            finally:
                tmp.mkdir(exist_ok=True)  # for atomic_directory to rename or remove
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=f".partial{out.suffix}", dir=out.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.unlink()  # the converters write it themselves
    try:
        yield tmp
        if out.exists():
            raise UsageError(f"'{out}' appeared while zoo was writing it; nothing was overwritten")
        os.replace(tmp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
