"""The catalogue's KerasHub entries: listed without TensorFlow, validated, and true to the
architectures KerasHub builds for them (stages, feature sizes, parameter counts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.backbone.build import layer_matches
from zoo.errors import ConfigError
from zoo.plugin.catalog import get_catalog

ENTRIES = ["timm-resnet50-a1", "timm-efficientnet-b0", "timm-mobilenetv3-large", "dinov2-small", "vit-b16"]


def test_entries_list_and_describe_without_tensorflow():
    code = ("import json, sys; from zoo.plugin.catalog import get_catalog; from zoo.plugin.inventory import info; "
            f"print(json.dumps([info(get_catalog(), n) for n in {ENTRIES!r}])); "
            "assert 'tensorflow' not in sys.modules and 'keras_hub' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    described = {d["name"]: d for d in json.loads(done.stdout)}
    resnet = described["timm-resnet50-a1"]
    assert (resnet["base_model"], resnet["license"], resnet["feature_dim"]) == ("timm/resnet50.a1_in1k", "apache-2.0", 2048)
    assert resnet["weights"]["builtin"]["source"] == "hf://timm/resnet50.a1_in1k"
    assert described["vit-b16"]["fixed_size"] is True and described["vit-b16"]["preprocessing"]["mode"] == "tf"
    assert all(len(d["hub_revision"]) == 40 for d in described.values()), described  # one commit each
    assert all("model.safetensors" in dict(get_catalog().backbone(n).hub_files) for n in ENTRIES if n != "vit-b16")


@pytest.mark.parametrize("field, value, problem", [
    ("hub_revision", '"main"', "must be a full 40-character commit sha"),
    ("base_model", '"not a repo"', "must be a Hugging Face repo id"),
    ("hub_files", '{ "model.safetensors" = "abc" }', "must be 64 lowercase hex digits"),
])
def test_bad_pins_are_refused_naming_the_field(field, value, problem):
    Path("registry.toml").write_text(f"[backbones.timm-resnet50-a1]\n{field} = {value}\n")
    with pytest.raises(ConfigError) as error:
        get_catalog().backbones
    assert "backbones.timm-resnet50-a1" in str(error.value) and field in str(error.value)
    assert problem in str(error.value)


@pytest.mark.slow
def test_entries_match_the_architectures_keras_hub_builds():
    pytest.importorskip("keras_hub")
    from keras_hub.src.utils.timm import convert_efficientnet, convert_mobilenet, convert_resnet
    from keras_hub.src.utils.transformers import convert_dinov2, convert_vit

    vit = {"image_size": 224, "patch_size": 16, "num_hidden_layers": 12, "num_attention_heads": 12, "hidden_size": 768,
           "intermediate_size": 3072, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "qkv_bias": True}
    dino = {"model_type": "dinov2", "image_size": 518, "patch_size": 14, "num_hidden_layers": 12, "hidden_size": 384,
            "num_attention_heads": 6, "mlp_ratio": 4, "layerscale_value": 1.0, "use_swiglu_ffn": False,
            "hidden_dropout_prob": 0.0, "drop_path_rate": 0.0}
    dino_config = {**convert_dinov2.convert_backbone_config(dino), "image_shape": (224, 224, 3)}
    built = {
        "timm-resnet50-a1": convert_resnet.backbone_cls(**convert_resnet.convert_backbone_config({"architecture": "resnet50"})),
        "timm-efficientnet-b0": convert_efficientnet.backbone_cls(
            **convert_efficientnet.convert_backbone_config({"architecture": "efficientnet_b0"})),
        "timm-mobilenetv3-large": convert_mobilenet.backbone_cls(
            **convert_mobilenet.convert_backbone_config({"architecture": "mobilenetv3_large_100"})),
        "dinov2-small": convert_dinov2.backbone_cls(**dino_config),
        "vit-b16": convert_vit.backbone_cls(**convert_vit.convert_backbone_config(vit)),
    }
    for name, backbone in built.items():
        spec = get_catalog().backbone(name)
        assert backbone.count_params() == spec.params, name
        assert int(backbone.output.shape[-1]) == spec.feature_dim, name
        names = [layer.name for layer in backbone._flatten_layers(include_self=False, recursive=True)]
        covered = set()
        for stage, prefixes in spec.stages:
            hits = [n for n in names if layer_matches(n, prefixes)]
            assert hits, f"{name}: stage {stage} matches no layer"
            covered.update(hits)
        weighted = {layer.name for layer in backbone._flatten_layers(include_self=False, recursive=False)
                    if layer.weights and not layer.name.startswith("input")}
        assert weighted <= covered | {"encoder", "vit_encoder"}, f"{name}: layers in no stage: {weighted - covered}"
