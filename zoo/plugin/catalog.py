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


def _unique(host: PluginHost, hook: str, kind: str) -> dict[str, Any]:
    """Items of a hook by name, stamped with their plugin; a shared name is an error."""
    found: dict[str, Any] = {}
    for plugin, item in host.collect(hook):
        if item.name in found:
            other = found[item.name].plugin
            raise PluginConflictError(
                f"{kind} '{item.name}' is provided by both plugins '{other}' and '{plugin}'; "
                f"uninstall one, or leave one out of ZOO_PLUGINS"
            )
        found[item.name] = dataclasses.replace(item, plugin=plugin)
    return found


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

    @cached_property
    def registry(self) -> Registry:
        return self._registry or load_registry()

    @cached_property
    def backbone_sources(self) -> dict[str, BackboneSourceSpec]:
        return _unique(self.host, "zoo_backbone_sources", "backbone source")

    @cached_property
    def strategies(self) -> dict[str, StrategySpec]:
        return _unique(self.host, "zoo_strategies", "strategy")

    @cached_property
    def datasets(self) -> dict[str, DatasetSpec]:
        return _unique(self.host, "zoo_datasets", "dataset")

    @cached_property
    def hubs(self) -> dict[str, HubSpec]:
        hubs = _unique(self.host, "zoo_hubs", "hub")
        by_scheme: dict[str, str] = {}
        for hub in hubs.values():
            if hub.scheme in by_scheme:
                raise PluginConflictError(
                    f"hub scheme '{hub.scheme}://' is provided by both plugins "
                    f"'{hubs[by_scheme[hub.scheme]].plugin}' and '{hub.plugin}'; uninstall one"
                )
            by_scheme[hub.scheme] = hub.name
        return hubs

    @cached_property
    def backbones(self) -> dict[str, BackboneSpec]:
        """Registry entries (built by their source's plugin) plus plugin-provided backbones."""
        from_plugins = _unique(self.host, "zoo_backbones", "backbone")
        result: dict[str, BackboneSpec] = {}
        for name, spec in self.registry.backbones.items():
            if name in from_plugins:
                raise PluginConflictError(
                    f"backbone '{name}' is defined both in {spec.origin} and by plugin "
                    f"'{from_plugins[name].plugin}'; rename or remove one"
                )
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
        prefix, sep, argument = name.partition(":")
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
        if source not in self.backbone_sources:
            who = f"backbone '{spec.name}' ({spec.origin}) needs" if spec else "needed:"
            raise UsageError(
                f"{who} backbone source '{source}', which no loaded plugin provides; "
                f"check `zoo plugins` (known sources: {', '.join(sorted(self.backbone_sources)) or 'none'})"
            )
        return self.backbone_sources[source]

    def strategy(self, name: str) -> StrategySpec:
        if name not in self.strategies:
            raise unknown_name("strategy", name, sorted(self.strategies))
        return self.strategies[name]

    def dataset(self, ref: str) -> tuple[DatasetSpec, str | None]:
        """``folder:PATH`` -> (the folder spec, "PATH"); ``digits`` -> (its spec, None)."""
        kind, sep, argument = ref.partition(":")
        if kind not in self.datasets:
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
