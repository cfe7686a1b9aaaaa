"""What ``zoo list`` and ``zoo info`` report, as plain JSON-able dicts.

Nothing here imports TensorFlow: listing is answered from specs, the registry and the
file system only.
"""

from __future__ import annotations

from typing import Any

from zoo.backbone.weights import find_local, mismatch
from zoo.errors import PluginConflictError, unknown_name
from zoo.plugin.catalog import Catalog, matches
from zoo.plugin.specs import BackboneSpec, DatasetSpec, StrategySpec, load_object

KINDS = ("backbones", "strategies", "datasets", "adapters")


def normalise_kind(kind: str) -> str:
    plural = kind if kind.endswith("s") else ("strategies" if kind == "strategy" else kind + "s")
    if plural not in KINDS:
        raise unknown_name("kind", kind, list(KINDS))
    return plural


def _module_of(dotted: str) -> str:
    return dotted.partition(":")[0]


def backbone_row(spec: BackboneSpec) -> dict[str, Any]:
    unavailable = None if spec.plugin else (f"needs backbone source '{spec.source}', which no loaded plugin "
                                            "provides (see `zoo plugins`)")
    return {
        "name": spec.name,
        "status": "unavailable" if unavailable else "ok",
        "reason": unavailable,
        "plugin": spec.plugin,
        "source": spec.source,
        "input_size": spec.input_size,
        "feature_dim": spec.feature_dim,
        "preprocessing": spec.preprocessing,
        "weights": spec.default_weights,
        "description": spec.description,
    }


def strategy_row(spec: StrategySpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "plugin": spec.plugin,
        "source": _module_of(spec.trainer),
        "needs_target": spec.needs_target,
        "options": [o.name for o in spec.options],
        "description": spec.description,
    }


def dataset_row(spec: DatasetSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "plugin": spec.plugin,
        "source": _module_of(spec.loader),
        "usage": f"{spec.name}:{spec.argument}" if spec.argument else spec.name,
        "description": spec.description,
    }


def list_items(catalog: Catalog, kind: str, pattern: str | None = None) -> list[dict[str, Any]]:
    kind = normalise_kind(kind)
    if kind == "backbones":
        # an entry whose source plugin is not loaded is listed as unavailable, with the reason
        rows = [backbone_row(s) for s in catalog.backbones.values()]
    elif kind == "strategies":
        rows = [strategy_row(s) for s in catalog.strategies.values()]
    elif kind == "datasets":
        rows = [dataset_row(s) for s in catalog.datasets.values()]
    else:
        rows = list_adapters(catalog)
    return sorted((r for r in rows if matches(r["name"], pattern)), key=lambda r: r["name"])


def list_adapters(catalog: Catalog) -> list[dict[str, Any]]:
    """Registered adapters, then adapters found in each hub's local cache."""
    rows = []
    for entry in catalog.adapters.values():
        hub = catalog.hubs.get(entry.hub)
        rows.append({
            "name": entry.name,
            "plugin": hub.plugin if hub else "",
            "source": f"{hub.scheme if hub else entry.hub}://{entry.repo}@{entry.revision}",
            "status": "registered",
            "repo": entry.repo,
            "revision": entry.revision,
            "description": entry.description,
        })
    registered = {(r["repo"], r["revision"]) for r in rows}
    from zoo.run.hub import client_for

    for hub in catalog.hubs.values():
        for item in getattr(client_for(hub), "cached", lambda: [])():
            if (item["repo"], item["revision"]) in registered:
                continue
            rows.append({
                "name": f"{hub.scheme}://{item['repo']}@{item['revision'][:12]}",
                "plugin": hub.plugin,
                "source": f"{hub.scheme}://{item['repo']}@{item['revision']}",
                "status": "cached",
                "repo": item["repo"],
                "revision": item["revision"],
                "description": item.get("description", ""),
            })
    return rows


def backbone_info(spec: BackboneSpec) -> dict[str, Any]:
    data = spec.describe()
    if not spec.feature_dim:
        data["feature_dim"] = None  # an ad-hoc backbone: known once built
    if spec.origin == "command line":  # SOURCE:ARGUMENT: nothing but the source's convention says how to scale
        data["preprocessing"].update(assumed=True, note=(
            f"assumed: the '{spec.source}' source's convention for models named on the command line; if the model "
            "expects other input scaling, pass --normalization symmetric ([-1, 1]), unit or standardize, or give it "
            'a registry entry with preprocessing = "tf", "caffe" or "torch"'))
    for w in spec.weights:
        local = find_local(w)
        data["weights"][w.name]["cached"] = local is not None
        data["weights"][w.name]["path"] = str(local) if local else None
        if local is not None and (w.sha256 or w.md5):
            problem = mismatch(local, w)  # hashing costs a read of the file: zoo info is where one asks
            data["weights"][w.name]["verified"] = problem is None
            if problem:
                data["weights"][w.name]["cached"] = False
                data["weights"][w.name]["problem"] = (f"{local} fails its pin ({problem}); delete it, or "
                                                      f"`zoo pull {spec.name}` fetches it again")
    if spec.default_weights == "builtin":
        data["weights"]["builtin"] = {"source": spec.model, "note": "carried by the model itself",
                                      "cached": None, "path": None}
    return data


def info(catalog: Catalog, name: str) -> dict[str, Any]:
    """Everything known about one name: a backbone, strategy, dataset or adapter.

    Strategies and datasets are looked up first: they need neither the registry nor the
    backbone plugins, so a problem there does not stop `zoo info fine-tuning`.
    """
    if name in catalog.strategies:
        spec = catalog.strategies[name]
        return {
            "kind": "strategy",
            **strategy_row(spec),
            "options": [
                {"name": o.name, "flag": o.flag, "type": o.type, "default": o.default, "choices": list(o.choices), "help": o.help}
                for o in spec.options
            ],
        }
    if name.partition(":")[0] in catalog.datasets:
        spec, argument = catalog.dataset(name)
        data = {"kind": "dataset", **dataset_row(spec)}
        if spec.describe:
            data.update(load_object(spec.describe)(argument))
        return data
    if name in catalog.backbones or (":" in name and name.partition(":")[0] in catalog.backbone_sources):
        return {"kind": "backbone", **backbone_info(catalog.backbone(name))}
    if name in catalog.adapters:
        entry = catalog.adapters[name]
        return {"kind": "adapter", "name": entry.name, "hub": entry.hub, "repo": entry.repo,
                "revision": entry.revision, "description": entry.description, "origin": entry.origin}
    known = [*catalog.backbones, *catalog.strategies, *catalog.datasets, *catalog.adapters]
    for refused in catalog.conflicts.values():
        if name in refused:
            raise PluginConflictError(refused[name])
    raise unknown_name("name", name, known, lead=f"nothing named {name!r}",
                       hint="see `zoo list backbones|strategies|datasets|adapters`")
