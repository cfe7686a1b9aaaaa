"""Built-in plugin: TF Hub / Kaggle Models SavedModels as Keras 3 backbones.

The Keras layer lives in :mod:`zoo_tfhub.layer`; importing that module registers it
with Keras, which ``keras.models.load_model`` needs for a saved model containing one.
This package does not import Keras itself (``zoo list`` must stay fast), so it
registers the layer on import only when Keras is already loaded:
``import keras, zoo_tfhub`` or ``import zoo_tfhub.layer`` both make saved models load.
"""

import sys

from zoo.api import BackboneSourceSpec, hookimpl

if "keras" in sys.modules:
    import zoo_tfhub.layer  # noqa: F401  (registers HubModule with Keras)


def __getattr__(name):
    if name == "HubModule":
        from zoo_tfhub.layer import HubModule

        return HubModule
    raise AttributeError(f"module 'zoo_tfhub' has no attribute {name!r}")


@hookimpl
def zoo_backbone_sources():
    return [
        BackboneSourceSpec(
            name="tfhub",
            builder="zoo_tfhub.backbone:build",
            adhoc="zoo_tfhub.backbone:spec_for_handle",
            fetch="zoo_tfhub.backbone:fetch",
            pin="zoo_tfhub.digest:pin",
            description="TF2 SavedModels from tfhub.dev / Kaggle handles, local folders or .tar.gz",
        )
    ]
