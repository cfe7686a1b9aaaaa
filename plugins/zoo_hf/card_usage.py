"""The model card's usage section: zoo's commands, the full model in plain Keras, the head on ``keras.applications``.

Every line is pinned to the pushed commit but Keras' own ``keras.saving.load_model("hf://...")``,
which takes no revision and is shown beside the same files pinned with ``snapshot_download``. The
head-on-``keras.applications`` snippet appears only when it rebuilds exactly zoo's model: an
unchanged backbone with global average pooling, whose ``preprocess_input`` is the preprocessing
zoo applied (:func:`plain_keras_obstacle` says why not otherwise).
"""

from __future__ import annotations

import re

from zoo_hf.card_metadata import get as _get

FULL_MODEL_FILES = ("config.json", "metadata.json", "model.weights.h5")
"""zoo.api.FULL_MODEL_FILES, named here so rendering a card imports nothing of the core."""


KERAS_PREPROCESSING = {
    "vgg16": "caffe", "vgg19": "caffe", "resnet": "caffe", "resnet_v2": "tf", "densenet": "torch",
    "mobilenet": "tf", "mobilenet_v2": "tf", "nasnet": "tf", "inception_v3": "tf", "inception_resnet_v2": "tf",
    "xception": "tf", "efficientnet": "none", "efficientnet_v2": "none", "convnext": "none", "mobilenet_v3": "none",
}
"""What each module's ``preprocess_input`` does, as a zoo preprocessing mode ("none": it passes
pixels through; those models rescale inside themselves)."""


def keras_applications_module(model: str) -> str | None:
    """The ``keras.applications`` module whose ``preprocess_input`` belongs to ``model``."""
    rules = [
        (r"VGG16", "vgg16"), (r"VGG19", "vgg19"), (r"ResNet\d+V2", "resnet_v2"), (r"ResNet\d+", "resnet"),
        (r"EfficientNetV2.*", "efficientnet_v2"), (r"EfficientNetB\d", "efficientnet"),
        (r"ConvNeXt.*", "convnext"), (r"DenseNet\d+", "densenet"),
        (r"MobileNetV3.*", "mobilenet_v3"), (r"MobileNetV2", "mobilenet_v2"), (r"MobileNet", "mobilenet"),
        (r"NASNet.*", "nasnet"), (r"InceptionV3", "inception_v3"), (r"InceptionResNetV2", "inception_resnet_v2"),
        (r"Xception", "xception"),
    ]
    for pattern, module in rules:
        if re.fullmatch(pattern, model or ""):
            return module
    return None


def plain_keras_obstacle(config: dict) -> str | None:
    """Why plain Keras code cannot rebuild this adapter's model, as a sentence; None when it can."""
    files = config.get("files") or {}
    backbone = config.get("backbone") or {}
    model = backbone.get("model")
    module = keras_applications_module(model) if backbone.get("source") == "keras" else None
    needs_zoo = "so loading this adapter needs zoo."
    if "backbone.delta.npz" in files:
        return "This adapter also changes backbone layers (`backbone.delta.npz`), so rebuilding it needs zoo."
    if module is None:
        return (f"The `{backbone.get('name', '?')}` backbone is built by zoo's `{backbone.get('source', '?')}` "
                f"source, {needs_zoo}")
    if "head.keras" not in files:
        return f"The adapter records no `head.keras`, {needs_zoo}"
    if _get(backbone, "weights", "name", default="none") == "none":
        return f"Its backbone started from random weights that no file holds, {needs_zoo}"
    scaling = (backbone.get("normalization") or {}).get("mode", "backbone")
    if scaling != "backbone":
        return f"Its input scaling (`--normalization {scaling}`) replaces the backbone's own, {needs_zoo}"
    if "options" not in backbone:
        return f"The run does not record how its backbone pools features, {needs_zoo}"
    pooling = (backbone.get("options") or {}).get("pooling", "avg")
    if pooling != "avg":
        return f"Its backbone pools features with `{pooling}` pooling, not the average, {needs_zoo}"
    preprocessing = backbone.get("preprocessing")
    if preprocessing != KERAS_PREPROCESSING[module]:
        return (f"Its backbone's `{preprocessing}` preprocessing is not what `keras.applications.{module}."
                f"preprocess_input` does (`{KERAS_PREPROCESSING[module]}`), {needs_zoo}")
    return None


def keras_snippet(config: dict, repo_id: str, revision: str | None) -> str | None:
    """Plain Keras + huggingface_hub usage, when it rebuilds exactly zoo's model (else None)."""
    if plain_keras_obstacle(config) is not None:
        return None
    backbone = config["backbone"]
    model = backbone["model"]
    module = keras_applications_module(model)
    size = int(backbone.get("input_size") or 224)
    channels = int(backbone.get("channels") or 3)
    weights = _get(backbone, "weights", "name")
    weights_arg = '"imagenet"' if weights == "imagenet" else "None"
    load_weights = ""
    if weights not in ("imagenet", None, "none"):
        file = _get(backbone, "weights", "file", default="WEIGHTS_FILE")
        load_weights = f'backbone.load_weights("{file}")  # the "{weights}" weights this adapter was trained on\n'
    rev = f', revision="{revision}"' if revision and revision != "main" else ""
    classes = list(config.get("class_names") or [])
    return (
        "import keras\n"
        "import numpy as np\n"
        "from huggingface_hub import hf_hub_download\n"
        "\n"
        f'head = keras.saving.load_model(hf_hub_download("{repo_id}", "head.keras"{rev}), safe_mode=True)\n'
        f"backbone = keras.applications.{model}(\n"
        f"    include_top=False, pooling=\"avg\", weights={weights_arg}, input_shape=({size}, {size}, {channels})\n"
        ")\n"
        f"{load_weights}"
        f"class_names = {classes!r}\n"
        "\n"
        f"images = np.zeros((1, {size}, {size}, {channels}), dtype=\"float32\")"
        "  # your RGB images, values in [0, 255]\n"
        f"x = keras.applications.{module}.preprocess_input(images)\n"
        "probabilities = head(backbone(x))\n"
        "print([class_names[i] for i in np.argmax(probabilities, axis=-1)])\n"
    )


