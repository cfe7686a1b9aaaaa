"""The model card (``README.md``) pushed with an adapter: Hub metadata, what was trained, usage.

Everything comes from the run's record (``config.json``, pushed as ``zoo.json``) and
``metrics.json``; optional fields may be missing and are then left out. Local paths never reach the card: a dataset
given as ``folder:/home/me/photos`` is named ``folder:photos``.

The usage section is :mod:`zoo_hf.card_usage`; the metadata header is :mod:`zoo_hf.card_metadata`.
"""

from __future__ import annotations

from typing import Any

from zoo_hf.card_metadata import get as _get
from zoo_hf.card_metadata import metadata, public_dataset_name
from zoo_hf.card_usage import FULL_MODEL_FILES, KERAS_PREPROCESSING, keras_applications_module, usage  # noqa: F401 (KERAS_PREPROCESSING, keras_applications_module: re-exported)

RECORD = "zoo.json"  # zoo.api.HUB_RECORD, named here so rendering a card imports nothing of the core


def _cell(value: Any) -> str:
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else _cell(value)


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
                usage(config, repo_id, revision, commit, full_model), _files(config, full_model)]
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
