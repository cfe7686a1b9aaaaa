"""The model card (``README.md``) pushed with an adapter: Hub metadata, what was trained, usage.

Everything comes from the run's record (``config.json``, pushed as ``zoo.json``) and ``metrics.json``; optional fields
may be missing and are then left out. Local paths never reach the card: a dataset
given as ``folder:/home/me/photos`` is named ``folder:photos``.

The usage section shows zoo's commands and, when the push carries the full model (Keras' folder
layout at the repository's root), how to load it with plain Keras: ``keras.saving.load_model("hf://...")``
as it is (it takes no revision) and the same files pinned to the pushed commit; every other line
is pinned to that commit. It adds
a head-on-``keras.applications`` snippet only when that rebuilds exactly zoo's model: an
unchanged backbone with global average pooling, whose ``preprocess_input`` is the
preprocessing zoo applied (:func:`plain_keras_obstacle` says why not otherwise). The
metadata header is :mod:`zoo_hf.card_metadata`.
"""

from __future__ import annotations

import re
from typing import Any

from zoo_hf.card_metadata import get as _get
from zoo_hf.card_metadata import metadata, public_dataset_name

# zoo.api.FULL_MODEL_FILES and zoo.api.HUB_RECORD, named here so rendering a card imports nothing of the core
FULL_MODEL_FILES = ("config.json", "metadata.json", "model.weights.h5")
RECORD = "zoo.json"


