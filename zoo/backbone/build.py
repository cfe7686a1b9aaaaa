"""From a backbone spec to a Keras model: raw RGB pixels in, one feature vector out.

The plugin that owns the spec's source builds the *base* (preprocessed image ->
features); this module checks the input size, resolves the weights, puts the
preprocessing layers in front and fills in what only the built model knows (the
feature size of an ad-hoc backbone). Strategies fine-tune by stage: :func:`stage_layers`
turns stage names into the base's layers.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.backbone.weights import ResolvedWeights, resolve_weights
from zoo.errors import ConfigError, UsageError, ZooError
from zoo.plugin.specs import BackboneSpec, load_object


@dataclass
class BuiltBackbone:
    """A ready backbone.

    ``model`` maps ``(input_size, input_size, channels)`` RGB floats in [0, 255] to a
    ``(feature_dim,)`` vector, with the spec's preprocessing layers first: a saved model
    takes raw pixels, so nothing outside it has to know the backbone's convention.
    ``base`` is the source's own model (no preprocessing): its layers are the ones stages name.
    ``provenance`` is what the source's ``pin`` recorded about where the weights came from
    (``{"hub": {"repo", "revision", "files"}}``), for the run's ``config.json``; empty otherwise.
    """

    model: Any
    spec: BackboneSpec
    input_size: int
    weights: ResolvedWeights
    base: Any
    provenance: dict = dataclasses.field(default_factory=dict)

    @property
    def feature_dim(self) -> int:
        return self.spec.feature_dim

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The backbone called as its Keras model: ``job.backbone(images)`` is ``job.backbone.model(images)``."""
        return self.model(*args, **kwargs)


def check_input_size(spec: BackboneSpec, input_size: int | None) -> int:
    """The size to build at: the spec's default, or a requested one it accepts."""
    if input_size is None:
        return spec.input_size
    if isinstance(input_size, bool) or not isinstance(input_size, int):
        raise UsageError(f"input size must be a whole number of pixels, got {input_size!r}")
    if spec.fixed_size and input_size != spec.input_size:
        raise UsageError(f"backbone '{spec.name}' takes only {spec.input_size}x{spec.input_size} images "
                         f"(fixed size), got input size {input_size}")
    if input_size < spec.smallest_input:
        raise UsageError(f"backbone '{spec.name}' needs an input size of at least {spec.smallest_input} "
                         f"pixels, got {input_size}")
    return input_size


def model_name(spec: BackboneSpec) -> str:
    return "backbone_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", spec.name).strip("_")


def pin_backbone(spec: BackboneSpec, *, weights: str | None = "default", recorded: dict | None = None,
                 catalog: Any = None) -> tuple[BackboneSpec, dict]:
    """``(spec, provenance)``: the spec pinned by its source's ``pin`` (its files fetched and
    verified), or as it is with no provenance when the source pins nothing or the weights
    are not the built-in ones. ``recorded`` is an existing run's backbone entry to match.
    Cheap when already pinned and fetched; never imports TensorFlow."""
    if catalog is None:
        from zoo.plugin.catalog import get_catalog

        catalog = get_catalog()
    source = catalog.backbone_source(spec.source, spec)
    choice = spec.default_weights if weights in (None, "", "default") else weights
    if not source.pin or choice != "builtin":
        return spec, {}
    pinned, provenance = load_object(source.pin)(spec, recorded=recorded)
    return pinned, dict(provenance or {})


def build_backbone(spec: BackboneSpec, *, weights: str | None = "default", input_size: int | None = None,
                   catalog: Any = None, recorded: dict | None = None) -> BuiltBackbone:
    """Build ``spec`` with ``weights`` (see :func:`zoo.backbone.weights.resolve_weights`) at ``input_size``.

    ``recorded`` (a run's backbone entry) makes a source that pins its files fetch exactly
    the ones that run used (see :func:`pin_backbone`).
    """
    if catalog is None:
        from zoo.plugin.catalog import get_catalog

        catalog = get_catalog()
    source = catalog.backbone_source(spec.source, spec)
    resolved = resolve_weights(spec, weights)
    if resolved.source == "random" and spec.default_weights == "builtin":
        raise UsageError(f"backbone '{spec.name}' carries its own weights and cannot start from random ones; "
                         f"drop --weights none")
    spec, provenance = pin_backbone(spec, weights=resolved.name, recorded=recorded, catalog=catalog)
    size = check_input_size(spec, input_size)

    import keras

    from zoo.backbone.preprocessing import apply_layers, preprocessing_layers

    base = load_object(source.builder)(spec, weights=resolved.path, input_size=size)
    feature_dim = _feature_dim(spec, base)
    inputs = keras.Input((size, size, spec.channels), name="image")
    outputs = base(apply_layers(preprocessing_layers(spec.preprocessing, spec.channels), inputs))
    model = keras.Model(inputs, outputs, name=model_name(spec))
    return BuiltBackbone(model=model, spec=dataclasses.replace(spec, feature_dim=feature_dim), input_size=size,
                         weights=resolved, base=base, provenance=provenance)


