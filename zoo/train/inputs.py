"""A stage's inputs, each checked before training starts: the parent run, weights, datasets.

Everything that can fail because of what the user named fails here, before
``OUT.partial`` exists, so a bad input never leaves a half-started run behind.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from zoo.data.subsets import few_shot
from zoo.errors import UsageError
from zoo.run.folder import RunFolder
from zoo.train.config import StageConfig


def open_parent(config: StageConfig, catalog):
    """``(parent adapter or None, backbone spec)``. A downloaded parent may name registry
    backbones only; a local run folder may also name an ad-hoc one (``tfhub:...``)."""
    if config.from_run is None:
        return None, catalog.backbone(config.backbone)
    from zoo.run.load import backbone_of, find_run

    parent, trusted = find_run(config.from_run, catalog)
    spec = backbone_of(parent, catalog, trusted=trusted)
    if config.backbone and config.backbone != spec.name:
        raise UsageError(f"--from run uses backbone '{spec.name}', not '{config.backbone}'; "
                         "drop --backbone or pick a matching run")
    return parent, spec


def stage_weights(config: StageConfig, spec, parent: RunFolder | None) -> str:
    """The weights to build the base with, checked now when they are a file or a keyword.

    A child of a run starts from the parent's base weights when they can be fetched by
    name again, else from random ones: the parent's delta then holds every variable.
    """
    from zoo.backbone.weights import resolve_weights
    from zoo.run.load import base_weights_name

    weights = config.weights
    if parent is not None and weights == "default":
        weights = base_weights_name(spec, parent.backbone)
    choice = spec.default_weights if weights in ("", "default") else weights
    if spec.weights_named(choice) is None:  # none, builtin or a file path: no download, so check it now
        resolve_weights(spec, choice)
    return weights


def pinned_spec(config: StageConfig, spec, weights: str, parent: RunFolder | None, catalog,
                pins: dict | None = None):
    """``(spec, pins)``: the backbone spec with its hub files fetched and verified now, before
    anything is written (a source without ``pin`` gives it back as it is, and no pins); a child
    of a run gets the parent's files, a resumed run the ones it started with (``pins``)."""
    from zoo.backbone.build import check_input_size, pin_backbone

    recorded = parent.backbone if parent else pins
    pinned, provenance = pin_backbone(spec, weights=weights, recorded=recorded, catalog=catalog)
    if config.image_size:
        check_input_size(pinned, config.image_size)
    return pinned, provenance


def load_stage_data(config: StageConfig, catalog):
    """``(source, target or None)``, loaded and checked: a labelled source training split,
    a target with training images and the source's classes."""
    from zoo.data.loading import load_dataset

    source = load_dataset(config.dataset, catalog=catalog, val_split=config.val_split or None, seed=config.seed,
                          on_bad_image=config.on_bad_image)
    train = source.splits.get("train")
    if train is None or not len(train):
        raise UsageError(f"dataset '{config.dataset}' has no training examples")
    if not train.labelled:
        raise UsageError(f"dataset '{config.dataset}' has unlabelled training examples; the training set must be "
                         "labelled (unlabelled images can be a --target for domain adaptation)")
    if config.shots:
        source.splits["train"] = few_shot(train, config.shots, config.seed, config.dataset, source.class_names)
    if not config.target:
        return source, None
    target = load_dataset(config.target, catalog=catalog, seed=config.seed, on_bad_image=config.on_bad_image)
    if target.class_names != source.class_names:
        raise UsageError(f"target '{config.target}' has classes {target.class_names[:5]}..., the source "
                         f"'{config.dataset}' has {source.class_names[:5]}...; they must be the same")
    if not len(target.splits.get("train") or ()):
        raise UsageError(f"target '{config.target}' has no training images (it has: {', '.join(target.splits)}); "
                         "adaptation learns from the target's training split")
    return source, target


def gather_inputs(config: StageConfig, catalog, strategy, options: dict[str, Any],
                  log: Callable[[str], None], pins: dict | None = None) -> "StageInputs":
    """The parent run, backbone, weights and datasets of a stage, each checked."""
    parent, spec = open_parent(config, catalog)
    weights = stage_weights(config, spec, parent)
    spec, pins = pinned_spec(config, spec, weights, parent, catalog, pins)
    if strategy.check:  # again: a pinned spec may know what the named one could not (an ad-hoc backbone's stages)
        from zoo.plugin.specs import load_object

        load_object(strategy.check)(options, spec)
    image_size = config.image_size or (parent.backbone["input_size"] if parent else None)
    source, target = load_stage_data(config, catalog)
    for bad, reason in [*source.bad_files, *(target.bad_files if target else [])]:
        log(f"skipped unreadable image {bad}: {reason}")
    return StageInputs(config=config, catalog=catalog, strategy=strategy, options=options, spec=spec,
                       weights=weights, image_size=image_size, parent=parent, source=source, target=target, pins=pins)


@dataclass
class StageInputs:
    """Everything a stage was checked to have before training starts."""

    config: StageConfig
    catalog: Any
    strategy: Any  # zoo.plugin.specs.StrategySpec
    options: dict[str, Any]
    spec: Any  # zoo.plugin.specs.BackboneSpec
    weights: str
    image_size: int | None
    parent: RunFolder | None
    source: Any  # zoo.data.records.LoadedDataset
    target: Any
    precision: dict[str, str] = dataclasses.field(default_factory=dict)  # the policy chosen, and why
    pins: dict = dataclasses.field(default_factory=dict)  # what the backbone's source pinned (hub files, a digest)