def _cell(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else _cell(value)


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


def _summary(config: dict) -> list[str]:
    backbone, strategy = config.get("backbone") or {}, config.get("strategy") or {}
    classes = [f"`{c}`" for c in config.get("class_names") or []]
    listed = (": " + ", ".join(classes[:20]) + (", ..." if len(classes) > 20 else "")) if classes else ""
    return [
        "An image classifier made by transfer learning with zoo (a Keras 3 model zoo and adapter registry): "
        f"the **{strategy.get('name', '?')}** strategy on a **{backbone.get('name', '?')}** backbone, "
        f"trained to tell {len(classes)} classes apart{listed}."
    ]


def _results(config: dict, metrics: dict) -> list[str]:
    out = ["## Results", ""]
    labels = {"accuracy": "accuracy", "loss": "loss", "target_accuracy": "target-domain accuracy",
              "source_accuracy": "source-domain accuracy", "n": "evaluation images"}
    rows = [(label, metrics[key]) for key, label in labels.items() if metrics.get(key) is not None]
    if rows:
        split = metrics.get("split")
        if isinstance(split, str):
            size = f" ({metrics['n']} images)" if isinstance(metrics.get("n"), int) else ""
            out += [f"Measured on the `{split}` split{size} of the training data, held out from training.", ""]
        out += ["| metric | value |", "| --- | --- |", *(f"| {label} | {_metric(v)} |" for label, v in rows)]
    else:
        out.append("No metrics were recorded for this run.")
    per_class = metrics.get("per_class_accuracy") or {}
    if per_class:
        out += ["", "| class | accuracy |", "| --- | --- |",
                *(f"| {_cell(c)} | {_metric(a)} |" for c, a in per_class.items())]
    files = config.get("files") or {}
    if "curves.png" in files:
        out += ["", "![Loss and accuracy per epoch](curves.png)"]
    if "confusion.png" in files:
        out += ["", "![Confusion matrix](confusion.png)"]
    return out


def _input(config: dict, resize: str | None) -> list[str]:
    backbone = config.get("backbone") or {}
    size, channels = backbone.get("input_size"), int(backbone.get("channels") or 3)
    shape = f"`({size}, {size}, {channels})`" if size else "the run's input size"
    colour = "RGB" if channels == 3 else "single-channel (grayscale)"
    out = ["## Input", "",
           f"{colour} images as float32 arrays of shape {shape} (a batch: `(N, {size}, {size}, {channels})`), pixel "
           "values in `[0, 255]`, not scaled: the model does its own preprocessing "
           f"(`{backbone.get('preprocessing', '?')}`"
           + (f", `--normalization {_get(backbone, 'normalization', 'mode')}`"
              if _get(backbone, "normalization", "mode", default="backbone") != "backbone" else "")
           + f") inside. It gives one probability per class, in the order of `class_names` in `{RECORD}`."]
    if resize:
        out += ["", "zoo resizes " + resize.replace("SIZE", str(size or "SIZE")) + "; another resize (cropping, "
                "keeping the aspect ratio, another filter) feeds the model other pixels and gives other probabilities."]
    return out


def _training(config: dict) -> list[str]:
    backbone, strategy = config.get("backbone") or {}, config.get("strategy") or {}
    training = config.get("training") or {}
    parts = [f"`{backbone.get('name', '?')}` ({backbone.get('source', '?')}: `{backbone.get('model', '?')}`)",
             f"weights `{_get(backbone, 'weights', 'name', default='none')}`"]
    if backbone.get("input_size"):
        size = backbone["input_size"]
        parts.append(f"input {size}x{size}x{backbone.get('channels', 3)}")
    if isinstance(backbone.get("preprocessing"), str):
        parts.append(f"`{backbone['preprocessing']}` preprocessing")
    if backbone.get("feature_dim"):
        parts.append(f"{backbone['feature_dim']} features")
    out = ["## Training", "", "- **Backbone**: " + ", ".join(parts)]
    options = strategy.get("options") or {}
    out.append(f"- **Strategy**: `{strategy.get('name', '?')}`"
               + (" with " + ", ".join(f"{k}={_cell(v)}" for k, v in options.items()) if options else ""))
    dataset, target = public_dataset_name(training.get("dataset")), public_dataset_name(training.get("target"))
    if dataset:
        out.append(f"- **Data**: `{dataset}`" + (f", unlabelled target domain `{target}`" if target else ""))
    hyper = [(k, training[k]) for k in ("epochs", "batch_size", "lr", "seed", "precision") if training.get(k) is not None]
    if hyper:
        out.append("- **Hyperparameters**: " + ", ".join(f"{k}={_cell(v)}" for k, v in hyper))
    versions = config.get("versions") or {}
    if versions:
        out.append("- **Versions**: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    if config.get("created"):
        out.append(f"- **Created**: {config['created']}")
    return out


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
                    f"{_metric(check.get('top1_agreement'))}, largest probability difference "
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


def _usage(config: dict, repo_id: str, revision: str | None, commit: str | None, full_model) -> list[str]:
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


def _files(config: dict, full_model) -> list[str]:
    files = config.get("files") or {}
    out = ["## Files", "", "| file | sha256 |", "| --- | --- |",
           *(f"| `{_cell(f)}` | `{digest}` |" for f, digest in sorted(files.items())),
           "", f"`{RECORD}`, zoo's record of the run, holds these checksums; `zoo pull` refuses files that do not match "
           "them."]
    if getattr(full_model, "path", None):
        files = ", ".join(f"`{name}`" for name in FULL_MODEL_FILES)
        out += ["", f"The full model for plain Keras ({files}) is not among them: zoo neither downloads nor loads it, "
                "and rebuilds the model from the adapter's files instead."]
    return out


def body(config: dict, metrics: dict, repo_id: str, revision: str | None, *, commit: str | None = None,
         full_model=None, resize: str | None = None) -> str:
    name = config.get("name") or repo_id.rsplit("/", 1)[-1]
    sections = [[f"# {name}"], _summary(config), _input(config, resize), _results(config, metrics), _training(config),
                _usage(config, repo_id, revision, commit, full_model), _files(config, full_model)]
    return "\n\n".join("\n".join(section) for section in sections) + "\n"


def render(config: dict, metrics: dict, repo_id: str, revision: str | None = None, *, commit: str | None = None,
           full_model=None, license: str | None = None, resize: str | None = None) -> str:
    """The complete README.md: YAML metadata block, then the text.

    ``commit`` pins the usage lines (None: the branch ``revision``); ``full_model`` is the
    ``zoo.api.FullModel`` pushed beside the adapter; ``license`` overrides the recorded
    licence; ``resize`` says how zoo resizes images (``zoo.api.INPUT_RESIZE``).
    """
    model_name = config.get("name") or repo_id.rsplit("/", 1)[-1]
    data = metadata(config, metrics, model_name, license=license)
    text = body(config, metrics, repo_id, revision, commit=commit, full_model=full_model, resize=resize)
    return f"---\n{data.to_yaml()}\n---\n\n{text}"
