"""The catalogue files: ``registry.toml`` and the layers users put on top of it.

Layers, each overriding the one before field by field:

1. the built-in ``registry.toml`` shipped inside the ``zoo`` package;
2. ``$ZOO_REGISTRY`` if set, else ``$XDG_CONFIG_HOME/zoo/registry.toml``
   (``~/.config/zoo/registry.toml``);
3. ``./registry.toml`` in the working directory.

Every entry is checked on load and an error names the file, the entry and the field,
so a typo in a user's file is a one-line fix, not a traceback.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, NoReturn

from zoo.errors import ConfigError
from zoo.plugin.specs import PREPROCESSING_MODES, AdapterEntry, BackboneSpec, WeightsSpec
from zoo.util.files import SHA256_HEX

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

BUILTIN_REGISTRY = Path(__file__).with_name("registry.toml")
SECTIONS = ("backbones", "adapters")
HEX40 = re.compile(r"^[0-9a-f]{40}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def user_registry_path() -> Path:
    if os.environ.get("ZOO_REGISTRY"):
        return Path(os.environ["ZOO_REGISTRY"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "zoo" / "registry.toml"


def layer_paths() -> list[Path]:
    """The registry files in the order they apply, existing or not, without repeats.

    A layer that is the built-in file itself (the repository's ``registry.toml`` when zoo
    runs from a checkout: the packaged file links to it, or a wheel holds its copy) is
    left out, so the built-in catalogue is applied once and its errors name one file.
    """
    paths, seen = [], set()
    builtin = BUILTIN_REGISTRY.read_bytes() if BUILTIN_REGISTRY.is_file() else None
    for path in (BUILTIN_REGISTRY, user_registry_path(), Path.cwd() / "registry.toml"):
        key = path.resolve() if path.exists() else path.absolute()
        if key in seen or (paths and path.is_file() and path.read_bytes() == builtin):
            continue
        seen.add(key)
        paths.append(path)
    return paths


def read_toml(path: Path, what: str = "TOML file") -> dict[str, Any]:
    """Parse a TOML file, turning syntax errors into one line with the file and line."""
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid {what}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}") from None


@dataclass
class _Entry:
    """One merged entry, remembering which file set each field."""

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, Path] = field(default_factory=dict)
    defined_in: Path | None = None


@dataclass
class Registry:
    backbones: dict[str, BackboneSpec]
    adapters: dict[str, AdapterEntry]
    files: list[Path]


def _merge(into: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            into[key] = _merge(dict(into[key]), value)
        else:
            into[key] = value
    return into


def load_registry(paths: list[Path] | None = None) -> Registry:
    """Read, merge and validate every layer that exists."""
    paths = layer_paths() if paths is None else paths
    merged: dict[str, dict[str, _Entry]] = {section: {} for section in SECTIONS}
    read: list[Path] = []
    for path in paths:
        if not path.exists():
            if path == BUILTIN_REGISTRY:
                raise ConfigError(f"{path}: the built-in registry is missing; reinstall zoo")
            if os.environ.get("ZOO_REGISTRY") and path == user_registry_path():
                raise ConfigError(f"ZOO_REGISTRY names {path}, which does not exist; fix or unset it")
            continue
        doc = read_toml(path, "registry")
        read.append(path)
        for key, section in doc.items():
            if key not in SECTIONS:
                raise ConfigError(f"{path}: unknown table [{key}]; a registry has only [backbones.NAME] and [adapters.NAME]")
            if not isinstance(section, dict):
                raise ConfigError(f"{path}: '{key}' must be a table of entries like [{key}.NAME]")
            for name, body in section.items():
                if not isinstance(body, dict):
                    raise ConfigError(f"{path}: {key}.{name}: must be a table, got {type(body).__name__}")
                entry = merged[key].setdefault(name, _Entry(defined_in=path))
                _merge(entry.data, body)
                for field_name in body:
                    entry.origins[field_name] = path
    backbones = {name: _backbone(name, entry) for name, entry in merged["backbones"].items()}
    adapters = {name: _adapter(name, entry) for name, entry in merged["adapters"].items()}
    return Registry(backbones=backbones, adapters=adapters, files=read)


class _Checker:
    """Reads typed fields out of one entry, raising errors that point at the file."""

    def __init__(self, section: str, name: str, entry: _Entry, allowed: set[str]):
        self.section, self.name, self.entry = section, name, entry
        for key in entry.data:
            if key not in allowed:
                self.fail(key, f"unknown field; known fields are {', '.join(sorted(allowed))}")

    def fail(self, key: str, problem: str) -> NoReturn:
        path = self.entry.origins.get(key.split(".")[0], self.entry.defined_in)
        raise ConfigError(f"{path}: {self.section}.{self.name}: field '{key}': {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], required: bool = False, default: Any = None,
            check: Callable[[Any], bool] | None = None, expect: str = "") -> Any:
        if key not in self.entry.data:
            if required:
                self.fail(key, "is required")
            return default
        value = self.entry.data[key]
        ok = isinstance(value, kind) and not (kind in (int, (int,)) and isinstance(value, bool))
        if not ok or (check is not None and not check(value)):
            wanted = expect or getattr(kind, "__name__", str(kind))
            self.fail(key, f"must be {wanted}, got {value!r}")
        return value


BACKBONE_FIELDS = {
    "source", "model", "input_size", "min_input_size", "fixed_size", "channels", "preprocessing",
    "feature_dim", "stages", "params", "weights", "default_weights", "options", "description",
    "license", "base_model", "hub_revision", "hub_files",
}
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
WEIGHTS_FIELDS = {"file", "url", "sha256", "md5", "note", "license"}


def _positive(value: int) -> bool:
    return value >= 1


def _backbone(name: str, entry: _Entry) -> BackboneSpec:
    c = _Checker("backbones", name, entry, BACKBONE_FIELDS)
    input_size = c.get("input_size", int, required=True, check=_positive, expect="an integer >= 1")
    min_size = c.get("min_input_size", int, check=_positive, expect="an integer >= 1")
    if min_size is not None and min_size > input_size:
        c.fail("min_input_size", f"must not exceed input_size ({input_size}), got {min_size}")
    weights = _weights(c, entry.data.get("weights", {}))
    default_weights = c.get("default_weights", str, default="imagenet" if any(w.name == "imagenet" for w in weights) else "none")
    if default_weights not in ("none", "builtin") and not any(w.name == default_weights for w in weights):
        c.fail("default_weights", f"names no [backbones.{name}.weights.{default_weights}] table")
    return BackboneSpec(
        name=name,
        source=c.get("source", str, required=True),
        model=c.get("model", str, required=True),
        input_size=input_size,
        min_input_size=min_size,
        fixed_size=c.get("fixed_size", bool, default=False),
        channels=c.get("channels", int, default=3, check=lambda v: v in (1, 3), expect="1 or 3"),
        preprocessing=c.get("preprocessing", str, default="none", check=lambda v: v in PREPROCESSING_MODES,
                            expect="one of " + ", ".join(PREPROCESSING_MODES)),
        feature_dim=c.get("feature_dim", int, required=True, check=_positive, expect="an integer >= 1"),
        stages=_stages(c, entry.data.get("stages")),
        params=c.get("params", int, check=_positive, expect="an integer >= 1"),
        weights=weights,
        default_weights=default_weights,
        options=tuple(c.get("options", dict, default={}).items()),
        description=c.get("description", str, default=""),
        origin=str(entry.defined_in),
        license=c.get("license", str, default=""),
        base_model=c.get("base_model", str, default="", check=lambda v: bool(REPO_ID.match(v)),
                         expect="a Hugging Face repo id like 'owner/name'"),
        hub_revision=c.get("hub_revision", str, default="", check=lambda v: bool(HEX40.match(v)),
                           expect="a full 40-character commit sha (lowercase hex)"),
        hub_files=_hub_files(c, entry.data.get("hub_files", {})),
    )


def _hub_files(c: _Checker, value: Any) -> tuple[tuple[str, str], ...]:
    """``[backbones.X.hub_files]``: file name in the hub repo -> its pinned sha256."""
    if not isinstance(value, dict):
        c.fail("hub_files", "must be a table of \"file name\" = \"sha256\"")
    for file_name, digest in value.items():
        if not (isinstance(digest, str) and SHA256_HEX.match(digest)):
            c.fail(f"hub_files.{file_name}", f"must be 64 lowercase hex digits, got {digest!r}")
    return tuple(sorted(value.items()))


def _stages(c: _Checker, value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``stages = ["block1", ...]`` (a stage covers layers named ``block1_*``) or a table."""
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple((stage, (stage + "_",)) for stage in value)
    if isinstance(value, dict) and all(
        isinstance(v, list) and v and all(isinstance(p, str) for p in v) for v in value.values()
    ):
        return tuple((stage, tuple(prefixes)) for stage, prefixes in value.items())
    c.fail("stages", "must be a list of stage names or a table of stage = [layer-name prefixes]")


