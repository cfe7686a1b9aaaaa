"""The model card's YAML header, in the Hub's own terms (``huggingface_hub.ModelCardData``).

- ``license``: ``zoo push --license``, else what the run records for its backbone
  (``backbone.license``), else its base weights' licence (``backbone.weights.license``, from
  the registry entry). Unknown: no field (the Hub then shows none) rather than a guess.
- ``base_model``: the Hub repository the backbone came from (``backbone.base_model``, else
  ``backbone.hub.repo``); absent for backbones not hosted on the Hub.
- ``datasets``: only Hub dataset ids (``hf:OWNER/NAME``, ``hf://datasets/OWNER/NAME``); a local
  folder or a built-in domain would link to a Hub dataset that does not exist.
- ``model-index``: each result names its split and, in the dataset name, its size.
"""

from __future__ import annotations

import re
from typing import Any

BASE_TAGS = ["zoo", "transfer-learning", "image-classification", "keras"]
HUB_DATASET = re.compile(r"^hf:(?://datasets/)?([A-Za-z0-9][\w.-]*/[\w.-]+)$")
HUB_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def get(data: Any, *keys: str, default: Any = None) -> Any:
    for key in keys:
        if not isinstance(data, dict) or key not in data or data[key] is None:
            return default
        data = data[key]
    return data


def tag(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", str(text).lower()).strip("-")[:64]


def public_dataset_name(ref: Any) -> str | None:
    """``folder:/data/flowers`` -> ``folder:flowers``; built-in names stay as they are."""
    if not ref:
        return None
    kind, sep, argument = str(ref).partition(":")
    if not sep or argument.startswith("//"):
        return str(ref)
    last = re.split(r"[\\/]+", argument.rstrip("/\\"))[-1] or argument
    return f"{kind}:{last}"


def hub_dataset_id(ref: Any) -> str | None:
    """The Hub dataset id a dataset reference names, or None for anything else."""
    match = HUB_DATASET.match(str(ref or ""))
    return match.group(1) if match else None


def dataset_label(ref: Any) -> str | None:
    """What the model-index calls a dataset: its Hub id, or its public name (``folder:pets`` -> ``pets``)."""
    if hub_dataset_id(ref):
        return hub_dataset_id(ref)
    name = public_dataset_name(ref)
    return tag(name.partition(":")[2] or name) if name else None


def licence(config: dict, override: str | None) -> str | None:
    backbone = config.get("backbone") or {}
    return override or get(backbone, "license") or get(backbone, "weights", "license")


def base_model(config: dict) -> str | None:
    backbone = config.get("backbone") or {}
    repo = get(backbone, "base_model") or get(backbone, "hub", "repo")
    return repo if isinstance(repo, str) and HUB_REPO.match(repo) else None


def _evaluated_on(name: str, split: Any, n: Any, role: str = "") -> str:
    parts = [f"{split} split" if split else None, f"{n} images" if isinstance(n, int) else None]
    described = ", ".join(p for p in parts if p)
    return f"{name}{role}" + (f" ({described})" if described else "")


def metadata(config: dict, metrics: dict, model_name: str, license: str | None = None):
    from huggingface_hub import EvalResult, ModelCardData

    backbone, strategy = get(config, "backbone", "name"), get(config, "strategy", "name")
    source, target = get(config, "training", "dataset"), get(config, "training", "target")
    tags = list(dict.fromkeys(t for t in [*BASE_TAGS, tag(backbone or ""), tag(strategy or "")] if t))
    results = []
    if metrics.get("accuracy") is not None:
        label = dataset_label(source) or "unspecified"
        results.append(EvalResult(
            task_type="image-classification", task_name="Image Classification", dataset_type=label,
            dataset_name=_evaluated_on(label, metrics.get("split"), metrics.get("n")),
            dataset_split=metrics.get("split") if isinstance(metrics.get("split"), str) else None,
            metric_type="accuracy", metric_name="Accuracy", metric_value=float(metrics["accuracy"])))
    if metrics.get("target_accuracy") is not None and target:
        label = dataset_label(target)
        split = metrics.get("target_split") or get(metrics, "target", "split")  # recorded by newer runs only
        results.append(EvalResult(
            task_type="image-classification", task_name="Image Classification", dataset_type=label,
            dataset_name=_evaluated_on(label, split, get(metrics, "target", "n"), " (target domain)"),
            dataset_split=split if isinstance(split, str) else None, metric_type="accuracy",
            metric_name="Target accuracy", metric_value=float(metrics["target_accuracy"])))
    hub_datasets = [d for d in dict.fromkeys([hub_dataset_id(source), hub_dataset_id(target)]) if d]
    return ModelCardData(
        library_name="keras",
        pipeline_tag="image-classification",
        license=licence(config, license),
        base_model=base_model(config),
        tags=tags,
        datasets=hub_datasets or None,
        metrics=["accuracy"] if results else None,
        model_name=model_name,
        eval_results=results or None,
    )
