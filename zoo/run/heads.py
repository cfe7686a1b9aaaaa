"""``head.keras``: the trained head, saved without optimizer and loaded without running code.

A head may use stock Keras classes only; anything else is refused before Keras reads it.
"""

from __future__ import annotations

import json
from pathlib import Path

from zoo.errors import ZooError

ALLOWED_MODULE_ROOTS = ("keras",)
CODE_RUNNING_CLASSES = {"Lambda": "it runs arbitrary code", "TFSMLayer": "it runs a SavedModel graph from anywhere"}
"""Stock Keras classes a head must not name either: loading them would run what the file says."""
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
            if node.get("class_name") in CODE_RUNNING_CLASSES:
                name = node["class_name"]
                raise ZooError(f"{path} holds layer class {name}, which zoo never loads: {CODE_RUNNING_CLASSES[name]}")
            if "class_name" in node and (
                    (isinstance(module, str) and module.split(".")[0] not in ALLOWED_MODULE_ROOTS)
                    or (isinstance(registered, str) and ">" in registered)):
                raise ZooError(f"{path}: names the class {registered or node['class_name']!r} from {module!r}; "
                               "an adapter's head may only use stock Keras layers, refusing to load it")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def save_head(head, path: Path) -> None:
    """Write a head as an adapter stores it: in float32 (:func:`zoo.train.precision.float32_copy`)
    and without its optimizer. A loaded head is never trained from its file's optimizer
    state (:func:`load_head` does not compile), and keeping it would make the file depend
    on whether training was resumed after the head's last phase."""
    from zoo.train.precision import float32_copy

    float32 = float32_copy(head)
    stored = float32.__class__.from_config(float32.get_config())  # not compiled: no optimizer (clone_model compiles)
    stored.set_weights(float32.get_weights())
    stored.save(path)


def load_head(path: Path):
    import keras

    check_keras_classes(path)
    return keras.models.load_model(path, compile=False, safe_mode=True)
