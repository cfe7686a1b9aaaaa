"""The ``kerashub`` builder: a KerasHub backbone from its verified folder, pooled to one vector.

``keras_hub.models.Backbone.from_preset`` reads the folder (a KerasHub preset, or a timm /
transformers checkpoint it converts). KerasHub backbones give feature maps or token
sequences; the pooling here uses stock Keras layers only, so an exported model loads
with plain Keras plus ``import keras_hub``: average pooling over feature maps, the class
token (the first) of a sequence. A backbone whose input size is free is built at the
size asked for; one fixed by its position embeddings (ViT) only at its own.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from zoo.api import BackboneSpec, UsageError
from zoo_kerashub.fetch import local_folder, require_keras_hub
from zoo_kerashub.formats import describe_folder


def build(spec: BackboneSpec, *, weights: Path | None, input_size: int):
    require_keras_hub(spec.name)
    import keras
    import keras_hub

    folder = local_folder(spec)
    facts = describe_folder(folder, f"backbone '{spec.name}'")
    if facts.fixed_size and facts.input_size and input_size != facts.input_size:
        raise UsageError(f"backbone '{spec.name}' takes only {facts.input_size} px images (its position embeddings "
                         f"were learnt at that size), not {input_size}: use --image-size {facts.input_size}")
    kwargs = {} if spec.fixed_size or facts.fixed_size else {"image_shape": (input_size, input_size, spec.channels)}
    try:
        backbone = keras_hub.models.Backbone.from_preset(str(folder), **kwargs)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UsageError(f"backbone '{spec.name}': KerasHub cannot load {spec.model}: {first}") from None
    inputs = keras.Input((input_size, input_size, spec.channels), name="pixels")
    features = backbone(inputs)
    pooling = spec.option("pooling") or facts.pooling
    if len(features.shape) == 4:
        pooled = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    elif len(features.shape) == 3 and pooling == "token":
        tokens = int(features.shape[1])
        first = keras.layers.Cropping1D((0, tokens - 1), name="class_token")(features)
        pooled = keras.layers.Flatten(name="class_token_flat")(first)
    elif len(features.shape) == 3:
        pooled = keras.layers.GlobalAveragePooling1D(name="avg_pool")(features)
    else:
        raise UsageError(f"backbone '{spec.name}': KerasHub's {type(backbone).__name__} gives outputs of shape "
                         f"{tuple(features.shape)}, neither feature maps nor tokens")
    name = "kerashub_" + hashlib.sha1(f"{spec.model}@{spec.hub_revision}".encode()).hexdigest()[:10]
    return keras.Model(inputs, pooled, name=name)
