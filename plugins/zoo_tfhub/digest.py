"""A TF Hub module's digest, recorded when a run is made and checked whenever it is rebuilt.

A module is weights like any other: a run trained on one module and evaluated on another
of the same shape gives confident nonsense (loss 3.17 instead of 0.99, measured). The
digest covers every file of the SavedModel folder (``saved_model.pb``, ``variables/``,
``assets/``), whether the handle is a folder, a ``.tar.gz`` or a URL.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from zoo.api import BackboneSpec, UsageError, sha256_file

SKIPPED = {".zoo-unpacked"}  # zoo's own marker in an unpacked archive


def module_digest(folder: Path) -> str:
    """sha256 over the sorted relative paths and sha256s of every file in the module folder."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in SKIPPED):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + sha256_file(path).encode() + b"\n")
    return digest.hexdigest()


def pin(spec: BackboneSpec, recorded: dict | None = None) -> tuple[BackboneSpec, dict[str, Any]]:
    """``(spec, {"module": {"handle", "sha256"}})``; with ``recorded`` (an existing run), the module
    must be the one that run was made with."""
    from zoo_tfhub.handles import resolve

    folder = resolve(spec.model)
    digest = module_digest(folder)
    expected = ((recorded or {}).get("module") or {}).get("sha256")
    if expected and expected != digest:
        raise UsageError(f"TF Hub module {spec.model} is not the one this run was made with: its files have "
                         f"digest {digest}, the run recorded {expected}; restore that module, or train again")
    return spec, {"module": {"handle": spec.model, "sha256": digest}}
