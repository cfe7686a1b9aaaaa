"""TF Hub backbones: registry entries (``source = "tfhub"``) and ``tfhub:HANDLE`` on the fly.

An ad-hoc ``tfhub:HANDLE`` spec is made without touching the module (lookups must be
cheap), so its ``feature_dim`` is 0, meaning "unknown until built";
:func:`zoo.backbone.build.build_backbone` fills it in from the built model's output shape.
It assumes the TF Hub image conventions (RGB in [0, 1], 224 pixels by default, any
size from 32 up); a module exported for one size is checked when it is built.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from zoo.api import BackboneSpec, UsageError

LAYER_NAME = "hub_module"
STAGES = (("module", (LAYER_NAME,)),)


def spec_for_handle(handle: str) -> BackboneSpec:
    """``tfhub:HANDLE`` -> a spec; checks only that a local handle exists."""
    from zoo_tfhub.handles import is_remote, normalise

    normalised = normalise(handle)
    if not is_remote(normalised):
        check_local_handle(normalised)
    return BackboneSpec(
        name=f"tfhub:{normalised}",
        source="tfhub",
        model=normalised,
        input_size=224,
        min_input_size=32,
        feature_dim=0,
        preprocessing="unit",
        stages=STAGES,
        default_weights="builtin",
        description="TF Hub module given on the command line; feature size known once built",
    )


def check_local_handle(handle: str) -> None:
    """What can be told about a local handle without reading the module: it exists and looks like one."""
    from zoo_tfhub.handles import ARCHIVE_SUFFIXES, SAVED_MODEL, find_saved_model

    path = Path(handle)
    if not path.exists():
        raise UsageError(f"TF Hub handle {handle}: no such folder or file")
    if path.is_dir() and find_saved_model(path) is None:
        raise UsageError(f"TF Hub handle {handle}: the folder holds no {SAVED_MODEL}; point at a TF2 SavedModel folder")
    if path.is_file() and not path.name.endswith(ARCHIVE_SUFFIXES):
        raise UsageError(f"TF Hub handle {handle}: a file must be a .tar.gz of a SavedModel")


def build(spec: BackboneSpec, *, weights: Path | None, input_size: int):
    """A functional model: preprocessed image -> :class:`HubModule` -> feature vector."""
    import keras

    from zoo.api import load_weights_file
    from zoo_tfhub.layer import HubModule

    layer = HubModule(spec.model, output_key=spec.option("output_key"), signature=spec.option("signature"),
                      name=LAYER_NAME)
    layer.build((None, input_size, input_size, spec.channels))
    height, width = layer.expected_size()
    if (height is not None and height != input_size) or (width is not None and width != input_size):
        raise UsageError(f"TF Hub module {spec.model} takes {height}x{width} images only, not {input_size}; "
                         f"use input size {height} (a registry entry for it should say fixed_size = true)")
    inputs = keras.Input((input_size, input_size, spec.channels), name="image")
    model = keras.Model(inputs, layer(inputs), name="hub_" + hashlib.sha1(spec.model.encode()).hexdigest()[:10])
    if weights is not None:
        load_weights_file(model, weights, what=f"backbone '{spec.name}'")
    return model


def fetch(spec: BackboneSpec) -> Path:
    """``zoo pull`` for a TF Hub backbone: the module, downloaded or unpacked into the cache."""
    from zoo_tfhub.handles import resolve

    return resolve(spec.model)
