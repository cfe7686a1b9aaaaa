"""TF Hub handles to local SavedModel folders.

A handle is a tfhub.dev or Kaggle URL (any http(s) URL of a compressed module), a
``file://`` URL, a local SavedModel folder, or a local ``.tar.gz`` of one. Remote
modules go through ``tensorflow_hub.resolve`` into its cache (``TFHUB_CACHE_DIR``),
which is looked at first, so a cached module needs no network; archives are unpacked
once into the same cache, in a folder named by the archive's sha256. ``gs://``
buckets are not read: copy the module locally and give its folder or archive.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

from zoo.api import UsageError, ZooError, atomic_directory, sha256_file

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
SAVED_MODEL = "saved_model.pb"


def is_remote(handle: str) -> bool:
    return handle.startswith(("http://", "https://"))


def normalise(handle: str) -> str:
    """A handle that means the same from any working directory: local paths made absolute."""
    handle = handle.strip()
    if handle.startswith("gs://"):
        raise UsageError(f"TF Hub handle {handle}: zoo does not read Google Cloud Storage; copy the module "
                         f"(e.g. `gsutil cp -r {handle} .`) and give its local folder")
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


UNPACKED = ".zoo-unpacked"
"""Written last inside an unpacked archive: a folder without it is not a complete copy."""


def _unpack(archive: Path) -> Path:
    digest = sha256_file(archive)
    target = hub_cache_dir() / f"zoo-archive-{digest[:32]}"
    if target.is_dir() and not (target / UNPACKED).is_file():
        shutil.rmtree(target, ignore_errors=True)  # left by something else, or cut short: unpack it again
    if not target.is_dir():
        try:
            with atomic_directory(target) as tmp, tarfile.open(archive) as tar:
                _safe_extract(tar, tmp, archive)
                _read_to_the_end(tar)
                (tmp / UNPACKED).write_text(digest)
        except UsageError:
            if not target.is_dir():
                raise
            # Another process unpacked the same archive meanwhile: its copy is as good as ours,
            # which atomic_directory has discarded.
        except OSError as exc:
            if exc.errno is None:  # gzip's BadGzipFile and the like: the data, not the disk
                raise _unreadable(archive, exc) from None
            raise ZooError(f"TF Hub handle {archive}: cannot unpack it into {hub_cache_dir()}: "
                           f"{exc.strerror}") from None
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            raise _unreadable(archive, exc) from None
    found = find_saved_model(target)
    if found is None:
        raise UsageError(f"TF Hub handle {archive}: the archive holds no {SAVED_MODEL}")
    return found


def _read_to_the_end(tar: tarfile.TarFile) -> None:
    """Read what follows the last member, so that gzip, bz2 and xz check their trailing checksums.

    ``tarfile`` stops at the end-of-archive marker, before a compressed stream's CRC: a
    damaged download would otherwise unpack without a word.
    """
    while tar.fileobj.read(1 << 20):
        pass


def _unreadable(archive: Path, exc: BaseException) -> UsageError:
    if isinstance(exc, tarfile.ReadError) and "opened successfully" in str(exc):
        reason = "not a tar, tar.gz, tar.bz2 or tar.xz file"
    elif isinstance(exc, EOFError):
        reason = "it ends early, truncated"
    else:
        reason = " ".join(str(exc).split()) or type(exc).__name__
    return UsageError(f"TF Hub handle {archive}: not a readable archive ({reason}); "
                      f"download it again or give the unpacked SavedModel folder")


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
    from zoo.api import (
        OFFLINE_ENV,
        check_reachable,
        is_offline,
        read_timeout,
        socket_timeout,
        stalled,
        timed_out,
        unreachable,
    )

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
        raise ZooError(f"TF Hub module {handle} is not cached and {unreachable(handle, exc)}; {hint}") from None
    from zoo.api import import_tensorflow

    import_tensorflow()  # tensorflow_hub loads it; without its start-up notices
    import tensorflow_hub as hub

    seconds = read_timeout()
    try:
        with socket_timeout(seconds):
            folder = Path(hub.resolve(handle))
    except Exception as exc:  # urllib/HTTP/tar errors, all with their own text
        if timed_out(exc):
            raise ZooError(f"TF Hub module {handle} is not cached and {stalled(handle, seconds)}; {hint}") from None
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ZooError(f"TF Hub module {handle} could not be downloaded: {reason}") from None
    found = find_saved_model(folder)
    if found is None:
        raise ZooError(f"TF Hub module {handle}: the download holds no {SAVED_MODEL} (is it a TF1 hub.Module?)")
    return found
