"""Built-in plugin: TF Hub / Kaggle Models SavedModels as Keras 3 backbones."""

from zoo import hookimpl
from zoo.specs import BackboneSourceSpec


@hookimpl
def zoo_backbone_sources():
    return [
        BackboneSourceSpec(
            name="tfhub",
            builder="zoo_tfhub.backbone:build",
            adhoc="zoo_tfhub.backbone:spec_for_handle",
            description="TF2 SavedModels from tfhub.dev / Kaggle handles, local folders or .tar.gz",
        )
    ]
