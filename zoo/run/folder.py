"""The run folder, which is also the adapter once shared: what a training run leaves behind.

Layout (schema ``zoo.adapter/1``)::

    RUN/
      config.json          how to rebuild the model: backbone, weights checksum, input size,
                           preprocessing, strategy and options, class names, versions, and
                           the sha256 of every other file below
      head.keras           the new head: features -> class probabilities (built-in layers only,
                           loads with safe_mode=True)
      backbone.delta.npz   weights of the backbone layers that differ from the base weights
                           (fine-tuning, domain adaptation, random-init backbones), keyed
                           "layer_name/index"; absent for feature extraction
      metrics.json         accuracy, loss, per-class accuracy (+ strategy extras)
      history.csv          one row per epoch: phase, loss, accuracy, val_loss, val_accuracy, ...
      curves.png           loss and accuracy per epoch, train and validation
      confusion.png        confusion matrix on the evaluation split
      README.md            model card (written by ``zoo push``; not checksummed)

On a hub the record is called ``zoo.json`` (:data:`HUB_RECORD`), because the repository's root
``config.json`` belongs to the full model in Keras' own folder layout (:mod:`zoo.run.full_model`).
A pulled folder is still a run folder: :func:`record_path` is the one place that knows both names,
and everything that reads a run's record (:func:`read_config`, the hub checks, cache listings)
goes through it, so the Keras model's ``config.json`` beside ``zoo.json`` is never read.

Nothing in it is executable: no pickles, no Lambda layers, and :func:`read_run_folder`
checks every recorded checksum before any file is used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import ConfigError, UsageError, ZooError
from zoo.util.files import SHA256_HEX, atomic_write_text, sha256_file

SCHEMA = "zoo.adapter/1"
CONFIG = "config.json"
HEAD = "head.keras"
BACKBONE_DELTA = "backbone.delta.npz"
METRICS = "metrics.json"
HISTORY = "history.csv"
CURVES = "curves.png"
CONFUSION = "confusion.png"
CARD = "README.md"
HUB_RECORD = "zoo.json"
"""The record's name in a folder pulled from a hub (``zoo.run.hub`` pushes it under this name);
adapters pushed before it have the record as ``config.json``, like a run folder."""
LOGS = "logs"
"""The run's TensorBoard logs: for watching the training, not part of the adapter (never
recorded, so never pushed)."""
UNCHECKED = {CONFIG, CARD}
"""Files not covered by checksums: the config holds them, the card is regenerated on push."""


@dataclass
class RunFolder:
    """A verified run folder."""

    path: Path
    config: dict[str, Any]

    @property
    def class_names(self) -> list[str]:
        return list(self.config["class_names"])

    @property
    def backbone(self) -> dict[str, Any]:
        return self.config["backbone"]

    @property
    def strategy(self) -> dict[str, Any]:
        return self.config["strategy"]

    def file(self, name: str) -> Path:
        return self.path / name

    def has(self, name: str) -> bool:
        return name in self.config.get("files", {})

    def metrics(self) -> dict[str, Any]:
        path = self.file(METRICS)
        return json.loads(path.read_text()) if path.exists() else {}


def record_files(run_dir: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Checksum every file in ``run_dir`` (but the config and card) and write config.json."""
    files = {}
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir).as_posix()
        if path.is_file() and rel not in UNCHECKED and is_run_file(rel):
            files[rel] = sha256_file(path)
    config = {**config, "schema": SCHEMA, "files": files}
    atomic_write_text(run_dir / CONFIG, json.dumps(config, indent=2, sort_keys=False) + "\n")
    return config


def record_path(run_dir: str | os.PathLike) -> Path:
    """The file holding a run's record: ``zoo.json`` in a folder pulled from a hub, where ``config.json``
    is the full model's Keras config (never read by zoo), else ``config.json``."""
    run_dir = Path(run_dir)
    hub_record = run_dir / HUB_RECORD
    return hub_record if hub_record.is_file() else run_dir / CONFIG


