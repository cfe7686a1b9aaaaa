"""A run folder back into a model: find it, check it, rebuild the backbone, apply the delta, add the head.

Loading rebuilds the backbone from the registry, checks that its base weights are the very
file training used (sha256), applies the run's delta and puts the head on top. Nothing in
the folder is executed, and a downloaded run may name registry backbones only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from zoo.errors import UsageError, ZooError
from zoo.run.delta import apply_delta, load_delta
from zoo.run.folder import BACKBONE_DELTA, HEAD, RunFolder
from zoo.run.heads import load_head


def compose(backbone_model, head, name: str = "zoo_model"):
    """Raw RGB images in, class probabilities out."""
    import keras

    inputs = keras.Input(shape=backbone_model.input_shape[1:], name="image")
    return keras.Model(inputs, head(backbone_model(inputs)), name=name)


def is_refetchable(spec, weights_name: str | None) -> bool:
    """Whether these base weights can be fetched again by name (else the adapter carries them)."""
    return weights_name == "builtin" or (weights_name is not None and spec.weights_named(weights_name) is not None)


@dataclass
class LoadedRun:
    run: RunFolder
    backbone: Any  # zoo.backbone.build.BuiltBackbone
    head: Any
    model: Any


def backbone_of(run: RunFolder, catalog, trusted: bool):
    """The backbone spec an adapter names, checked against what it was trained on.

    An ad-hoc backbone (``tfhub:URL``) is loaded only from a run the user has locally
    (``trusted``): from a downloaded adapter it would mean fetching and running a model
    graph of the adapter author's choosing.
    """
    recorded = run.backbone
    name = recorded["name"]
    check_plugin_installed(run, catalog, name)
    if not trusted and name not in catalog.backbones:
        raise ZooError(f"the adapter at {run.path} names the ad-hoc backbone {name!r}; zoo builds only registry "
                       "backbones for downloaded adapters: add a [backbones.NAME] entry for it, or copy the run locally")
    spec = catalog.backbone(name)
    for field, now in (("source", spec.source), ("model", spec.model), ("options", dict(spec.options))):
        if field in recorded and recorded[field] != json.loads(json.dumps(now)):  # as config.json has it: lists, not tuples
            raise ZooError(f"backbone '{spec.name}' now has {field} {now!r}, but the adapter at {run.path} was "
                           f"trained with {recorded[field]!r}; restore the registry entry it was made with")
    return spec


def check_plugin_installed(run: RunFolder, catalog, name: str) -> None:
    """Refuse a run whose backbone came from a plugin that is not loaded now, naming that plugin.

    ``config.json`` records who provided the backbone (``plugins.backbone``); without that
    plugin the name means nothing, and "no backbone X" would not say what to install.
    """
    source = name.partition(":")[0] if ":" in name else None
    if name in catalog.backbones or (source and source in catalog.backbone_sources):
        return
    made_by = (run.config.get("plugins") or {}).get("backbone") or {}
    plugin = made_by.get("plugin")
    if not isinstance(plugin, str) or plugin in catalog.host.records and catalog.host.records[plugin].status == "ok":
        return  # the plugin is here (the name is unknown for another reason) or the run does not say
    distribution = made_by.get("distribution") or plugin
    version = f" {made_by['version']}" if isinstance(made_by.get("version"), str) else ""
    state = "which is not installed" if plugin not in catalog.host.records else "which failed to load (see `zoo plugins`)"
    raise UsageError(f"run '{run.path}' needs backbone '{name}' from plugin '{distribution}'{version}, {state} "
                     f"(zoo install {distribution})")


def base_weights_name(spec, recorded: dict) -> str:
    """What to build the base with: the recorded weights if they can be fetched again, else
    random ("none"), since the adapter's delta then holds every backbone variable."""
    name = (recorded.get("weights") or {}).get("name") or "none"
    return name if is_refetchable(spec, name) else "none"


def check_base_weights(built, recorded: dict) -> None:
    """Refuse a rebuilt base whose weights file is not the one the adapter's delta was made on."""
    expected = (recorded.get("weights") or {}).get("sha256")
    have = built.weights.sha256
    if built.weights.name != "none" and expected and have and have != expected:
        raise ZooError(
            f"base weights for '{built.spec.name}' ({built.weights.path}) have sha256 {have[:12]}..., "
            f"the adapter was trained on {expected[:12]}...; fetch the original weights"
        )


def load_run(run: RunFolder, catalog=None, trusted: bool = False) -> LoadedRun:
    """Rebuild a trained model from a verified adapter, without running any code from it."""
    from zoo.backbone.normalization import build_normalized_backbone
    from zoo.plugin.catalog import get_catalog

    catalog = catalog or get_catalog()
    if not run.has(HEAD):
        raise ZooError(f"the adapter at {run.path} does not list {HEAD} among its checksummed files; refusing it")
    if run.file(BACKBONE_DELTA).exists() and not run.has(BACKBONE_DELTA):
        raise ZooError(f"{run.file(BACKBONE_DELTA)} is not listed among the adapter's checksummed files; refusing it")
    recorded = run.backbone
    spec = backbone_of(run, catalog, trusted)
    base_name = base_weights_name(spec, recorded)
    built, _ = build_normalized_backbone(spec, weights=base_name, input_size=recorded["input_size"],
                                         record=recorded.get("normalization") or {"mode": "backbone"}, catalog=catalog,
                                         recorded=recorded)
    check_base_weights(built, recorded)
    if run.has(BACKBONE_DELTA):
        apply_delta(built.model, load_delta(run.file(BACKBONE_DELTA)), source=str(run.file(BACKBONE_DELTA)))
    head = load_head(run.file(HEAD))
    return LoadedRun(run=run, backbone=built, head=head, model=compose(built.model, head))


def find_run(ref: str, catalog=None):
    """``(adapter, trusted)`` for a run folder, ``hf://repo[@rev]`` or a registered adapter.

    The adapter is verified (checksums). Only a run folder given by path is ``trusted``,
    the user's own (it may use an ad-hoc backbone); anything fetched from a hub must
    name registry backbones (see :func:`zoo.run.load.backbone_of`).
    """
    from zoo.plugin.catalog import get_catalog
    from zoo.run.folder import read_run_folder, warn_unrecorded
    from zoo.run.hub import resolve_run

    catalog = catalog or get_catalog()
    local = "://" not in str(ref) and os.path.isdir(ref)
    run = read_run_folder(resolve_run(ref, catalog))
    if local:
        warn_unrecorded(run)  # a downloaded run with such a file never gets here: the pull refuses it
    return run, local


def open_run(ref: str, catalog=None):
    """A run folder, ``hf://repo[@rev]`` or a registered adapter, loaded and verified."""
    from zoo.plugin.catalog import get_catalog
    from zoo.run.load import load_run

    catalog = catalog or get_catalog()
    run, trusted = find_run(ref, catalog)
    return load_run(run, catalog, trusted=trusted)
