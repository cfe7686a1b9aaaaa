"""One view of everything nameable: plugin-provided specs joined with the registry.

Each kind is assembled on first use, so ``zoo list strategies`` never reads the
registry and a clash between two plugins only stops the commands that need that kind.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from functools import cached_property
from typing import Any

from zoo.errors import ConfigError, PluginConflictError, UsageError, unknown_name
from zoo.plugin.host import PluginHost, get_host
from zoo.plugin.specs import (
    AdapterEntry,
    BackboneSourceSpec,
    BackboneSpec,
    DatasetSpec,
    HubSpec,
    StrategySpec,
    load_object,
)
from zoo.registry.layers import Registry, is_bare_file_name, load_registry


def _unique(host: PluginHost, hook: str, kind: str, conflicts: dict[str, str]) -> dict[str, Any]:
    """Items of a hook by name, stamped with their plugin. A name two plugins provide is left
    out, its reason kept in ``conflicts`` (by name) and on both plugins' records; every other
    name of theirs keeps working."""
    found: dict[str, Any] = {}
    sharing: dict[str, list[str]] = {}
    for plugin, item in host.collect(hook):
        if item.name in sharing:
            sharing[item.name].append(plugin)
        elif item.name in found:
            sharing[item.name] = [found.pop(item.name).plugin, plugin]
        else:
            found[item.name] = dataclasses.replace(item, plugin=plugin)
    for name, plugins in sharing.items():
        _refuse(host, conflicts, name, plugins,
                f"{kind} '{name}' is provided by both plugins {' and '.join(repr(p) for p in plugins)}; "
                "uninstall one, or leave one out of ZOO_PLUGINS")
    return found


def _refuse(host: PluginHost, conflicts: dict[str, str], name: str, plugins: list[str], message: str) -> None:
    import warnings

    from zoo.errors import ZooWarning

    conflicts[name] = message
    host.note_conflict(plugins, message)
    warnings.warn(message, ZooWarning, stacklevel=3)


def matches(name: str, pattern: str | None) -> bool:
    """``zoo list`` filtering: a glob if it has wildcards, else a substring."""
    if not pattern:
        return True
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatch(name, pattern)
    return pattern.lower() in name.lower()


class Catalog:
    def __init__(self, host: PluginHost | None = None, registry: Registry | None = None):
        self.host = host or get_host()
        self._registry = registry
        self.conflicts: dict[str, dict[str, str]] = {}  # kind -> refused name -> why (two providers)

    def _refused(self, kind: str) -> dict[str, str]:
        return self.conflicts.setdefault(kind, {})

    def _check_refused(self, kind: str, name: str) -> None:
        if name in self.conflicts.get(kind, {}):
            raise PluginConflictError(self.conflicts[kind][name])

    def check_all(self) -> None:
        """Assemble every kind, so that every clash between plugins is known (``zoo plugins``)."""
        for kind in ("backbone_sources", "strategies", "datasets", "hubs", "backbones"):
            getattr(self, kind)

    @cached_property
    def registry(self) -> Registry:
        return self._registry or load_registry()

    @cached_property
    def backbone_sources(self) -> dict[str, BackboneSourceSpec]:
        return _unique(self.host, "zoo_backbone_sources", "backbone source", self._refused("backbone source"))

    @cached_property
    def strategies(self) -> dict[str, StrategySpec]:
        return _unique(self.host, "zoo_strategies", "strategy", self._refused("strategy"))

    @cached_property
    def datasets(self) -> dict[str, DatasetSpec]:
        return _unique(self.host, "zoo_datasets", "dataset", self._refused("dataset"))

    @cached_property
    def hubs(self) -> dict[str, HubSpec]:
        hubs = _unique(self.host, "zoo_hubs", "hub", self._refused("hub"))
        by_scheme: dict[str, list[str]] = {}
        for hub in hubs.values():
            by_scheme.setdefault(hub.scheme, []).append(hub.name)
        for scheme, names in by_scheme.items():
            if len(names) > 1:
                plugins = [hubs[n].plugin for n in names]
                _refuse(self.host, self._refused("hub scheme"), scheme, plugins,
                        f"hub scheme '{scheme}://' is provided by both plugins "
                        f"{' and '.join(repr(p) for p in plugins)}; uninstall one")
                for n in names:
                    del hubs[n]
        return hubs

    @cached_property
    def backbones(self) -> dict[str, BackboneSpec]:
        """Registry entries (built by their source's plugin) plus plugin-provided backbones."""
        refused = self._refused("backbone")
        from_plugins = _unique(self.host, "zoo_backbones", "backbone", refused)
        result: dict[str, BackboneSpec] = {}
        for name, spec in self.registry.backbones.items():
            if name in from_plugins:
                plugin = from_plugins.pop(name).plugin
                _refuse(self.host, refused, name, [plugin], f"backbone '{name}' is defined both in {spec.origin} "
                                                            f"and by plugin '{plugin}'; rename or remove one")
                continue
            owner = self.backbone_sources.get(spec.source)
            result[name] = dataclasses.replace(spec, plugin=owner.plugin if owner else "")
        for name, spec in from_plugins.items():
            for weights in spec.weights:
                if not is_bare_file_name(weights.file):
                    raise ConfigError(f"plugin '{spec.plugin}': backbone '{name}' names weights file "
                                      f"{weights.file!r}; it must be a bare file name")
            result[name] = dataclasses.replace(spec, origin=f"plugin {spec.plugin}")
        return result

    @cached_property
    def adapters(self) -> dict[str, AdapterEntry]:
        return dict(self.registry.adapters)

    # -- lookups ---------------------------------------------------------------

    def backbone(self, name: str) -> BackboneSpec:
        """A registry/plugin backbone, or ``SOURCE:ARGUMENT`` for sources that allow it."""
        if name in self.backbones:
            spec = self.backbones[name]
            self.backbone_source(spec.source, spec)
            return spec
        self._check_refused("backbone", name)
        prefix, sep, argument = name.partition(":")
        if sep:
            self._check_refused("backbone source", prefix)
        if sep and prefix in self.backbone_sources:
            source = self.backbone_sources[prefix]
            if not source.adhoc:
                raise UsageError(f"backbone source '{prefix}' cannot be used as '{prefix}:...'; pick a named backbone")
            if not argument:
                raise UsageError(f"backbone '{name}' needs something after '{prefix}:'")
            spec = load_object(source.adhoc)(argument)
            return dataclasses.replace(spec, plugin=source.plugin, origin="command line")
        raise unknown_name("backbone", name, sorted(self.backbones))

    def backbone_source(self, source: str, spec: BackboneSpec | None = None) -> BackboneSourceSpec:
        self._check_refused("backbone source", source)
        if source not in self.backbone_sources:
            who = f"backbone '{spec.name}' ({spec.origin}) needs" if spec else "needed:"
            raise UsageError(
                f"{who} backbone source '{source}', which no loaded plugin provides; "
                f"check `zoo plugins` (known sources: {', '.join(sorted(self.backbone_sources)) or 'none'})"
            )
        return self.backbone_sources[source]

    def strategy(self, name: str) -> StrategySpec:
        if name not in self.strategies:
            self._check_refused("strategy", name)
            raise unknown_name("strategy", name, sorted(self.strategies))
        return self.strategies[name]

    def dataset(self, ref: str) -> tuple[DatasetSpec, str | None]:
        """``folder:PATH`` -> (the folder spec, "PATH"); ``digits`` -> (its spec, None)."""
        kind, sep, argument = ref.partition(":")
        if kind not in self.datasets:
            self._check_refused("dataset", kind)
            raise unknown_name("dataset", kind if sep else ref, sorted(self.datasets))
        spec = self.datasets[kind]
        if spec.argument and not argument:
            raise UsageError(f"dataset '{kind}' needs its {spec.argument}: write {kind}:{spec.argument}")
        if not spec.argument and sep:
            raise UsageError(f"dataset '{kind}' takes no argument; write just '{kind}'")
        return spec, (argument or None)

    def hub_for_scheme(self, scheme: str) -> HubSpec:
        for hub in self.hubs.values():
            if hub.scheme == scheme:
                return hub
        self._check_refused("hub scheme", scheme)
        raise unknown_name("hub", scheme, sorted(h.scheme for h in self.hubs.values()))

    def adapter(self, name: str) -> AdapterEntry:
        if name not in self.adapters:
            raise unknown_name("adapter", name, sorted(self.adapters))
        return self.adapters[name]


_catalog: Catalog | None = None


def get_catalog() -> Catalog:
    global _catalog
    if _catalog is None:
        _catalog = Catalog()
    return _catalog


def reset_catalog() -> None:
    global _catalog
    _catalog = None
