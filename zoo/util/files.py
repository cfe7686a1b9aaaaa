"""Writing files so that a crash never leaves half of one behind.

Everything zoo writes (weights, run folders, registry edits) goes to a temporary
path beside its destination and is renamed into place once complete: rename is atomic
on one file system, so readers see the old thing or the new thing, never a mix.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

CHUNK = 1 << 20

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
"""A sha256 digest as :func:`sha256_file` writes it (and registries and run configs record it)."""


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _read_umask()
"""Read once, at import: reading it means setting it, which must not race other threads."""


def _usual_mode(path: str | os.PathLike, directory: bool = False, like: str | os.PathLike | None = None) -> None:
    """mkstemp/mkdtemp make private files; finished ones get the usual permissions,
    or those of the file they replace."""
    if like is not None and os.path.exists(like):
        os.chmod(path, os.stat(like).st_mode & 0o7777)
    else:
        os.chmod(path, (0o777 if directory else 0o666) & ~UMASK)


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        _usual_mode(tmp, like=path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(destination: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary directory that becomes ``destination`` on success.

    On any exception the temporary directory is removed. ``destination`` must not exist,
    neither now nor when the work is done: nothing is ever overwritten.
    """
    from zoo.errors import UsageError

    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists():
        raise UsageError(f"'{destination}' already exists; pass another output path or remove it")
    tmp = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent))
    _usual_mode(tmp, directory=True)
    try:
        yield tmp
        appeared = UsageError(f"'{destination}' appeared while zoo was writing it; nothing was overwritten")
        if destination.exists():
            raise appeared
        try:
            os.rename(tmp, destination)
        except OSError as exc:  # another process renamed its own into place in between
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                raise appeared from None
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# -- full disks ---------------------------------------------------------------------------

_NO_SPACE_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_SHORT_WRITE = re.compile(r"\b\d+ requested and \d+ written\b|No space left on device|Disk quota exceeded")


def is_out_of_space(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed for want of space (NumPy and h5py say so in their own words)."""
    while exc is not None:
        if isinstance(exc, OSError) and (exc.errno in _NO_SPACE_ERRNOS or _SHORT_WRITE.search(str(exc))):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def mount_point(path: str | os.PathLike) -> Path:
    """The file system ``path`` is on, named by where it is mounted (what ``df`` shows)."""
    path = Path(path).absolute()
    while not path.exists():
        path = path.parent
    while not os.path.ismount(path):
        path = path.parent
    return path


def size_words(size: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.0f} {unit}" if size >= 10 * scale else f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def out_of_space(where: str | os.PathLike, what: str, size: int, advice: str):
    """The one line for a full disk: which file system, what was being written, about how much, what to do."""
    from zoo.errors import ZooError

    return ZooError(f"no space left on {mount_point(where)} writing {what} (about {size_words(size)}); {advice}")


def reserve_space(path: str | os.PathLike) -> None:
    """Allocate the blocks of ``path``'s whole length now, so a full disk is an error here and not a
    crash (SIGBUS) later when a memory-mapped page of it is first written."""
    with open(path, "r+b") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size and hasattr(os, "posix_fallocate"):
            os.posix_fallocate(handle.fileno(), 0, size)
