"""Fetching a preset's files, pinned and verified: ``pin`` (before every build) and ``pull``.

From the Hub, only the files KerasHub reads are fetched (JSON configs, ``*.safetensors``,
``*.weights.h5``; never pickled PyTorch files), into the HF cache through
``snapshot_download``, so ``HF_HUB_OFFLINE=1`` serves them from there. What was fetched is
pinned: the commit sha and the sha256 of every file, recorded in the run. A file whose
sha256 is not the one pinned (by the registry entry's ``hub_files`` or by the run being
loaded) is refused and removed from the cache. A local preset folder is pinned by the
sha256 of its files in the same way.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

from zoo.api import BackboneSpec, UsageError, ZooError, sha256_file
from zoo_kerashub import hubaccess
from zoo_kerashub.formats import describe_folder
from zoo_kerashub.presets import AUTO, EXTRA, PresetRef, preset_of

PATTERNS = ("config.json", "metadata.json", "preprocessor.json", "image_converter.json", "task.json",
            "preprocessor_config.json", "model.safetensors", "model.safetensors.index.json", "model-*.safetensors",
            "model.weights.h5", "model.weights.json", "model_*.weights.h5", "README.md")
WEIGHTS = ("*.safetensors", "*.weights.h5")

_folders: dict[tuple, Path] = {}  # (model, revision, files) of a pinned spec -> its verified folder, this process
_digests: dict[tuple[str, int, int], str] = {}


class ChecksumRefused(ZooError):
    """A preset file is not the one pinned."""


def require_keras_hub(what: str) -> None:
    """One line saying what to install when KerasHub is missing (checked without importing it)."""
    if importlib.util.find_spec("keras_hub") is None:
        raise UsageError(f"backbone '{what}' needs KerasHub, which is not installed: {EXTRA}")


def digest(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        _digests[key] = sha256_file(path)
    return _digests[key]


def preset_files(folder: Path) -> dict[str, str]:
    """Every file KerasHub may read in ``folder`` (relative name -> sha256)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_file() and any(fnmatch.fnmatch(name, p) for p in PATTERNS):
            found[name] = digest(path)
    return found


def verify(folder: Path, files: dict[str, str], pinned: dict[str, str], where: str, *, forget: bool) -> None:
    """Refuse ``folder`` unless every pinned file is there with its pinned sha256.

    ``forget`` removes a refused file from the HF cache (its snapshot link and blob), so a
    bad download is never used again, here or offline.
    """
    for name, expected in sorted(pinned.items()):
        if name not in files:
            raise ChecksumRefused(f"{where}: {name} is pinned (sha256 {expected[:12]}...) but missing; refusing it")
        if files[name] != expected:
            if forget:
                _forget(folder / name)
            kept = "the file is not kept in the cache" if forget else "the folder was left as it is"
            raise ChecksumRefused(f"{where}: {name} has sha256 {files[name][:12]}..., pinned {expected[:12]}...; "
                                  f"refused it ({kept})")
    if not any(fnmatch.fnmatch(name, p) for name in files for p in WEIGHTS):
        raise UsageError(f"{where}: no weights zoo can load (model.safetensors or model.weights.h5); pickled "
                         "PyTorch files (.bin, .pth) are never loaded")


def _forget(link: Path) -> None:
    blob = link.resolve()
    for path in {link, blob}:
        try:
            path.unlink()
        except OSError:
            pass


def license_of(folder: Path) -> str:
    """The ``license:`` of a model card's YAML front matter, if the card was fetched."""
    card = folder / "README.md"
    if not card.is_file():
        return ""
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return ""
    front = text.split("---", 2)[1] if text.count("---") >= 2 else ""
    match = re.search(r"^license:\s*['\"]?([^'\"\n]+?)['\"]?\s*$", front, re.M)
    return match.group(1).strip() if match else ""


# -- where the files come from -------------------------------------------------------


def _from_hub(ref: PresetRef, pinned: dict[str, str], where: str) -> tuple[Path, dict[str, Any]]:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from zoo.api import __version__

    offline = hubaccess.offline()
    revision = ref.revision or None
    try:
        with hubaccess.bounded_requests():
            folder = Path(snapshot_download(
                ref.location, revision=revision, endpoint=hubaccess.endpoint(), cache_dir=hubaccess.cache_dir(),
                token=hubaccess.token(), local_files_only=offline, allow_patterns=list(PATTERNS),
                library_name="zoo", library_version=__version__))
    except GatedRepoError:
        raise UsageError(f"{where}: hf://{ref.location} is gated; accept its terms on the Hub and set HF_TOKEN") from None
    except RepositoryNotFoundError:
        raise UsageError(f"{where}: no repository hf://{ref.location} on {hubaccess.endpoint()} "
                         "(or it is private: set HF_TOKEN)") from None
    except RevisionNotFoundError:
        raise UsageError(f"{where}: hf://{ref.location} has no revision {ref.revision!r}") from None
    except LocalEntryNotFoundError:
        why = "the HF cache does not hold it and downloads are off (HF_HUB_OFFLINE / ZOO_OFFLINE)" if offline \
            else f"{hubaccess.endpoint()} cannot be reached"
        raise ZooError(f"{where}: hf://{ref.location}{'@' + ref.revision if ref.revision else ''} is needed and "
                       f"{why}; run `zoo pull` for it on a connected machine and copy the HF cache "
                       f"({hubaccess.cache_dir()})") from None
    except (HfHubHTTPError, OSError) as exc:
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ZooError(f"{where}: fetching hf://{ref.location} failed: {reason}") from None
    files = preset_files(folder)
    verify(folder, files, pinned, where, forget=True)
    return folder, {"hub": {"repo": ref.location, "revision": folder.name, "files": files}}