def _feature_dim(spec: BackboneSpec, base: Any) -> int:
    shape = tuple(base.output.shape)
    if len(shape) != 2 or shape[-1] is None:
        raise ZooError(f"backbone '{spec.name}': its builder returned outputs of shape {shape}, "
                       f"not one feature vector per image")
    actual = int(shape[-1])
    if spec.feature_dim and spec.feature_dim != actual:
        raise ConfigError(f"backbone '{spec.name}' ({spec.origin}): feature_dim is {spec.feature_dim} but the "
                          f"built model gives {actual}; set feature_dim = {actual}")
    return actual


def load_weights_file(model: Any, path: str | os.PathLike, *, what: str) -> None:
    """Load a weights file into ``model``, whatever Keras format it is in.

    Keras picks the reader by file extension, but Keras Applications files are the
    legacy HDF5 layout under a plain ``.h5`` name while Keras 3 writes ``.weights.h5``;
    a Keras 3 file renamed to the Keras Applications name must load too.
    """
    path = Path(path)
    try:
        if path.name.endswith((".keras", ".weights.h5")) or not path.name.endswith((".h5", ".hdf5")):
            model.load_weights(str(path))
        elif _is_legacy_h5(path):
            model.load_weights(str(path))
        else:
            with tempfile.TemporaryDirectory() as tmp:
                alias = Path(tmp) / "weights.weights.h5"
                os.symlink(path.resolve(), alias)
                model.load_weights(str(alias))
    except (ValueError, KeyError, OSError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ZooError(f"weights file {path} does not fit {what}: {first}") from None


def _is_legacy_h5(path: Path) -> bool:
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return "layer_names" in handle.attrs or "model_weights" in handle
    except OSError as exc:
        raise ZooError(f"weights file {path} is not an HDF5 file ({exc})") from None


def layer_matches(name: str, prefixes: tuple[str, ...]) -> bool:
    """A stage's prefix matches layer names starting with it; one ending in ``$`` only that exact name."""
    return any(name == p[:-1] if p.endswith("$") else name.startswith(p) for p in prefixes)


def base_layers(base: Any) -> list[Any]:
    """The base's layers, and the layers nested inside them (a KerasHub backbone is one layer), in order."""
    if not hasattr(base, "_flatten_layers"):
        return list(getattr(base, "layers", [base]))
    return list(base._flatten_layers(include_self=False, recursive=True))


def stage_layers(built: BuiltBackbone, stage_names: list[str]) -> list[Any]:
    """The base model's layers (nested ones included) that make up ``stage_names``, in model order."""
    stages = dict(built.spec.stages)
    unknown = [name for name in stage_names if name not in stages]
    if unknown:
        raise UsageError(f"backbone '{built.spec.name}' has no stage {', '.join(unknown)}; "
                         f"its stages are {', '.join(stages) or 'none'}")
    layers = base_layers(built.base)
    chosen = []
    for name in stage_names:
        prefixes = tuple(stages[name])
        found = [layer for layer in layers if layer_matches(layer.name, prefixes)]
        if not found:
            raise ConfigError(f"backbone '{built.spec.name}': stage '{name}' ({', '.join(prefixes)}*) matches "
                              f"no layer of the built model; fix its stages table")
        chosen.extend(found)
    order = {id(layer): i for i, layer in enumerate(layers)}
    unique = {id(layer): layer for layer in chosen}
    return sorted(unique.values(), key=lambda layer: order[id(layer)])
