"""TF Hub handles to local SavedModel folders.

A handle is a tfhub.dev or Kaggle URL (any http(s) URL of a compressed module), a
``file://`` URL, a local SavedModel folder, or a local ``.tar.gz`` of one. Remote
modules go through ``tensorflow_hub.resolve`` into its cache (``TFHUB_CACHE_DIR``),
which is looked at first, so a cached module needs no network; archives are unpacked
once into the same cache, in a folder named by the archive's sha256.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from zoo.errors import UsageError, ZooError
from zoo.fileio import atomic_directory, sha256_file

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
SAVED_MODEL = "saved_model.pb"


def is_remote(handle: str) -> bool:
    return handle.startswith(("http://", "https://", "gs://"))


def normalise(handle: str) -> str:
    """A handle that means the same from any working directory: local paths made absolute."""
    handle = handle.strip()
    if handle.startswith("file://"):
        return str(Path(urllib.request.url2pathname(urllib.parse.urlsplit(handle).path)).resolve())
    if is_remote(handle):
        return handle
    return str(Path(handle).expanduser().resolve())


def hub_cache_dir() -> Path:
    """Where ``tensorflow_hub`` caches modules (its own default when TFHUB_CACHE_DIR is unset)."""
    return Path(os.environ.get("TFHUB_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "tfhub_modules"))


def hub_module_dir(handle: str) -> Path:
    """The folder ``tensorflow_hub`` downloads ``handle`` into (sha1 of the handle)."""
    return hub_cache_dir() / hashlib.sha1(handle.encode("utf8")).hexdigest()


def find_saved_model(folder: Path) -> Path | None:
    """``folder`` if it holds a SavedModel, else its one sub-folder that does (archives often nest)."""
    if (folder / SAVED_MODEL).is_file():
        return folder
    if folder.is_dir():
        found = [p.parent for p in folder.glob(f"*/{SAVED_MODEL}")]
        if len(found) == 1:
            return found[0]
    return None


def resolve(handle: str) -> Path:
    """The local SavedModel folder for ``handle``, downloading or unpacking it when needed."""
    handle = normalise(handle)
    if is_remote(handle):
        return _resolve_remote(handle)
    path = Path(handle)
    if path.is_dir():
        found = find_saved_model(path)
        if found is None:
            raise UsageError(f"TF Hub handle {handle}: the folder holds no {SAVED_MODEL}; "
                             f"point at a TF2 SavedModel folder")
        return found
    if path.is_file():
        if not path.name.endswith(ARCHIVE_SUFFIXES):
            raise UsageError(f"TF Hub handle {handle}: a file must be a .tar.gz of a SavedModel")
        return _unpack(path)
    raise UsageError(f"TF Hub handle {handle}: no such folder or file")


def _unpack(archive: Path) -> Path:
    digest = sha256_file(archive)
    target = hub_cache_dir() / f"zoo-archive-{digest[:32]}"
    if not target.is_dir():
        try:
            with atomic_directory(target) as tmp, tarfile.open(archive) as tar:
                _safe_extract(tar, tmp, archive)
        except FileExistsError:  # another process unpacked it meanwhile
            pass
        except tarfile.TarError as exc:
            raise UsageError(f"TF Hub handle {archive}: not a readable tar archive ({exc})") from None
    found = find_saved_model(target)
    if found is None:
        raise UsageError(f"TF Hub handle {archive}: the archive holds no {SAVED_MODEL}")
    return found


def _safe_extract(tar: tarfile.TarFile, folder: Path, archive: Path) -> None:
    """Extract regular files and folders only, never outside ``folder``."""
    if hasattr(tarfile, "data_filter"):
        try:
            tar.extractall(folder, filter="data")
        except tarfile.FilterError as exc:
            raise UsageError(f"TF Hub handle {archive}: refused to unpack ({exc})") from None
        return
    root = folder.resolve()
    for member in tar.getmembers():
        target = (folder / member.name).resolve()
        if not (member.isfile() or member.isdir()) or os.path.commonpath([root, target]) != str(root):
            raise UsageError(f"TF Hub handle {archive}: refused to unpack member {member.name!r}")
    tar.extractall(folder)  # noqa: S202 - members checked above


def _resolve_remote(handle: str) -> Path:
    from zoo.weights import OFFLINE_ENV, check_reachable, is_offline

    cached = find_saved_model(hub_module_dir(handle))
    if cached is not None and not Path(f"{hub_module_dir(handle)}.lock").exists():
        return cached
    hint = (f"download it on a connected machine (`zoo pull tfhub:{handle}` with the same TFHUB_CACHE_DIR), "
            f"or fetch the module's .tar.gz and use tfhub:PATH")
    if is_offline():
        raise ZooError(f"TF Hub module {handle} is not in the cache {hub_cache_dir()} and {OFFLINE_ENV} "
                       f"forbids downloading it; {hint}")
    try:
        check_reachable(handle)
    except OSError as exc:
        host = urllib.parse.urlsplit(handle).hostname
        raise ZooError(f"TF Hub module {handle} is not cached and {host} cannot be reached "
                       f"({exc.strerror or exc or type(exc).__name__}); {hint}") from None
    import tensorflow_hub as hub

    from zoo.weights import READ_TIMEOUT, socket_timeout

    try:
        with socket_timeout(READ_TIMEOUT):
            folder = Path(hub.resolve(handle))
    except Exception as exc:  # urllib/HTTP/tar errors, all with their own text
        raise ZooError(f"TF Hub module {handle} could not be downloaded: {exc}") from None
    found = find_saved_model(folder)
    if found is None:
        raise ZooError(f"TF Hub module {handle}: the download holds no {SAVED_MODEL} (is it a TF1 hub.Module?)")
    return found