def _full_model_snippets(config: dict, repo_id: str, pin: str | None) -> tuple[str, str]:
    """Plain Keras from the Hub: ``hf://`` as Keras reads it (the main branch now), and the same files pinned."""
    backbone = config.get("backbone") or {}
    size, channels = backbone.get("input_size") or 224, int(backbone.get("channels") or 3)
    use = (
        f"class_names = {list(config.get('class_names') or [])!r}\n"
        "\n"
        f"images = np.zeros((1, {size}, {size}, {channels}), dtype=\"float32\")  # your RGB images, values in [0, 255]\n"
        "probabilities = model.predict(images)\n"
        "print([class_names[i] for i in np.argmax(probabilities, axis=-1)])\n"
    )
    literal = (
        "import keras\n"
        "import numpy as np\n"
        "\n"
        f'model = keras.saving.load_model("hf://{repo_id}")  # safe_mode is on by default\n'
        f"{use}"
    )
    files = ", ".join(f'"{name}"' for name in FULL_MODEL_FILES)
    rev = f'revision="{pin}", ' if pin else ""
    pinned = (
        "import keras\n"
        "import numpy as np\n"
        "from huggingface_hub import snapshot_download\n"
        "\n"
        f'folder = snapshot_download("{repo_id}", {rev}allow_patterns=[{files}])\n'
        "model = keras.saving.load_model(folder, safe_mode=True)\n"
        f"{use}"
    )
    return literal, pinned


def _plain_keras(config: dict, repo_id: str, revision: str | None, pin: str | None, full_model) -> list[str]:
    """How to load the full model without zoo, or why this push has none."""
    if getattr(full_model, "path", None):
        literal, pinned = _full_model_snippets(config, repo_id, pin)
        files = ", ".join(f"`{name}`" for name in FULL_MODEL_FILES)
        out = ["With plain Keras, no zoo needed: the repository's root holds the whole model (preprocessing, backbone, "
               f"head; stock Keras layers only, so it loads with `safe_mode=True`) in Keras' own folder layout ({files}), "
               "which Keras reads straight from the Hub:", "",
               "```python", literal.rstrip("\n"), "```", "",
               "`keras.saving.load_model(\"hf://...\")` takes no revision: it loads what the `main` branch holds when "
               "it is called." + (f" This push went to the `{revision}` branch, so `main` may hold another model or "
                                  "none." if revision and revision != "main" else "")
               + " To load exactly the files this card describes, pin the commit with `huggingface_hub`:", "",
               "```python", pinned.rstrip("\n"), "```", ""]
        check = full_model.check or {}
        if check:
            out += ["Before this push, the full model was loaded in a Python process without zoo and compared with "
                    f"zoo's model on {check.get('images')} images ({check.get('images_from')}): top-1 agreement "
                    f"{check.get('top1_agreement', 0):.4f}, largest probability difference "
                    f"{check.get('max_prob_diff', 0):.1e}.", ""]
        return out
    reason = getattr(full_model, "reason", None)
    why = (reason.removeprefix("no full model for plain Keras: ") if reason
           else "it was pushed with `zoo push --no-full-model`")
    out = [f"This push has no full model for plain Keras ({why}), so `keras.saving.load_model(\"hf://{repo_id}\")` "
           "cannot load it"]
    if reason:
        out[0] += "; `zoo export RUN --format savedmodel|tflite|onnx` writes the whole model for other runtimes"
    return [out[0] + ".", ""]


def usage(config: dict, repo_id: str, revision: str | None, commit: str | None, full_model) -> list[str]:
    pin = commit or (revision if revision and revision != "main" else None)
    ref = f"hf://{repo_id}" + (f"@{pin}" if pin else "")
    out = ["## Usage", ""]
    if commit:
        out += [f"Every line below but the `hf://` load is pinned to commit `{commit}`, which holds the files this "
                "card describes.", ""]
    out += ["With zoo, which verifies every file's checksum before loading:", "",
            "```bash", f"zoo pull {ref}", f"zoo predict {ref} IMAGES...", "```", ""]
    out += _plain_keras(config, repo_id, revision, pin, full_model)
    snippet = keras_snippet(config, repo_id, pin)
    if snippet:
        out += ["With plain Keras and `huggingface_hub`, from the adapter itself (the head is a standard Keras model "
                "from features to class probabilities; the backbone is the unchanged `keras.applications` model):", "",
                "```python", snippet.rstrip("\n"), "```"]
    elif not getattr(full_model, "path", None):
        out.append(plain_keras_obstacle(config))
    return out