def read_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    run_dir = Path(run_dir)
    path = record_path(run_dir)
    if not run_dir.is_dir():
        raise UsageError(f"run folder '{run_dir}' does not exist")
    if not path.is_file():
        raise UsageError(f"'{run_dir}' is not a zoo run: it has no {CONFIG}")
    try:
        config = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(config, dict) or config.get("schema") != SCHEMA:
        found = config.get("schema") if isinstance(config, dict) else None
        raise ConfigError(f"{path}: schema is {found!r}, this zoo reads {SCHEMA!r}; upgrade zoo or re-run training")
    _check_shape(config, path)
    return config


def _check_shape(config: dict[str, Any], path: Path) -> None:
    """The fields loading relies on, with their types: a downloaded config is untrusted input."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise ConfigError(f"{path}: {what}")

    files = config.get("files")
    need(isinstance(files, dict) and all(isinstance(k, str) and isinstance(v, str) and SHA256_HEX.match(v)
                                         for k, v in files.items()),
         "'files' must map file names to sha256 digests")
    names = config.get("class_names")
    need(isinstance(names, list) and len(names) >= 2 and all(isinstance(n, str) for n in names),
         "'class_names' must list at least two class names")
    backbone = config.get("backbone")
    need(isinstance(backbone, dict) and isinstance(backbone.get("name"), str)
         and isinstance(backbone.get("input_size"), int) and not isinstance(backbone.get("input_size"), bool),
         "'backbone' must give at least 'name' and an integer 'input_size'")
    need(isinstance(config.get("strategy"), dict) and isinstance(config["strategy"].get("name"), str),
         "'strategy' must give at least 'name'")
    need(isinstance(config.get("training"), dict) and isinstance(config["training"].get("dataset"), str),
         "'training' must give at least 'dataset'")


def verify_files(run_dir: Path, config: dict[str, Any]) -> None:
    """Refuse a run whose files are missing or differ from the checksums it records."""
    for rel, expected in config["files"].items():
        path = run_dir / rel
        if ".." in Path(rel).parts or Path(rel).is_absolute():
            raise ConfigError(f"{record_path(run_dir)}: file entry {rel!r} points outside the run")
        if not path.is_file():
            raise ZooError(f"{path}: missing; the adapter is incomplete (pull or copy it again)")
        actual = sha256_file(path)
        if actual != expected:
            raise ZooError(
                f"{path}: sha256 mismatch (recorded {expected[:12]}..., found {actual[:12]}...); "
                "the adapter was modified or corrupted, refusing to load it"
            )


def read_run_folder(run_dir: str | os.PathLike, verify: bool = True) -> RunFolder:
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if verify:
        verify_files(run_dir, config)
    return RunFolder(path=run_dir, config=config)


def unrecorded_files(run_dir: Path, config: dict[str, Any]) -> list[str]:
    """Files in a run folder that its config does not record (and so no checksum covers)."""
    found, unchecked = [], {record_path(run_dir).name, CARD}
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir).as_posix()
        if path.is_file() and rel not in config["files"] and rel not in unchecked and is_run_file(rel):
            found.append(rel)
    return found


def is_run_file(rel: str) -> bool:
    """Whether a file of a run folder belongs to the run (and so is recorded): not a hidden file, and not
    the TensorBoard logs, which are for watching the training."""
    return not rel.startswith(".") and rel.split("/")[0] != LOGS


def warn_unrecorded(run: RunFolder) -> None:
    """A local run may hold files of the user's; zoo never reads them, and says that it saw them."""
    import warnings

    from zoo.errors import ZooWarning

    extra = unrecorded_files(run.path, run.config)
    if extra:
        shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
        them = "them" if len(extra) > 1 else "it"
        warnings.warn(f"{run.path} holds {shown}, which its {record_path(run.path).name} does not record: zoo ignores {them}, "
                      f"and no checksum covers {them}", ZooWarning, stacklevel=2)
