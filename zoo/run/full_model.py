"""The full model pushed beside an adapter, for people who have Keras but not zoo.

It is the whole model (preprocessing, backbone, head) in Keras' own folder layout
(:data:`FULL_MODEL_FILES`, as ``model.save(folder, zipped=False)`` writes it), uploaded at the
repository's root, which is where ``keras.saving.load_model("hf://OWNER/REPO")`` looks; the same
files at a pinned commit load with ``huggingface_hub.snapshot_download(..., revision=COMMIT)`` and
``keras.saving.load_model(folder)``. So one copy of the weights serves both, and there is no
``model.keras`` any more (:data:`LEGACY_FULL_MODEL`: adapters pushed before this still hold one).
Before the push, plain Keras loads the folder with ``safe_mode=True`` in a process that cannot import
zoo and must predict what zoo's model predicts.

The adapter (record, head, delta) stays what zoo pulls and verifies: zoo never downloads these
files nor reads them; a pulled folder may hold them (when the same HF cache served a plain Keras
download of that revision) only because nothing in zoo reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import UsageError, ZooError

FULL_MODEL_FILES = ("config.json", "metadata.json", "model.weights.h5")
"""Keras' folder layout (:mod:`zoo.run.export.keras_dir`), pushed at the repository's root."""
LEGACY_FULL_MODEL = "model.keras"
"""The full model as zoo pushed it before the folder layout: on old revisions only, never pulled."""


@dataclass
class FullModel:
    """``path`` (the folder) and its ``check`` (agreement with zoo's model), or, when there is none, the ``reason``."""

    path: Path | None = None
    check: dict[str, Any] | None = None
    reason: str | None = None

    @property
    def files(self) -> dict[str, Path]:
        """Where each file goes in the repository (its root) -> the local file; empty without a model."""
        return {name: self.path / name for name in FULL_MODEL_FILES} if self.path else {}


def make_full_model(run_dir: Path, workdir: Path, catalog=None) -> FullModel:
    """Write the run at ``run_dir`` as the Keras folder ``workdir/keras-model``, checked in plain Keras.

    A run that cannot be a plain-Keras model by nature (a TF Hub module inside) gets a
    FullModel with the reason instead; one that cannot be built here (missing base
    weights, a missing plugin) is an error, since the push would silently lack it.
    """
    from zoo.run.export import write_checked
    from zoo.run.export.formats import KERAS_DIRECTORY
    from zoo.run.export.keras_file import plain_keras_obstacle
    from zoo.run.folder import read_run_folder
    from zoo.run.load import load_run
    from zoo.util.quiet import import_tensorflow

    import_tensorflow()
    try:
        loaded = load_run(read_run_folder(run_dir), catalog, trusted=True)
    except (UsageError, ZooError) as exc:
        raise ZooError(f"cannot build the full model for plain Keras to push with the adapter: {exc}; "
                       "pass --no-full-model to push the adapter alone") from None
    reason = plain_keras_obstacle(loaded.model)
    if reason:
        return FullModel(reason=f"no full model for plain Keras: {reason}")
    exported = write_checked(loaded, workdir / "keras-model", KERAS_DIRECTORY, catalog=catalog)
    written = sorted(p.relative_to(exported.path).as_posix() for p in exported.path.rglob("*") if p.is_file())
    if written != sorted(FULL_MODEL_FILES):
        extra = sorted(set(written) - set(FULL_MODEL_FILES)) or sorted(set(FULL_MODEL_FILES) - set(written))
        raise ZooError(f"Keras saved the full model with {', '.join(written)}, not the {', '.join(FULL_MODEL_FILES)} "
                       f"that zoo push uploads ({extra[0]!r}); pass --no-full-model to push the adapter alone")
    return FullModel(path=exported.path, check=exported.check)
