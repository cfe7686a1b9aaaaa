"""Every registry backbone built for real (random weights, small inputs), and the stage API."""

from __future__ import annotations

import json
import statistics
import time

import numpy as np
import pytest
from zoo_strategies.freezing import resolve_unfreeze

from zoo.backbone.build import build_backbone, check_input_size, stage_layers
from zoo.errors import ConfigError, UsageError
from zoo.plugin.catalog import Catalog

KERAS_BACKBONES = ["vgg16", "vgg19", "resnet50", "resnet101", "resnet152", "resnet50v2", "resnet101v2", "resnet152v2"]


def spec(name):
    return Catalog().backbone(name)


@pytest.mark.parametrize("name", KERAS_BACKBONES)
def test_keras_backbone_builds_and_registry_is_exact(name):
    """Built once each at its minimum (32 px): output, parameters, stages and minimum all as registered."""
    import keras

    s = spec(name)
    assert s.smallest_input == 32 and s.input_size == 224 and not s.fixed_size
    built = build_backbone(s, weights="none", input_size=32)
    assert built.weights.source == "random" and built.weights.path is None
    assert built.model.input_shape == (None, 32, 32, 3)
    assert built.model.output_shape == (None, s.feature_dim)
    assert built.base.count_params() == s.params
    features = built.model(np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32"))
    assert features.shape == (2, s.feature_dim) and np.isfinite(np.asarray(features)).all()
    # every stage names layers, together they hold every weight of the base
    covered = stage_layers(built, s.stage_names)
    assert sum(layer.count_params() for layer in covered) == s.params
    for stage in s.stage_names:
        assert stage_layers(built, [stage]), stage
    # the minimum is Keras' own: one pixel less is refused by Keras itself, and by us first
    with pytest.raises(ValueError, match="at least 32"):
        getattr(keras.applications, s.model)(include_top=False, weights=None, input_shape=(31, 31, 3))
    with pytest.raises(UsageError, match=f"backbone '{name}' needs an input size of at least 32 pixels, got 31"):
        build_backbone(s, weights="none", input_size=31)


def test_sizes_between_minimum_and_default():
    s = spec("vgg16")
    assert check_input_size(s, None) == 224
    for size in (224, 45):
        built = build_backbone(s, weights="none", input_size=size)
        assert built.input_size == size and built.model.output_shape == (None, 512)


def test_preprocessing_happens_inside_the_model():
    from zoo.backbone.preprocessing import preprocess

    built = build_backbone(spec("vgg16"), weights="none", input_size=32)
    assert built.model.layers[1].name == "preprocess_caffe"
    images = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(built.model.predict(images, verbose=0),
                               built.base.predict(preprocess(images, "caffe"), verbose=0), rtol=1e-4, atol=1e-4)


def test_alexnet_classic_layout():
    s = spec("alexnet")
    assert s.default_weights == "none" and not s.weights and s.feature_dim == 4096
    built = build_backbone(s, input_size=s.smallest_input)  # default weights: none (no ImageNet file exists)
    assert built.weights.source == "random"
    assert built.base.count_params() == s.params == 57_003_840
    convs = [layer for layer in built.base.layers if layer.name.endswith("_conv")]
    dense = [layer for layer in built.base.layers if layer.name.endswith("_dense")]
    assert [layer.filters for layer in convs] == [64, 192, 384, 256, 256]
    assert [layer.kernel_size for layer in convs] == [(11, 11), (5, 5), (3, 3), (3, 3), (3, 3)]
    assert [layer.units for layer in dense] == [4096, 4096]  # fc8 is the head strategies add
    assert built.model(np.zeros((1, 63, 63, 3), "float32")).shape == (1, 4096)
    # the minimum is exact: at 63 px one pixel is left after the last max pooling (62 would leave none)
    assert built.base.get_layer("conv5_pool").output.shape[1:3] == (1, 1)
    assert built.base.get_layer("conv5_grid").output.shape[1:] == (6, 6, 256)
    assert {layer.name.split("_")[0] for layer in built.base.layers if layer.weights} == set(s.stage_names)
    with pytest.raises(UsageError, match="at least 63"):
        build_backbone(s, input_size=62)
    # at 224 the grid before fc6 is the paper's 6x6 of 256 maps
    built224 = build_backbone(s, input_size=224)
    assert built224.base.get_layer("conv5_pool").output.shape[1:] == (6, 6, 256)
    assert built224.base.get_layer("fc6_flatten").output.shape[1:] == (9216,)


def test_alexnet_small_is_fast_and_trains():
    import keras
    import tensorflow as tf

    s = spec("alexnet-small")
    assert s.input_size == 32 and s.feature_dim == 256
    built = build_backbone(s, input_size=32)
    assert built.base.count_params() == s.params
    assert [layer.filters for layer in built.base.layers if layer.name.endswith("_conv")] == [16, 48, 96, 64, 64]
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in built.base.layers)
    smallest = build_backbone(s, input_size=s.smallest_input)
    assert smallest.model.output_shape == (None, 256)
    assert smallest.base.get_layer("conv5_pool").output.shape[1:3] == (1, 1)  # 29 px is the exact minimum
    assert build_backbone(s, input_size=64).model.output_shape == (None, 256)

    model = keras.Sequential([built.model, keras.layers.Dense(10)])
    optimizer = keras.optimizers.SGD(0.05)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 255, (64, 32, 32, 3)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, 64))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    first = float(step())
    times = []
    for _ in range(15):
        start = time.perf_counter()
        last = float(step())
        times.append(time.perf_counter() - start)
    # A compiled step takes about 0.04 s on a 2-core CPU; 0.5 s leaves room for a loaded machine and still fails
    # when every step retraces (about 2 s) or the "small" network grows by an order of magnitude.
    assert statistics.median(times) < 0.5, times
    assert last < first * 0.8, (first, last)  # it learns: gradients reach the backbone


