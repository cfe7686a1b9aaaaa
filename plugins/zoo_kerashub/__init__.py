"""Built-in plugin: KerasHub presets, and timm / transformers vision checkpoints on the HF Hub.

``--backbone kerashub:PRESET`` with PRESET a KerasHub preset name, a local preset folder,
``hf://OWNER/REPO[@REV]`` (a KerasHub preset, or a timm or transformers repository that
KerasHub converts) or ``kaggle://...``; registry entries use ``source = "kerashub"``.
Nothing here imports KerasHub or TensorFlow: ``zoo list`` works without the
``kerashub`` extra installed, and building such a backbone says what to install.
"""

from zoo.api import BackboneSourceSpec, hookimpl


@hookimpl
def zoo_backbone_sources():
    return [
        BackboneSourceSpec(
            name="kerashub",
            builder="zoo_kerashub.build:build",
            adhoc="zoo_kerashub.presets:spec_for_preset",
            fetch="zoo_kerashub.fetch:pull",
            pin="zoo_kerashub.fetch:pin",
            description="KerasHub presets (names, folders, hf://, kaggle://) and the timm / transformers "
                        "vision repos KerasHub converts; needs pip install 'zoo[kerashub]'",
        )
    ]
