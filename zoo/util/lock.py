"""An OS-level lock that says who owns a folder: held while a process works in it, released by
the OS when that process ends, however it ends (so a killed run stays resumable)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; folders are unguarded there
    fcntl = None

LOCK_FILE = "owner.lock"


class FolderBusy(Exception):
    """Another live process holds the folder's lock."""

    def __init__(self, owner: dict):
        super().__init__(f"held by process {owner.get('pid')}")
        self.owner = owner


@dataclass
class FolderLock:
    fd: int | None

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the lock
            self.fd = None


def _read_owner(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        owner = json.loads(os.read(fd, 4096) or b"{}")
    except (OSError, ValueError):
        owner = {}
    return owner if isinstance(owner, dict) else {}


def lock_folder(folder: str | os.PathLike) -> FolderLock:
    """Take ``folder``'s lock (writing this process's id and start time in it), or raise FolderBusy."""
    if fcntl is None:
        return FolderLock(None)
    fd = os.open(Path(folder) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = _read_owner(fd)
        os.close(fd)
        raise FolderBusy(owner) from None
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, json.dumps({"pid": os.getpid(), "started": time.time()}).encode())
    return FolderLock(fd)


def owner_of(folder: str | os.PathLike) -> dict | None:
    """Who holds ``folder``'s lock now (``{"pid", "started"}``), or None when nobody does."""
    path = Path(folder) / LOCK_FILE
    if fcntl is None or not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_owner(fd)
    finally:
        os.close(fd)
    return None


def busy_message(what: str, owner: dict) -> str:
    started = owner.get("started")
    when = ""
    if isinstance(started, (int, float)):
        today = time.strftime("%Y-%m-%d") == time.strftime("%Y-%m-%d", time.localtime(started))
        when = f" (started {time.strftime('%H:%M' if today else '%Y-%m-%d %H:%M', time.localtime(started))})"
    return f"'{what}' is being trained by process {owner.get('pid', '?')}{when}; wait for it or choose another --out"
