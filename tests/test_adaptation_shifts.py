"""The adaptation benchmark's five target domains: generated offline, split, unlabelled where they must be."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from adaptation_shifts import SHIFTS, make_shift, write_shift  # noqa: E402


@pytest.fixture(scope="module")
def shifts():
    from zoo_datasets.digits import source_images, split_indices

    return {name: make_shift(name, 0) for name in SHIFTS}, source_images()[split_indices()["test"]]


def test_each_shift_has_an_unlabelled_train_split_and_a_labelled_test_split(shifts):
    made, _ = shifts
    assert set(made) == {"texture", "inverted", "geometry", "blur-noise", "fonts"}
    for name, arrays in made.items():
        assert set(arrays) == {"x", "x_test", "y_test"}, name
        assert arrays["x"].shape == (1438, 32, 32, 3) and arrays["x"].dtype == np.uint8, name
        assert arrays["x_test"].shape == (359, 32, 32, 3) and arrays["y_test"].shape == (359,), name
        assert np.bincount(arrays["y_test"], minlength=10).min() >= 30, name  # every class scored


def test_the_shifts_differ_in_kind_from_the_source(shifts):
    made, source = shifts
    brightness = {name: float(arrays["x_test"].mean()) for name, arrays in made.items()}
    assert brightness["inverted"] > 150 > 60 > float(source.mean())  # light paper, dark ink
    colour = {name: float(np.abs(np.diff(arrays["x_test"].astype(int), axis=-1)).mean()) for name, arrays in made.items()}
    assert colour["texture"] > 20 and all(colour[n] == 0 for n in ("inverted", "geometry", "blur-noise", "fonts"))
    # the same test digits, moved (geometry), or blurred and grainy (blur-noise): far from the source pixels
    for name in ("geometry", "blur-noise"):
        gray = made[name]["x_test"][..., 0].astype(float)
        assert np.abs(gray - source[..., 0]).mean() > 25, name
    # fonts are new drawings: no test image is a source image
    assert not (made["fonts"]["x_test"][:, None, ::4, ::4, 0] == source[None, :50, ::4, ::4, 0]).all(axis=(2, 3)).any()


def test_shifts_follow_the_seed_and_write_npz_targets(tmp_path):
    again, other = make_shift("geometry", 0), make_shift("geometry", 1)
    assert np.array_equal(again["x"], make_shift("geometry", 0)["x"]) and not np.array_equal(again["x"], other["x"])
    path = write_shift(tmp_path / "fonts.npz", "fonts", 0)
    with np.load(path) as saved:
        assert set(saved.files) == {"x", "x_test", "y_test", "class_names"}  # no training labels to leak
    with pytest.raises(ValueError, match="no shift 'snow'; the shifts are texture, inverted"):
        make_shift("snow", 0)
