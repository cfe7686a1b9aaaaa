"""Finds, loads and isolates plugins.

Every plugin, built-in or not, comes from the ``zoo`` entry-point group, and each is
loaded and called on its own: one that fails is quarantined with its error instead of
taking the command line down with it.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import pluggy

from zoo.plugin import hookspecs
from zoo.plugin.specs import BackboneSourceSpec, BackboneSpec, DatasetSpec, HubSpec, StrategySpec

ENTRY_POINT_GROUP = "zoo"
HEAVY_MODULES = ("tensorflow", "keras", "torch", "jax")
"""Modules whose import costs seconds: a plugin that imports one at load time slows every command."""
ALLOW_LIST_VAR = "ZOO_PLUGINS"
SPEC_TYPES = {
    "zoo_backbones": BackboneSpec,
    "zoo_backbone_sources": BackboneSourceSpec,
    "zoo_strategies": StrategySpec,
    "zoo_datasets": DatasetSpec,
    "zoo_hubs": HubSpec,
}
PROVIDING_HOOKS = {
    "zoo_backbones": "backbones",
    "zoo_backbone_sources": "backbone_sources",
    "zoo_strategies": "strategies",
    "zoo_datasets": "datasets",
    "zoo_hubs": "hubs",
}


@dataclass
class PluginRecord:
    """What ``zoo plugins`` reports about one entry point."""

    name: str
    module: str
    version: str | None
    distribution: str | None
    status: str = "ok"
    error: str | None = None
    provides: dict[str, list[str]] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)  # added to the CLI through zoo_commands
    conflicts: list[str] = field(default_factory=list)  # names it shares with another plugin, refused
    import_seconds: float = 0.0
    heavy_imports: list[str] = field(default_factory=list)  # TensorFlow & co. that loading it imported

    @property
    def slow_import(self) -> str | None:
        """What makes every ``zoo`` command pay for this plugin, in words, or None."""
        if not self.heavy_imports:
            return None
        return (f"plugin '{self.name}' imports {', '.join(self.heavy_imports)} when loaded ({self.import_seconds:.1f} s "
                f"of every zoo command); ask its authors to import it inside functions, or leave it out of ZOO_PLUGINS")

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "distribution": self.distribution,
            "module": self.module,
            "status": self.status,
            "error": self.error,
            "provides": self.provides,
            "import_seconds": round(self.import_seconds, 3),
            "heavy_imports": self.heavy_imports,
        }


def allow_list() -> set[str] | None:
    """Plugin names allowed by ``ZOO_PLUGINS`` (unset: all; empty: none)."""
    value = os.environ.get(ALLOW_LIST_VAR)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _describe_error(exc: BaseException, where: str) -> str:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" ({os.path.basename(last[0].filename)}:{last[0].lineno})" if last else ""
    return f"{where}: {type(exc).__name__}: {exc}{at}"


class PluginHost:
    """The pluggy manager plus a record per plugin, built once per process."""

    def __init__(self, allowed: set[str] | None = None, load: bool = True):
        self.pm = pluggy.PluginManager("zoo")
        self.pm.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self._results: dict[str, list[tuple[str, Any]]] = {}
        self.current: str | None = None  # the plugin whose hook is running (for error messages)
        self.allowed = allow_list() if allowed is None else allowed
        if load:
            self.load_entry_points()

    def load_entry_points(self) -> None:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if self.allowed is not None and ep.name not in self.allowed:
                continue
            dist = getattr(ep, "dist", None)
            distribution = dist.metadata["Name"] if dist is not None else None
            if ep.name in self.records:
                self._quarantine(ep.name, f"the plugin name '{ep.name}' is registered by both distributions "
                                          f"'{self.records[ep.name].distribution}' and '{distribution}'; uninstall one")
                continue
            self.records[ep.name] = PluginRecord(name=ep.name, module=ep.value, distribution=distribution,
                                                 version=dist.version if dist is not None else None)
            before = {m for m in HEAVY_MODULES if m in sys.modules}
            started = time.perf_counter()
            try:
                module = ep.load()
                record = self.records[ep.name]
                record.import_seconds = time.perf_counter() - started
                record.heavy_imports = [m for m in HEAVY_MODULES if m in sys.modules and m not in before]
                self.pm.register(module, name=ep.name)
                self.pm.check_pending()  # a misspelt hook name would otherwise be silently ignored
            except BaseException as exc:  # a plugin must never take zoo down
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self._quarantine(ep.name, _describe_error(exc, "import failed"))

    def register(self, plugin: object, name: str, version: str | None = None) -> None:
        """Register an in-process plugin object (for embedding zoo in a program)."""
        self.records[name] = PluginRecord(name=name, module=repr(plugin), version=version, distribution=None)
        self.pm.register(plugin, name=name)

    def note_conflict(self, plugins: list[str], message: str) -> None:
        """A name these plugins share is refused; each is shown by ``zoo plugins`` with the reason."""
        for name in plugins:
            record = self.records.get(name)
            if record is not None and message not in record.conflicts:
                record.conflicts.append(message)

    def _quarantine(self, name: str, error: str) -> None:
        record = self.records[name]
        record.status = "error"
        record.error = error if record.error is None else record.error + "; " + error
        if self.pm.get_plugin(name) is not None:
            self.pm.unregister(name=name)
        for hook_results in self._results.values():
            hook_results[:] = [(owner, value) for owner, value in hook_results if owner != name]

    def call(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call one hook on every healthy plugin, each on its own, in name order.

        Returns ``(plugin_name, result)`` pairs. Results of argument-less hooks are
        cached: specs do not change within a process.
        """
        if not kwargs and hook_name in self._results:
            return self._results[hook_name]
        caller = getattr(self.pm.hook, hook_name)
        results: list[tuple[str, Any]] = []
        impls = sorted(caller.get_hookimpls(), key=lambda impl: impl.plugin_name)
        for impl in impls:
            name = impl.plugin_name
            if self.records.get(name, None) is not None and self.records[name].status != "ok":
                continue
            self.current = name
            try:
                value = impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self._quarantine(name, _describe_error(exc, f"{hook_name}() failed"))
                continue
            finally:
                self.current = None
            if value is not None:
                results.append((name, value))
        if not kwargs:
            self._results[hook_name] = results
        return results

    def collect(self, hook_name: str) -> list[tuple[str, Any]]:
        """Flatten a list-returning hook into ``(plugin_name, item)`` pairs.

        A plugin returning anything but the hook's spec class is quarantined: a dict or a
        string where a spec belongs would otherwise break every command that lists things.
        """
        expected = SPEC_TYPES.get(hook_name)
        pairs = []
        for name, value in list(self.call(hook_name)):
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            wrong = [item for item in items if expected is not None and not (
                isinstance(item, expected) and isinstance(item.name, str) and item.name)]
            if wrong:
                self._quarantine(name, f"{hook_name}() returned {type(wrong[0]).__name__} {str(wrong[0])[:60]!r}, "
                                       f"not a {expected.__name__} with a name")
                continue
            pairs.extend((name, item) for item in items)
        return pairs

    def report(self) -> list[PluginRecord]:
        """Every plugin with what it provides; calling the hooks also surfaces their errors."""
        for record in self.records.values():
            record.provides = {}
        for hook_name, key in PROVIDING_HOOKS.items():
            for name, item in self.collect(hook_name):
                self.records[name].provides.setdefault(key, []).append(item.name)
        for record in self.records.values():
            if record.commands:
                record.provides["commands"] = list(record.commands)
            if record.status != "ok":
                record.provides = {}
            elif record.conflicts:
                record.status, record.error = "conflict", "; ".join(record.conflicts)
        return sorted(self.records.values(), key=lambda r: r.name)


def plugin_provenance(name: str) -> dict[str, Any]:
    """``{"plugin", "distribution", "version"}`` of a loaded plugin, as a run's ``config.json``
    records who provided its backbone and strategy (so a later load can say what to install)."""
    record = get_host().records.get(name) if name else None
    return {"plugin": name or None, "distribution": record.distribution if record else None,
            "version": record.version if record else None}


_host: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, loaded on first use."""
    global _host
    if _host is None:
        _host = PluginHost()
    return _host


def reset_host(host: PluginHost | None = None) -> None:
    """Forget the loaded plugins, so the next :func:`get_host` loads them afresh (tests, embedding)."""
    global _host
    _host = host