def test_resolve_unfreeze():
    s = spec("resnet50")
    assert resolve_unfreeze(s, "0") == [] and resolve_unfreeze(s, 0) == []
    assert resolve_unfreeze(s, "2") == ["conv4", "conv5"]
    assert resolve_unfreeze(s, "all") == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert resolve_unfreeze(s, "conv5, conv3") == ["conv3", "conv5"]
    with pytest.raises(UsageError, match=r"has no stage 'block5'; its stages, first to last, are conv1, conv2, "
                                         r"conv3, conv4, conv5"):
        resolve_unfreeze(s, "conv5,block5")
    with pytest.raises(UsageError, match="has 5 stages"):
        resolve_unfreeze(s, "6")
    with pytest.raises(UsageError, match="has 5 stages"):
        resolve_unfreeze(s, "-1")


def test_stage_layers_are_the_named_blocks():
    s = spec("resnet50v2")
    built = build_backbone(s, weights="none", input_size=32)
    last = stage_layers(built, resolve_unfreeze(s, "1"))
    names = [layer.name for layer in last]
    assert names[0].startswith("conv5_") and "post_bn" in names
    assert all(name.startswith(("conv5_", "post_")) for name in names)
    with pytest.raises(UsageError, match="no stage conv9"):
        stage_layers(built, ["conv9"])


def test_registry_layer_mistakes_are_named(tmp_path):
    (tmp_path / "registry.toml").write_text(
        "[backbones.alexnet-small]\nfeature_dim = 128\n"
        "[backbones.bad-alexnet]\nsource = 'alexnet'\nmodel = 'alexnet'\ninput_size = 64\nfeature_dim = 8\n"
        "options = { widht = 2 }\n"
        "[backbones.fixed]\nsource = 'keras'\nmodel = 'VGG16'\ninput_size = 64\nfixed_size = true\nfeature_dim = 512\n"
    )
    import os

    os.chdir(tmp_path)
    catalog = Catalog()
    with pytest.raises(ConfigError, match="feature_dim is 128 but the built model gives 256; set feature_dim = 256"):
        build_backbone(catalog.backbone("alexnet-small"), catalog=catalog)
    with pytest.raises(ConfigError, match="unknown option 'widht'"):
        build_backbone(catalog.backbone("bad-alexnet"), catalog=catalog)
    with pytest.raises(UsageError, match=r"takes only 64x64 images \(fixed size\), got input size 96"):
        build_backbone(catalog.backbone("fixed"), weights="none", input_size=96, catalog=catalog)


def test_zoo_info_json(zoo):
    result = zoo("info", "resnet50", "--json")
    assert result.exit_code == 0, result
    data = json.loads(result.stdout)
    assert data["kind"] == "backbone" and data["name"] == "resnet50"
    assert data["input_size"] == 224 and data["min_input_size"] == 32 and data["fixed_size"] is False
    assert data["preprocessing"] == {"mode": "caffe", "applied_in": "model"}
    assert data["feature_dim"] == 2048 and data["params"] == 23_587_712
    assert list(data["stages"]) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    weights = data["weights"]["imagenet"]
    assert weights["file"] == "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert weights["url"].startswith("https://storage.googleapis.com/tensorflow/keras-applications/resnet/")
    assert weights["md5"] == "4d473c1dd8becc155b73f8504c6f6626" and weights["cached"] is False
    assert data["default_weights"] == "imagenet"


def test_zoo_info_alexnet_small(zoo):
    data = json.loads(zoo("info", "alexnet-small", "--json").stdout)
    assert data["default_weights"] == "none" and data["weights"] == {}
    assert data["options"]["batchnorm"] is True and data["min_input_size"] == 29
