"""Each preprocessing mode, as a function and as Keras layers, against Keras' own code."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.backbone.preprocessing import MODES, preprocess, preprocessing_layers
from zoo.errors import UsageError


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    batch = rng.uniform(0, 255, size=(4, 8, 8, 3)).astype("float32")
    batch[0, 0, 0] = [0, 0, 0]
    batch[0, 0, 1] = [255, 255, 255]
    batch[0, 0, 2] = [255, 0, 10]
    return batch


def keras_reference(mode: str, images: np.ndarray) -> np.ndarray:
    import keras

    module = {"caffe": keras.applications.vgg16, "tf": keras.applications.resnet_v2,
              "torch": keras.applications.densenet}[mode]
    return module.preprocess_input(images.copy())


@pytest.mark.parametrize("mode", ["caffe", "torch", "tf"])
def test_function_matches_keras_applications(mode, images):
    ours = preprocess(images, mode)
    assert isinstance(ours, np.ndarray) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, keras_reference(mode, images), rtol=1e-5, atol=1e-4)


def test_known_values():
    pixel = np.array([[[[255.0, 0.0, 10.0]]]], dtype="float32")
    np.testing.assert_allclose(preprocess(pixel, "caffe")[0, 0, 0], [10 - 103.939, 0 - 116.779, 255 - 123.68], atol=1e-4)
    np.testing.assert_allclose(preprocess(pixel, "tf")[0, 0, 0], [1.0, -1.0, 10 / 127.5 - 1], atol=1e-6)
    np.testing.assert_allclose(preprocess(pixel, "unit")[0, 0, 0], [1.0, 0.0, 10 / 255], atol=1e-6)
    np.testing.assert_allclose(preprocess(pixel, "torch")[0, 0, 0],
                               [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (10 / 255 - 0.406) / 0.225], atol=1e-5)
    assert preprocess(pixel, "none") is pixel  # float32 already: nothing to do


def test_none_gives_float32_pixels_in_0_255_unchanged():
    import tensorflow as tf

    pixels = np.array([[[[255, 0, 10], [1, 128, 254]]]], dtype=np.uint8)
    as_array = preprocess(pixels, "none")
    as_tensor = preprocess(tf.constant(pixels), "none")

    assert as_array.dtype == np.float32 and as_tensor.dtype == tf.float32
    assert np.array_equal(as_array, pixels.astype(np.float32))
    assert np.array_equal(as_tensor.numpy(), pixels.astype(np.float32))
    assert preprocessing_layers("none") == []  # the model's float32 input is the pixels as they are


@pytest.mark.parametrize("mode", MODES)
def test_layers_and_tensors_agree_with_function(mode, images):
    import keras
    import tensorflow as tf

    expected = preprocess(images, mode)
    as_tensor = preprocess(tf.constant(images), mode)
    assert tf.is_tensor(as_tensor)
    np.testing.assert_allclose(np.asarray(as_tensor), expected, rtol=1e-6, atol=1e-5)

    layers = preprocessing_layers(mode)
    assert all(type(layer).__module__.startswith("keras.") for layer in layers)
    assert all(layer.dtype_policy.name == "float32" for layer in layers)
    inputs = keras.Input((8, 8, 3))
    x = inputs
    for layer in layers:
        x = layer(x)
    model = keras.Model(inputs, x)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-4)


def test_layers_survive_plain_keras_save_and_load(tmp_path, images):
    import keras

    inputs = keras.Input((8, 8, 3))
    outputs = [inputs]
    for mode in ("caffe", "torch", "tf", "unit"):
        x = inputs
        for layer in preprocessing_layers(mode, name=f"pre_{mode}"):
            x = layer(x)
        outputs.append(x)
    model = keras.Model(inputs, outputs[1:])
    path = tmp_path / "pre.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)
    for mode, got in zip(("caffe", "torch", "tf", "unit"), reloaded.predict(images, verbose=0)):
        np.testing.assert_allclose(got, preprocess(images, mode), rtol=1e-5, atol=1e-4)
    caffe = reloaded.get_layer("pre_caffe_caffe")
    assert not caffe.trainable and caffe.trainable_weights == []


def test_bad_modes_and_channels():
    gray = np.zeros((1, 4, 4, 1), dtype="float32")
    with pytest.raises(UsageError, match="unknown preprocessing mode 'bgr'"):
        preprocess(gray, "bgr")
    with pytest.raises(UsageError, match="needs RGB input"):
        preprocess(gray, "caffe")
    with pytest.raises(UsageError, match="needs RGB input"):
        preprocessing_layers("torch", channels=1)
    np.testing.assert_allclose(preprocess(gray + 255, "tf"), np.ones_like(gray))
