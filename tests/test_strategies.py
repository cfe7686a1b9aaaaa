"""Fine-tuning and feature extraction on named base weights: what trains, and what the adapter keeps.

The base is alexnet-small with non-trivial BatchNorm statistics, registered as named
weights ("base") served from a mirror folder, so zoo can fetch it again and an adapter
stores only what differs from it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from zoo.artifacts import read_adapter
from zoo.errors import UsageError

BASE_FILE = "alexnet_small_base.weights.h5"


@pytest.fixture(scope="module")
def base_weights(tmp_path_factory):
    """A mirror folder holding alexnet-small weights whose BN layers are far from the identity."""
    import keras

    from zoo.backbones import build_backbone
    from zoo.catalog import get_catalog

    keras.utils.set_random_seed(3)
    built = build_backbone(get_catalog().backbone("alexnet-small"), weights="none", input_size=32)
    rng = np.random.default_rng(3)
    for layer in built.base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0.0, 0.2, n).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype("float32"))
            layer.gamma.assign(rng.uniform(0.8, 1.2, n).astype("float32"))
            layer.beta.assign(rng.normal(0.0, 0.1, n).astype("float32"))
    folder = tmp_path_factory.mktemp("mirror")
    built.base.save_weights(folder / BASE_FILE)
    return folder


@pytest.fixture
def base(base_weights, monkeypatch):
    """Register the base weights (a registry layer in the working directory) and return their values by path."""
    from zoo.backbones import build_backbone
    from zoo.catalog import get_catalog, reset_catalog
    from zoo.models import snapshot

    digest = hashlib.sha256((base_weights / BASE_FILE).read_bytes()).hexdigest()
    Path("registry.toml").write_text(f'[backbones.alexnet-small.weights.base]\nfile = "{BASE_FILE}"\n'
                                     f'sha256 = "{digest}"\n')
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(base_weights))
    reset_catalog()
    built = build_backbone(get_catalog().backbone("alexnet-small"), weights="base", input_size=32)
    assert built.weights.source == "mirror" and built.weights.sha256 == digest
    return snapshot(built.model)


TRAIN = ["train", "--backbone", "alexnet-small", "--weights", "base", "--dataset", "digits-m", "--shots", "10",
         "--batch-size", "32", "--lr", "0.01"]


def test_unfreeze_picks_stage_layers_and_keeps_batchnorm_frozen():
    from zoo.backbones import build_backbone
    from zoo.catalog import get_catalog
    from zoo_strategies.freezing import batchnorm_layers, trainable_parameters, unfreeze_stages

    built = build_backbone(get_catalog().backbone("alexnet-small"), weights="none", input_size=32)

    def trained(value, batchnorm="frozen"):
        stages = unfreeze_stages(built, value, batchnorm=batchnorm)
        return stages, sorted(v.path.split("/")[-2] + "/" + v.name for v in built.model.trainable_weights)

    assert trained("1") == (["fc7"], ["fc7_dense/kernel"])  # its BN layer stays out
    assert trained("conv5,fc7")[1] == ["conv5_conv/kernel", "fc7_dense/kernel"]
    stages, names = trained("all", batchnorm="train")
    assert stages == ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]
    assert "conv1_bn/gamma" in names and "fc7_bn/beta" in names and len(names) == 7 * 3
    assert all(layer.trainable for layer in batchnorm_layers(built.model))
    stages, names = trained("all")
    assert len(names) == 7 and not any(layer.trainable for layer in batchnorm_layers(built.model))
    assert trainable_parameters(built.model) == built.base.count_params() - 4 * sum(
        layer.moving_mean.shape[0] for layer in batchnorm_layers(built.model))
    # the input scaling in front of the base never trains
    assert not built.model.get_layer("preprocess_torch").trainable_weights
    assert trained("0") == ([], [])
    with pytest.raises(UsageError, match="backbone 'alexnet-small' has no stage 'fc8'"):
        unfreeze_stages(built, "fc8")


def test_fine_tuning_changes_only_the_unfrozen_layers(base, tmp_path, zoo):
    from zoo.models import backbone_variables, load_delta, load_run

    out = tmp_path / "ft"
    result = zoo(*TRAIN, "--strategy", "fine-tuning", "--unfreeze", "2", "--epochs", "3", "--warmup-epochs", "1",
                 "--fine-tune-lr", "0.01", "--out", str(out))
    assert result.exit_code == 0, result
    adapter = read_adapter(out)
    assert adapter.config["backbone"]["weights"]["name"] == "base"
    delta = load_delta(adapter.file("backbone.delta.npz"))
    # only the unfrozen stages' dense kernels moved: every other variable, BN statistics and
    # the BN layers inside fc6/fc7 included, is bit-identical to the base and left out
    assert sorted(delta) == ["fc6_dense/kernel", "fc7_dense/kernel"]
    for path, value in delta.items():
        assert not np.array_equal(value, base[path])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["trainable_backbone_parameters"] == 2 * 256 * 256 == sum(v.size for v in delta.values())
    history = (out / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in history[1:]] == ["head", "fine-tune", "fine-tune"]

    # reloading rebuilds the base, applies the delta: the very weights training ended with
    loaded = load_run(adapter)
    for path, variable in backbone_variables(loaded.backbone.model).items():
        np.testing.assert_array_equal(variable.numpy(), delta.get(path, base[path]), err_msg=path)
    for stage in ("fc6_bn", "fc7_bn"):
        for stat in ("moving_mean", "moving_variance"):
            path = next(p for p in base if p.endswith(f"{stage}/{stat}"))
            np.testing.assert_array_equal(backbone_variables(loaded.backbone.model)[path].numpy(), base[path])
    scored = zoo("evaluate", str(out), "--json")
    assert scored.exit_code == 0, scored
    scores = json.loads(scored.stdout)
    assert scores["split"] == "test" and scores["n"] == metrics["n"] == 359
    assert scores["accuracy"] == metrics["accuracy"]
    assert scores["per_class_accuracy"] == metrics["per_class_accuracy"]
    assert scores["loss"] == pytest.approx(metrics["loss"], rel=1e-6)


def test_feature_extraction_adapter_is_the_head_alone(base, tmp_path, zoo):
    out = tmp_path / "fe"
    result = zoo(*TRAIN, "--strategy", "feature-extraction", "--epochs", "2", "--out", str(out))
    assert result.exit_code == 0, result
    adapter = read_adapter(out)
    assert not adapter.has("backbone.delta.npz") and not (out / "backbone.delta.npz").exists()
    scores = json.loads(zoo("evaluate", str(out), "--json").stdout)
    metrics = json.loads((out / "metrics.json").read_text())
    assert scores["accuracy"] == metrics["accuracy"]
    assert scores["loss"] == pytest.approx(metrics["loss"], rel=1e-6)
