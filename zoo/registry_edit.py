"""Adding an ``[adapters.NAME]`` entry to a registry file by editing its text.

A registry file is written by people: comments, order and layout are theirs. So the
entry is replaced or appended as text, never by re-serialising the whole file, and the
result is parsed and validated before it atomically replaces the original.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from zoo.errors import ConfigError, UsageError
from zoo.fileio import atomic_write_text

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


def check_registry_file(path: str | Path) -> None:
    """Refuse early (before any upload) when the file exists but would not load."""
    from zoo.registry import load_registry

    path = Path(path)
    if path.exists():
        _parse(path.read_text(encoding="utf-8"), path)
        load_registry([path])


def set_adapter(path: str | Path, name: str, *, repo: str, revision: str, hub: str = "hf",
                description: str = "") -> Path:
    """Add or replace ``[adapters.NAME]`` in the registry file at ``path``; return the path."""
    from zoo.registry import load_registry

    check_adapter_name(name)
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else NEW_FILE_HEADER
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
    tmp_check = path.with_name(f".{path.name}.check")
    try:
        atomic_write_text(tmp_check, new_text)
        load_registry([tmp_check])  # the same validation every later command applies
    except ConfigError as exc:
        raise ConfigError(str(exc).replace(str(tmp_check), str(path))) from None
    finally:
        tmp_check.unlink(missing_ok=True)
    atomic_write_text(path, new_text)
    return path
