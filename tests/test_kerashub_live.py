"""Real timm and transformers checkpoints from huggingface.co, through zoo's kerashub backbones.

Skipped unless ZOO_LIVE_TESTS=1 (it downloads about 1 GB). On scikit-learn's bundled
photograph ``china.jpg`` (a Chinese palace by a lake), the ImageNet classifier each repo
carries must rank a building or lakeside class in its top 5, and zoo's pooled features
through that classifier must give KerasHub's own classifier's probabilities. Every
catalogue entry's pinned commit and sha256s must be what the Hub serves.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(os.environ.get("ZOO_LIVE_TESTS") != "1", reason="set ZOO_LIVE_TESTS=1 (network)")]

# ImageNet-1k: palace, monastery, church, stupa, mosque, bell cote, dome, castle, boathouse,
# triumphal arch, tile roof, lakeside, library, pedestal
BUILDINGS = {698, 663, 497, 832, 668, 442, 538, 483, 449, 873, 858, 975, 624, 708}


def china(size: int) -> np.ndarray:
    import tensorflow as tf
    from sklearn.datasets import load_sample_image

    image = tf.image.resize(load_sample_image("china.jpg").astype("float32"), (size, size), antialias=True)
    return np.asarray(image)[None]


@pytest.mark.parametrize("preset", ["hf://timm/resnet50.a1_in1k", "hf://google/vit-base-patch16-224"])
def test_imagenet_predictions_of_a_real_checkpoint(preset, monkeypatch):
    import keras
    import keras_hub
    from zoo_kerashub.fetch import local_folder

    from zoo.backbone.build import build_backbone
    from zoo.plugin.catalog import get_catalog

    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    built = build_backbone(get_catalog().backbone(f"kerashub:{preset}"), input_size=224)
    assert len(built.provenance["hub"]["revision"]) == 40
    pixels = china(224)
    features = built.model.predict(pixels, verbose=0)
    classifier = keras_hub.models.ImageClassifier.from_preset(str(local_folder(built.spec)))
    dense = classifier.output_dense
    probabilities = keras.ops.convert_to_numpy(keras.activations.softmax(dense(features)))[0]
    top5 = set(np.argsort(probabilities)[-5:].tolist())
    assert top5 & BUILDINGS, (preset, sorted(top5))
    theirs = classifier.predict(pixels, verbose=0)[0]
    theirs = keras.ops.convert_to_numpy(keras.activations.softmax(theirs)) if theirs.min() < 0 else theirs
    assert int(np.argmax(theirs)) == int(np.argmax(probabilities))


@pytest.mark.parametrize("name", ["timm-resnet50-a1", "timm-efficientnet-b0", "timm-mobilenetv3-large",
                                  "dinov2-small", "vit-b16"])
def test_every_catalogue_pin_is_served_by_the_hub(name, zoo, monkeypatch):
    """The registry's commits and sha256s were looked up offline: the Hub itself must serve them."""
    import json

    from zoo.plugin.catalog import get_catalog

    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    spec = get_catalog().backbone(name)
    result = zoo("pull", name, "--json")
    assert result.exit_code == 0, result
    pulled = json.loads(result.stdout)
    assert pulled["revision"] == spec.hub_revision
    assert {file: pulled["files"].get(file) for file, _ in spec.hub_files} == dict(spec.hub_files)


def test_a_keras_hub_preset_name_loads_from_kaggle():
    """A KerasHub preset name goes to its kaggle:// handle (KAGGLE_USERNAME / KAGGLE_KEY if Kaggle asks)."""
    from zoo.backbone.build import build_backbone
    from zoo.plugin.catalog import get_catalog

    built = build_backbone(get_catalog().backbone("kerashub:resnet_18_imagenet"), input_size=224)
    assert built.feature_dim == 512 and set(built.provenance["kaggle"]["files"]) >= {"config.json"}
    pixels = china(224)
    assert np.isfinite(built.model.predict(pixels, verbose=0)).all()
