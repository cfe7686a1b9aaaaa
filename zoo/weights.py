"""Where pretrained weight files live, without touching TensorFlow.

The cache is Keras' own (``$KERAS_HOME/models``, default ``~/.keras/models``) so
files fetched by plain Keras are found by zoo and the other way round. A mirror folder
(``ZOO_WEIGHTS_DIR``) holding files under the same names is consulted first.
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo.specs import WeightsSpec


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras"))


def cache_dir() -> Path:
    return keras_home() / "models"


def mirror_dirs() -> list[Path]:
    value = os.environ.get("ZOO_WEIGHTS_DIR", "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p]


def find_local(weights: WeightsSpec) -> Path | None:
    """The first copy of a weights file in the mirror folders, then the cache."""
    for folder in [*mirror_dirs(), cache_dir()]:
        candidate = folder / weights.file
        if candidate.is_file():
            return candidate
    return None
