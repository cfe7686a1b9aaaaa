"""Adding an ``[adapters.NAME]`` entry to a registry file by editing its text.

A registry file is written by people: comments, order and layout are theirs. So the
entry is replaced or appended as text, never by re-serialising the whole file. The
result is validated as every later command will read it, on top of the other registry
layers (built-in, user), before it replaces the original: under a unique temporary
name beside it, then renamed. A registry file that is a symbolic link is edited where
it points, so the link stays.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

from zoo.errors import ConfigError, UsageError
from zoo.util.files import atomic_write_text

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ADAPTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
NEW_FILE_HEADER = "# zoo registry layer for this directory; `zoo push --register NAME` adds adapters here.\n"
_TABLE_HEADER = re.compile(r"^[ \t]*\[")


def check_adapter_name(name: str) -> None:
    if not ADAPTER_NAME.match(name or ""):
        raise UsageError(
            f"adapter name {name!r} is not usable; use letters, digits, '-' and '_' (starting with a letter or digit)"
        )


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escapes are TOML's, minus DEL which TOML wants escaped)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _parse(text: str, path: Path) -> dict:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid registry: {exc}; fix it before registering adapters") from None


def _entry_span(lines: list[str], name: str) -> tuple[int, int] | None:
    """Line range of the ``[adapters.NAME]`` table: its header through its last key line."""
    header = re.compile(r"^[ \t]*\[[ \t]*adapters[ \t]*\.[ \t]*(?:%s|\"%s\"|'%s')[ \t]*\][ \t]*(?:#.*)?$"
                        % ((re.escape(name),) * 3))
    for start, line in enumerate(lines):
        if header.match(line.rstrip("\r\n")):
            end = start + 1
            last_content = start + 1
            while end < len(lines) and not _TABLE_HEADER.match(lines[end]):
                stripped = lines[end].strip()
                if stripped and not stripped.startswith("#"):
                    last_content = end + 1
                end += 1
            return start, last_content  # comments before the next table stay with it
    return None


def _layers_with(path: Path, stand_in: Path) -> list[Path]:
    """Every registry layer in order, with ``stand_in`` read in place of ``path`` (last if it is no layer)."""
    from zoo.registry.layers import layer_paths

    target = os.path.realpath(path)
    layers = [stand_in if os.path.realpath(p) == target else p for p in layer_paths()]
    return layers if stand_in in layers else [*layers, stand_in]


def _validate(path: Path, stand_in: Path) -> None:
    """Load the registry as commands will, errors naming ``path`` rather than the stand-in."""
    from zoo.registry.layers import load_registry

    try:
        load_registry(_layers_with(path, stand_in))
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(str(stand_in), str(path))) from None


def edited_file(path: str | Path) -> Path:
    """The file an edit of ``path`` changes: the target of a symbolic link, else ``path``."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)


def check_registry_file(path: str | Path) -> None:
    """Refuse early (before any upload) when the registry, with this file as it is, would not load."""
    path = Path(path)
    if path.exists():
        _parse(edited_file(path).read_text(encoding="utf-8"), path)
        _validate(path, path)


def set_adapter(path: str | Path, name: str, *, repo: str, revision: str, hub: str = "hf",
                description: str = "") -> Path:
    """Add or replace ``[adapters.NAME]`` in the registry file at ``path``; return the path."""
    check_adapter_name(name)
    path = Path(path)
    target = edited_file(path)
    text = target.read_text(encoding="utf-8") if target.exists() else NEW_FILE_HEADER
    current = _parse(text, path)
    block = [f"[adapters.{name}]\n", f"repo = {toml_string(repo)}\n", f"revision = {toml_string(revision)}\n",
             f"hub = {toml_string(hub)}\n"]
    if description:
        block.append(f"description = {toml_string(description)}\n")
    lines = text.splitlines(keepends=True)
    span = _entry_span(lines, name)
    if span is not None:
        lines[span[0]:span[1]] = block
    elif name in (current.get("adapters") or {}):
        raise ConfigError(
            f"{path}: adapters.{name} is not written as an [adapters.{name}] table, so zoo cannot rewrite it; "
            "edit or remove it by hand"
        )
    else:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        if lines and lines[-1].strip():
            lines.append("\n")
        lines.extend(block)
    new_text = "".join(lines)
    _parse(new_text, path)
    _replace_validated(path, target, new_text)
    return path


def _replace_validated(path: Path, target: Path, text: str) -> None:
    """Validate ``text`` from a uniquely named file beside ``target``, then atomically replace ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".check", dir=target.parent)
    stand_in = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        _validate(path, stand_in)
    finally:
        stand_in.unlink(missing_ok=True)
    atomic_write_text(target, text)  # its own unique temporary file, then os.replace