def is_bare_file_name(name: str) -> bool:
    """A weights file name must stay inside the mirror and cache folders it is looked up in."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


def _weights(c: _Checker, value: Any) -> tuple[WeightsSpec, ...]:
    if not isinstance(value, dict):
        c.fail("weights", "must be a table of [weights.NAME] tables")
    specs = []
    for wname, body in value.items():
        where = f"weights.{wname}"
        if not isinstance(body, dict):
            c.fail(where, "must be a table with at least 'file'")
        for key in body:
            if key not in WEIGHTS_FIELDS:
                c.fail(f"{where}.{key}", f"unknown field; known fields are {', '.join(sorted(WEIGHTS_FIELDS))}")
        if not isinstance(body.get("file"), str) or not body["file"]:
            c.fail(f"{where}.file", "is required: the file name in the mirror and cache")
        if not is_bare_file_name(body["file"]):
            c.fail(f"{where}.file", f"must be a bare file name, got {body['file']!r}")
        for key, pattern, what in (("sha256", SHA256_HEX, "64 lowercase hex digits"), ("md5", HEX32, "32 lowercase hex digits")):
            if key in body and not (isinstance(body[key], str) and pattern.match(body[key])):
                c.fail(f"{where}.{key}", f"must be {what}, got {body[key]!r}")
        for key in ("url", "note", "license"):
            if key in body and not isinstance(body[key], str):
                c.fail(f"{where}.{key}", f"must be a string, got {body[key]!r}")
        specs.append(WeightsSpec(name=wname, **body))
    return tuple(specs)


ADAPTER_FIELDS = {"repo", "revision", "hub", "description"}


def _adapter(name: str, entry: _Entry) -> AdapterEntry:
    c = _Checker("adapters", name, entry, ADAPTER_FIELDS)
    return AdapterEntry(
        name=name,
        repo=c.get("repo", str, required=True, check=lambda v: v.count("/") <= 1 and bool(v.strip("/")),
                   expect="a repo id like 'owner/name'"),
        revision=c.get("revision", str, required=True, check=lambda v: bool(HEX40.match(v)),
                       expect="a full 40-character commit sha"),
        hub=c.get("hub", str, default="hf"),
        description=c.get("description", str, default=""),
        origin=str(entry.defined_in),
    )
