"""The full model pushed beside an adapter: ``model.keras``, for people who have Keras but not zoo.

The adapter (head, delta, config) stays what zoo pulls and verifies; ``model.keras`` is
a convenience copy for plain Keras (``safe_mode=True``), exported and checked like
``zoo export --format keras``. zoo never downloads or loads it: a hub client leaves it out
of zoo's pulls, and a pulled folder may hold it (when the same cache served a plain
download of it) only because nothing in zoo reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import UsageError, ZooError

FULL_MODEL = "model.keras"


@dataclass
class FullModel:
    """``path`` and its ``check`` (agreement with zoo's model), or, when there is none, the ``reason``."""

    path: Path | None = None
    check: dict[str, Any] | None = None
    reason: str | None = None


def make_full_model(run_dir: Path, workdir: Path, catalog=None) -> FullModel:
    """Export the run at ``run_dir`` as ``workdir/model.keras``, checked in plain Keras.

    A run that cannot be a plain-Keras file by nature (a TF Hub module inside) gets a
    FullModel with the reason instead; one that cannot be built here (missing base
    weights, a missing plugin) is an error, since the push would silently lack it.
    """
    from zoo.run.export import export_run
    from zoo.run.export.keras_file import plain_keras_obstacle
    from zoo.run.folder import read_run_folder
    from zoo.run.load import load_run
    from zoo.util.quiet import import_tensorflow

    import_tensorflow()
    try:
        loaded = load_run(read_run_folder(run_dir), catalog, trusted=True)
    except (UsageError, ZooError) as exc:
        raise ZooError(f"cannot build the full model ({FULL_MODEL}) to push with the adapter: {exc}; "
                       "pass --no-full-model to push the adapter alone") from None
    reason = plain_keras_obstacle(loaded.model)
    if reason:
        return FullModel(reason=f"no {FULL_MODEL}: {reason}")
    exported = export_run(loaded, workdir / FULL_MODEL, "keras", catalog=catalog)
    return FullModel(path=exported.path, check=exported.check)
