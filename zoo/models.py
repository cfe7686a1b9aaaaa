"""Putting models together and taking them apart: backbone + head, and the backbone delta.

An adapter stores the head and only those backbone variables that differ from the
weights the registry can fetch again (all of them when the base was random), keyed by
the variable's path inside the backbone. Loading rebuilds the backbone from the
registry, checks that its base weights are the very file training used (sha256),
applies the delta and puts the head on top.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo.artifacts import BACKBONE_DELTA, HEAD, Adapter
from zoo.errors import ZooError


def compose(backbone_model, head, name: str = "zoo_model"):
    """Raw RGB images in, class probabilities out."""
    import keras

    inputs = keras.Input(shape=backbone_model.input_shape[1:], name="image")
    return keras.Model(inputs, head(backbone_model(inputs)), name=name)


def backbone_variables(backbone_model) -> dict[str, Any]:
    """Every variable of the backbone (trainable or not) by its path."""
    variables = {}
    for variable in backbone_model.weights:
        if variable.path in variables:
            raise ZooError(f"backbone variable path {variable.path!r} is not unique; cannot save a delta")
        variables[variable.path] = variable
    return variables


def snapshot(backbone_model) -> dict[str, np.ndarray]:
    return {path: np.array(v.numpy(), copy=True) for path, v in backbone_variables(backbone_model).items()}


def changed_variables(backbone_model, before: dict[str, np.ndarray] | None, always: set[str] = frozenset()) -> dict[str, np.ndarray]:
    """Values of the variables that differ from ``before`` (all of them when it is None)."""
    delta = {}
    for path, variable in backbone_variables(backbone_model).items():
        value = np.asarray(variable.numpy())
        if before is None or path in always or not np.array_equal(value, before[path]):
            delta[path] = value
    return delta


def save_delta(path: Path, delta: dict[str, np.ndarray]) -> None:
    # keys are variable paths ("resnet50/conv5_block3_2_conv/kernel"); npz keys cannot hold "/" portably
    np.savez(path, **{f"v{i}": value for i, value in enumerate(delta.values())},
             __paths__=np.array(list(delta.keys()), dtype=np.str_))


def load_delta(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        paths = [str(p) for p in data["__paths__"]]
        return {p: data[f"v{i}"] for i, p in enumerate(paths)}


def apply_delta(backbone_model, delta: dict[str, np.ndarray], source: str = "delta") -> None:
    variables = backbone_variables(backbone_model)
    for path, value in delta.items():
        if path not in variables:
            raise ZooError(f"{source}: the backbone has no variable {path!r}; the adapter was made for another backbone")
        if tuple(variables[path].shape) != value.shape:
            raise ZooError(f"{source}: variable {path!r} has shape {value.shape}, the backbone expects {tuple(variables[path].shape)}")
        variables[path].assign(value)


def is_refetchable(spec, weights_name: str | None) -> bool:
    """Whether these base weights can be fetched again by name (else the adapter carries them)."""
    return weights_name == "builtin" or (weights_name is not None and spec.weights_named(weights_name) is not None)


@dataclass
class LoadedRun:
    adapter: Adapter
    backbone: Any  # zoo.backbones.BuiltBackbone
    head: Any
    model: Any


ALLOWED_MODULE_ROOTS = ("keras",)
"""Where every class in a ``head.keras`` must come from: stock Keras only."""


def check_keras_classes(path: Path) -> None:
    """Refuse a ``.keras`` file naming any class that is not stock Keras.

    ``safe_mode=True`` stops Lambda layers, but not classes that some imported package
    registered as serializable (a TF Hub layer, say, which loads a model from anywhere);
    a downloaded head has no business naming one.
    """
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ZooError(f"{path}: not a readable .keras file ({exc})") from None
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            module, registered = node.get("module"), node.get("registered_name")
            if "class_name" in node and (
                    (isinstance(module, str) and module.split(".")[0] not in ALLOWED_MODULE_ROOTS)
                    or (isinstance(registered, str) and ">" in registered)):
                raise ZooError(f"{path}: names the class {registered or node['class_name']!r} from {module!r}; "
                               "an adapter's head may only use stock Keras layers, refusing to load it")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def save_head(head, path: Path) -> None:
    """Write a head as an adapter stores it: in float32 (:func:`zoo.precision.float32_copy`)
    and without its optimizer. A loaded head is never trained from its file's optimizer
    state (:func:`load_head` does not compile), and keeping it would make the file depend
    on whether training was resumed after the head's last phase."""
    from zoo.precision import float32_copy

    float32 = float32_copy(head)
    stored = float32.__class__.from_config(float32.get_config())  # not compiled: no optimizer (clone_model compiles)
    stored.set_weights(float32.get_weights())
    stored.save(path)


def load_head(path: Path):
    import keras

    check_keras_classes(path)
    return keras.models.load_model(path, compile=False, safe_mode=True)


def backbone_of(adapter: Adapter, catalog, trusted: bool):
    """The backbone spec an adapter names, checked against what it was trained on.

    An ad-hoc backbone (``tfhub:URL``) is loaded only from a run the user has locally
    (``trusted``): from a downloaded adapter it would mean fetching and running a model
    graph of the adapter author's choosing.
    """
    recorded = adapter.backbone
    name = recorded["name"]
    if not trusted and name not in catalog.backbones:
        raise ZooError(f"the adapter at {adapter.path} names the ad-hoc backbone {name!r}; zoo builds only registry "
                       "backbones for downloaded adapters: add a [backbones.NAME] entry for it, or copy the run locally")
    spec = catalog.backbone(name)
    for field, now in (("source", spec.source), ("model", spec.model), ("options", dict(spec.options))):
        if field in recorded and recorded[field] != json.loads(json.dumps(now)):  # as config.json has it: lists, not tuples
            raise ZooError(f"backbone '{spec.name}' now has {field} {now!r}, but the adapter at {adapter.path} was "
                           f"trained with {recorded[field]!r}; restore the registry entry it was made with")
    return spec


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


def load_run(adapter: Adapter, catalog=None, trusted: bool = False) -> LoadedRun:
    """Rebuild a trained model from a verified adapter, without running any code from it."""
    from zoo.catalog import get_catalog
    from zoo.normalization import build_normalized_backbone

    catalog = catalog or get_catalog()
    if not adapter.has(HEAD):
        raise ZooError(f"the adapter at {adapter.path} does not list {HEAD} among its checksummed files; refusing it")
    if adapter.file(BACKBONE_DELTA).exists() and not adapter.has(BACKBONE_DELTA):
        raise ZooError(f"{adapter.file(BACKBONE_DELTA)} is not listed among the adapter's checksummed files; refusing it")
    recorded = adapter.backbone
    spec = backbone_of(adapter, catalog, trusted)
    base_name = base_weights_name(spec, recorded)
    built, _ = build_normalized_backbone(spec, weights=base_name, input_size=recorded["input_size"],
                                         record=recorded.get("normalization") or {"mode": "backbone"}, catalog=catalog)
    check_base_weights(built, recorded)
    if adapter.has(BACKBONE_DELTA):
        apply_delta(built.model, load_delta(adapter.file(BACKBONE_DELTA)), source=str(adapter.file(BACKBONE_DELTA)))
    head = load_head(adapter.file(HEAD))
    return LoadedRun(adapter=adapter, backbone=built, head=head, model=compose(built.model, head))
