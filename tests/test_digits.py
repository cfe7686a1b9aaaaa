"""The built-in digits (source) and digits-m (target) domains."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from zoo_datasets import digits as digits_module

from zoo.data.loading import load_dataset

LUMA = np.array([0.299, 0.587, 0.114])


def test_digits_shapes_counts_and_split():
    data = load_dataset("digits")

    assert data.class_names == [str(i) for i in range(10)]
    train, test = data.splits["train"], data.splits["test"]
    assert (len(train), len(test)) == (1438, 359)
    assert train.images.shape == (1438, 32, 32, 3) and train.images.dtype == np.uint8
    assert (train.images[..., 0] == train.images[..., 1]).all()  # grey strokes, three channels
    assert train.images[:, :2].max() == 0 and train.images.max() == 255  # black margin, white strokes
    per_class = np.bincount(test.labels, minlength=10) / np.bincount(np.concatenate([train.labels, test.labels]))
    assert np.allclose(per_class, 0.2, atol=0.02)  # stratified 80/20


def test_digits_m_matches_digits_split_and_differs_by_seed():
    source = load_dataset("digits", seed=5)
    target = load_dataset("digits-m", seed=0)
    same = load_dataset("digits-m", seed=0)
    other = load_dataset("digits-m", seed=1)

    assert target.class_names == source.class_names
    for split in ("train", "test"):
        assert np.array_equal(target.splits[split].labels, source.splits[split].labels)
        assert target.splits[split].images.shape == source.splits[split].images.shape
        assert target.splits[split].images.dtype == np.uint8
        assert np.array_equal(target.splits[split].images, same.splits[split].images)
        assert np.abs(target.splits[split].images.astype(int) - other.splits[split].images).mean() > 20
    assert np.array_equal(source.splits["train"].images, load_dataset("digits", seed=9).splits["train"].images)
    # colour, not grey: the three channels differ
    assert np.abs(target.splits["train"].images[..., 0].astype(int) - target.splits["train"].images[..., 2]).mean() > 15


def test_digits_m_strokes_stay_visible():
    target = load_dataset("digits-m", seed=3).splits["train"]
    mask = digits_module.strokes()[digits_module.split_indices()["train"]]
    luminance = target.images.astype(np.float64) @ LUMA
    stroke = (luminance * (mask > 0.7)).sum(axis=(1, 2)) / (mask > 0.7).sum(axis=(1, 2))
    background = (luminance * (mask < 0.05)).sum(axis=(1, 2)) / (mask < 0.05).sum(axis=(1, 2))
    contrast = stroke - background

    assert contrast.mean() > 60
    assert (contrast > 20).mean() > 0.97


def test_digits_m_generation_is_fast():
    digits_module.raw_digits()  # the CSV is read once per process
    started = time.perf_counter()
    digits_module.load_digits_m(seed=12345)
    assert time.perf_counter() - started < 2.0  # about 0.3 s on one core


def test_info_digits_json(zoo):
    result = zoo("info", "digits", "--json")

    assert result.exit_code == 0, result
    data = json.loads(result.stdout)
    assert data["kind"] == "dataset" and data["name"] == "digits"
    assert data["classes"] == [str(i) for i in range(10)]
    assert data["splits"] == {"train": 1438, "test": 359}
    assert sum(data["counts"]["test"].values()) == 359
    assert data["image_shape"] == [32, 32, 3]

    target = zoo("info", "digits-m", "--json")
    assert target.exit_code == 0 and json.loads(target.stdout)["splits"] == {"train": 1438, "test": 359}


def test_digits_take_no_argument(zoo):
    result = zoo("info", "digits:5", "--json")
    assert result.exit_code == 2
    assert "takes no argument" in result.stderr


@pytest.mark.slow
def test_digits_m_is_a_real_but_learnable_domain_shift():
    """A tiny CNN trained on digits does well there and poorly on digits-m; trained on digits-m, well.

    Measured when written (10 epochs, seeds 0/1/2): digits test 0.98-0.99, digits-m test
    0.37-0.61 from digits, 0.94 from digits-m's own training split.
    """
    import keras

    from zoo.data.tfdata import make_tf_dataset

    source, target = load_dataset("digits"), load_dataset("digits-m", seed=0)

    def train_and_score(train_split, test_splits):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.Input((32, 32, 3)),
            keras.layers.Rescaling(1 / 255.0),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10),
        ])
        model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        model.fit(make_tf_dataset(train_split, image_size=32, shuffle=True, seed=0), epochs=10, shuffle=False, verbose=0)
        return [model.evaluate(make_tf_dataset(s, image_size=32), verbose=0)[1] for s in test_splits]

    source_on_source, source_on_target = train_and_score(source.splits["train"],
                                                         [source.splits["test"], target.splits["test"]])
    (target_on_target,) = train_and_score(target.splits["train"], [target.splits["test"]])
    print(f"digits->digits {source_on_source:.3f}  digits->digits-m {source_on_target:.3f}  "
          f"digits-m->digits-m {target_on_target:.3f}")

    assert source_on_source > 0.93
    assert 0.15 < source_on_target < 0.75
    assert target_on_target > 0.8
    assert target_on_target - source_on_target > 0.15
