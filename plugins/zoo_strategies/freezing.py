"""Which backbone layers train, and how BatchNormalization behaves while they do.

:func:`unfreeze_stages` turns ``--unfreeze`` (a number of stages from the end, stage names or
``all``) into trainable layers; everything else, the input scaling included, stays
frozen. BatchNormalization is then either *frozen* (fine-tuning): ``trainable = False``
on each BN layer, which in Keras 3 is what keeps it in inference mode with its moving
statistics fixed (``base(x, training=False)`` does not survive a trainable base under
``fit``: keras-team/keras#20285); or *trained* (domain adaptation): the BN layers of the
unfrozen stages normalise with batch statistics and learn their scale and offset.
"""

from __future__ import annotations

import re
from typing import Any

from zoo.api import BackboneSpec, UsageError


def batchnorm_layers(model) -> list[Any]:
    """Every BatchNormalization layer inside ``model``, however deeply nested."""
    import keras

    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if isinstance(layer, keras.layers.BatchNormalization)]


def freeze_batchnorm(model) -> int:
    """``trainable = False`` on every BatchNormalization layer; returns how many.

    A TF Hub module keeps its BatchNorm inside, out of reach; its layer is told not to
    pass ``training`` on (``pass_training = False``), which keeps that BatchNorm in
    inference mode while the module's weights still train.
    """
    layers = batchnorm_layers(model)
    for layer in layers:
        layer.trainable = False
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if hasattr(layer, "pass_training"):
            layer.pass_training = False
    return len(layers)


def _with_sublayers(layers) -> set[int]:
    chosen = set()
    for layer in layers:
        chosen.add(id(layer))
        if hasattr(layer, "_flatten_layers"):
            chosen.update(id(sub) for sub in layer._flatten_layers(include_self=False, recursive=True))
    return chosen


def unfreeze_stages(built, value: str | int, *, batchnorm: str = "frozen") -> list[str]:
    """Make the chosen stages of ``built`` (a BuiltBackbone) trainable; returns their names.

    ``batchnorm="frozen"`` keeps every BN layer in inference mode; ``"train"`` leaves the
    BN layers of the chosen stages trainable (batch statistics while training).
    """
    from zoo.api import stage_layers

    if batchnorm not in ("frozen", "train"):
        raise ValueError(f"batchnorm must be 'frozen' or 'train', not {batchnorm!r}")
    if not built.spec.stages and str(value).strip().lower() == "all":
        chosen_layers, stages = [built.base], ["all"]
    else:
        stages = resolve_unfreeze(built.spec, value)
        chosen_layers = stage_layers(built, stages) if stages else []
    model = built.model
    if not chosen_layers:
        model.trainable = False
        return stages
    model.trainable = True  # containers stay trainable; each leaf layer decides for itself below
    chosen = _with_sublayers(chosen_layers)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        is_leaf = not list(layer._flatten_layers(include_self=False, recursive=False))
        if is_leaf or id(layer) in chosen:
            layer.trainable = id(layer) in chosen
        else:  # a container left trainable for its chosen layers: its own variables (a ViT's class token) stay frozen
            for variable in getattr(layer, "_trainable_variables", []):
                variable.trainable = False
    if batchnorm == "frozen":
        freeze_batchnorm(model)
    return stages


def trainable_parameters(model) -> int:
    import keras

    return int(sum(keras.ops.size(v) for v in model.trainable_weights))


def recompute_batchnorm_statistics(model, images) -> int:
    """Set the moving mean and variance of ``model``'s trainable BN layers from ``images``.

    ``images`` is a finite dataset of image batches. Each batch passes in training mode
    (momentum 0, so each BN layer's moving statistics become that batch's); the final
    statistics are their average weighted by batch size (AdaBN, Li et al. 2016, with
    the cumulative average of PyTorch's ``update_bn``). Dropout and noise layers are
    switched off meanwhile: the statistics are for inference, where they do nothing.
    Nothing but the statistics changes. Returns the number of batches seen (0: no
    trainable BN layer was reachable).
    """
    import numpy as np
    import tensorflow as tf

    layers = [layer for layer in batchnorm_layers(model) if layer.trainable]
    if not layers:
        return 0
    saved = [layer.momentum for layer in layers]
    noisy = _stochastic_layers(model)
    sums = [[0.0, 0.0] for _ in layers]
    seen, count = 0, 0
    forward = tf.function(lambda batch: model(batch, training=True))
    try:
        for layer in layers:
            layer.momentum = 0.0
        for layer, attribute, _ in noisy:
            setattr(layer, attribute, 0.0)
        for batch in images:
            forward(batch)
            size = int(tf.shape(batch)[0])
            for total, layer in zip(sums, layers):
                total[0] = total[0] + size * np.asarray(layer.moving_mean.numpy(), np.float64)
                total[1] = total[1] + size * np.asarray(layer.moving_variance.numpy(), np.float64)
            seen += size
            count += 1
        for (mean, variance), layer in zip(sums, layers):
            layer.moving_mean.assign(np.asarray(mean / max(seen, 1), np.float32))
            layer.moving_variance.assign(np.asarray(variance / max(seen, 1), np.float32))
    finally:
        for layer, momentum in zip(layers, saved):
            layer.momentum = momentum
        for layer, attribute, value in noisy:
            setattr(layer, attribute, value)
    return count


def _stochastic_layers(model) -> list[tuple[Any, str, float]]:
    """(layer, attribute, value) for each layer that adds randomness in training mode."""
    import keras

    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, (keras.layers.Dropout, keras.layers.GaussianDropout, keras.layers.AlphaDropout)):
            found.append((layer, "rate", layer.rate))
        elif isinstance(layer, keras.layers.GaussianNoise):
            found.append((layer, "stddev", layer.stddev))
    return found



def resolve_unfreeze(spec: BackboneSpec, value: str | int) -> list[str]:
    """``--unfreeze`` to stage names, first to last.

    ``0`` (or ``none``): nothing; ``N``: the last N stages; ``all``: every stage; or
    stage names separated by commas.
    """
    text = str(value).strip()
    names = spec.stage_names
    if text.lower() in ("", "0", "none"):
        return []
    listing = ", ".join(names)
    if not names:
        raise UsageError(f"backbone '{spec.name}' names no stages, so it can only be used frozen (--unfreeze 0)")
    if text.lower() == "all":
        return list(names)
    if re.fullmatch(r"[+-]?\d+", text):
        count = int(text)
        if count < 0 or count > len(names):
            raise UsageError(f"--unfreeze {text}: backbone '{spec.name}' has {len(names)} stages ({listing}); "
                             f"give 0 to {len(names)}, stage names or 'all'")
        return names[len(names) - count:]
    requested = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [part for part in requested if part not in names]
    if unknown:
        raise UsageError(f"backbone '{spec.name}' has no stage {', '.join(repr(u) for u in unknown)}; "
                         f"its stages, first to last, are {listing} (or give a number or 'all')")
    return [name for name in names if name in requested]