def _from_kaggle(handle: str, pinned: dict[str, str], where: str) -> tuple[Path, dict[str, Any]]:
    try:
        import kagglehub
    except ImportError:
        raise UsageError(f"{where}: kaggle:// presets need kagglehub: {EXTRA}") from None
    if hubaccess.offline():
        os.environ.setdefault("KAGGLEHUB_OFFLINE", "1")  # kagglehub's own switch: its cache only
    try:
        folder = Path(kagglehub.model_download(handle))
    except Exception as exc:  # kagglehub raises its own HTTP and cache errors
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ZooError(f"{where}: fetching kaggle://{handle} failed: {reason}") from None
    files = preset_files(folder)
    verify(folder, files, pinned, where, forget=False)
    return folder, {"kaggle": {"handle": handle, "files": files}}


def _builtin_handle(name: str, where: str) -> str:
    """A KerasHub preset name's Kaggle handle (KerasHub is imported: it holds the table)."""
    import keras_hub  # noqa: F401  (registers the presets)
    from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS

    if name not in BUILTIN_PRESETS:
        raise UsageError(f"{where}: KerasHub has no preset named {name!r}")
    return BUILTIN_PRESETS[name]["kaggle_handle"].removeprefix("kaggle://")


def locate(spec: BackboneSpec, ref: PresetRef, pinned: dict[str, str]) -> tuple[Path, dict[str, Any]]:
    where = f"backbone '{spec.name}'"
    if ref.kind == "hf":
        return _from_hub(ref, pinned, where)
    if ref.kind == "local":
        folder = Path(ref.location)
        if not (folder / "config.json").is_file():
            raise UsageError(f"{where}: the preset folder {folder} is gone or has no config.json")
        files = preset_files(folder)
        verify(folder, files, pinned, where, forget=False)
        return folder, {"preset": {"files": files}}
    handle = ref.location if ref.kind == "kaggle" else _builtin_handle(ref.location, where)
    return _from_kaggle(handle, pinned, where)


# -- the hooks -------------------------------------------------------------------------


def _recorded_pins(spec: BackboneSpec, recorded: dict | None) -> tuple[PresetRef, dict[str, str]]:
    """What to fetch: a run's record when given, else the spec's own pins."""
    ref, pinned = preset_of(spec), dict(spec.hub_files)
    if not recorded:
        return ref, pinned
    hub = recorded.get("hub")
    if isinstance(hub, dict):
        if ref.kind != "hf" or hub.get("repo") != ref.location:
            raise ZooError(f"backbone '{spec.name}' now names {spec.model}, but the run was made on "
                           f"hf://{hub.get('repo')}; restore the registry entry it was made with")
        return PresetRef("hf", ref.location, str(hub.get("revision") or "")), dict(hub.get("files") or {})
    for key in ("preset", "kaggle"):
        if isinstance(recorded.get(key), dict):
            return ref, dict(recorded[key].get("files") or {})
    return ref, pinned


def pin(spec: BackboneSpec, recorded: dict | None = None) -> tuple[BackboneSpec, dict[str, Any]]:
    """Fetch and verify ``spec``'s files; the spec pinned to them, and the record for config.json."""
    require_keras_hub(spec.name)
    ref, pinned = _recorded_pins(spec, recorded)
    folder, record = locate(spec, ref, pinned)
    facts = describe_folder(folder, f"backbone '{spec.name}'")
    files = next(iter(record.values()))["files"]
    changes: dict[str, Any] = {"hub_files": tuple(sorted(files.items()))}
    if "hub" in record:
        changes["hub_revision"] = record["hub"]["revision"]
        changes["base_model"] = spec.base_model or ref.location
    if spec.preprocessing == AUTO:
        changes["preprocessing"] = facts.preprocessing or _default_scaling(spec, facts)
    if spec.feature_dim == 0:  # ad hoc: the files say how big
        changes.update(input_size=facts.input_size or spec.input_size, fixed_size=facts.fixed_size,
                       min_input_size=facts.min_input_size)
    if not spec.stages:
        changes["stages"] = facts.stages
    if not spec.license:
        changes["license"] = license_of(folder)
    pinned_spec = dataclasses.replace(spec, **changes)
    _folders[_key(pinned_spec)] = folder
    return pinned_spec, record


def _default_scaling(spec: BackboneSpec, facts) -> str:
    """The pixel scaling of a preset whose files name none: timm's own default (ImageNet mean/std),
    raw pixels for a KerasHub preset saved without an image converter; a transformers repo
    without ``preprocessor_config.json`` is refused, since its scaling is a guess either way."""
    if facts.kind == "timm":
        return "torch"
    if facts.kind == "transformers":
        raise UsageError(f"backbone '{spec.name}': {spec.model} has no preprocessor_config.json, so the pixel "
                         "scaling its weights were trained with is unknown; add a registry entry for it with "
                         "preprocessing = \"torch\", \"tf\", \"unit\" or \"none\"")
    return "none"


def _key(spec: BackboneSpec) -> tuple:
    return spec.model, spec.hub_revision, spec.hub_files


def local_folder(spec: BackboneSpec) -> Path:
    """The verified folder of a pinned spec (pinned again, from the cache, if this process has not)."""
    if _key(spec) not in _folders:
        spec, _ = pin(spec)
    return _folders[_key(spec)]


def pull(spec: BackboneSpec) -> dict[str, Any]:
    """``zoo pull`` for a KerasHub backbone: its files into the HF (or Kaggle) cache, verified."""
    pinned, record = pin(spec)
    where = next(iter(record))
    details = record[where]
    return {"path": str(local_folder(pinned)), "preset": pinned.model, **details}
