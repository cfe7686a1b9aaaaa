"""``zoo export``: a run as one full model (preprocessing, backbone, head) for other runtimes."""

from __future__ import annotations

import os
from pathlib import Path

from zoo.errors import UsageError


def export_run(loaded, out: str | os.PathLike, fmt: str) -> Path:
    """A full model (preprocessing, backbone, head) for plain Keras or TF Serving."""
    from zoo.util.files import atomic_directory

    out = Path(out)
    if out.exists():
        raise UsageError(f"'{out}' already exists; pass another --out or remove it")
    if fmt == "keras":
        if out.suffix != ".keras":
            raise UsageError(f"a Keras export must be a .keras file, got '{out}'")
        tmp = out.with_name(f".{out.name}.partial.keras")
        try:
            loaded.model.save(tmp)
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                tmp.unlink()
        return out
    if fmt == "savedmodel":
        with atomic_directory(out) as tmp:
            os.rmdir(tmp)  # Keras' exporter wants to create the folder itself
            loaded.model.export(str(tmp), format="tf_saved_model", verbose=False)
        return out
    raise UsageError(f"unknown export format '{fmt}'; use keras or savedmodel")
