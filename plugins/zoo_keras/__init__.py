"""Built-in plugin: backbones from ``keras.applications``, and AlexNet defined by zoo."""

from zoo.api import BackboneSourceSpec, hookimpl


@hookimpl
def zoo_backbone_sources():
    return [
        BackboneSourceSpec(
            name="keras",
            builder="zoo_keras.applications:build",
            description="keras.applications models, headless, global average pooling",
        ),
        BackboneSourceSpec(
            name="alexnet",
            builder="zoo_keras.alexnet:build",
            description="AlexNet as defined by zoo: 5 conv + 3 dense (the last is the new head)",
        ),
    ]
