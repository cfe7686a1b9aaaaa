"""Dataset kinds: folder:PATH, npz:PATH, tfds:NAME, loading options and `zoo info`."""

from __future__ import annotations

import importlib.util
import io
import json
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from datasets_helpers import CLASSES, add_corrupt_files, class_image, make_class_folder, make_npz, write_image
from PIL import Image

from zoo.data.loading import load_dataset
from zoo.data.records import LoadedDataset, Split, stratified_split
from zoo.errors import UsageError

HAS_TFDS = importlib.util.find_spec("tensorflow_datasets") is not None


# -- folder:PATH -----------------------------------------------------------------------


def test_folder_classes_files_and_labels(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=4)
    write_image(root / "dog" / "nested" / "deep.png", class_image("dog", 7))
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / "cat" / ".hidden.png").write_bytes(b"ignored")

    data = load_dataset(f"folder:{root}")

    assert data.class_names == list(CLASSES)
    assert list(data.splits) == ["train"]
    train = data.splits["train"]
    assert len(train) == 13 and data.bad_files == []
    assert data.counts()["train"] == {"cat": 4, "dog": 5, "fox": 4}
    for path, label in zip(train.files, train.labels):
        assert f"/{CLASSES[label]}/" in path
    assert {p.rsplit(".", 1)[1] for p in train.files} == {"png", "jpg", "bmp", "gif"}


def test_folder_val_split_is_stratified_and_seeded(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=10)

    first = load_dataset(f"folder:{root}", val_split=0.2, seed=1)
    again = load_dataset(f"folder:{root}", val_split=0.2, seed=1)
    other = load_dataset(f"folder:{root}", val_split=0.2, seed=2)

    assert first.counts()["val"] == {"cat": 2, "dog": 2, "fox": 2}
    assert first.counts()["train"] == {"cat": 8, "dog": 8, "fox": 8}
    assert first.splits["val"].files == again.splits["val"].files
    assert first.splits["val"].files != other.splits["val"].files
    assert not set(first.splits["val"].files) & set(first.splits["train"].files)


def test_folder_train_val_test_subfolders(tmp_path):
    root = tmp_path / "split"
    make_class_folder(root / "train", per_class=3)
    make_class_folder(root / "validation", per_class=2)
    make_class_folder(root / "test", per_class=1, classes=("cat", "fox"))

    data = load_dataset(f"folder:{root}", val_split=0.5)  # the folders' own val wins

    assert data.class_names == list(CLASSES)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 9, "val": 6, "test": 2}
    assert data.counts()["test"] == {"cat": 1, "dog": 0, "fox": 1}


@pytest.mark.parametrize("odd_class", ["train", "test", "val"])
def test_folder_class_named_like_a_split_is_a_class(zoo, tmp_path, odd_class):
    """Only a folder whose sub-folders are ALL split names uses the split layout."""
    classes = ("cat", "dog", odd_class)
    root = tmp_path / "pets"
    for name in classes:
        for i in range(2):
            write_image(root / name / f"{name}_{i}.png", class_image("cat", i))

    data = load_dataset(f"folder:{root}")

    assert data.class_names == sorted(classes)
    assert list(data.splits) == ["train"]
    assert data.counts()["train"] == {name: 2 for name in sorted(classes)}
    info = zoo("info", f"folder:{root}", "--json")
    assert info.exit_code == 0, info
    assert json.loads(info.stdout)["layout"] == "one sub-folder per class"


def test_folder_split_layout_needs_only_split_names(zoo, tmp_path):
    root = tmp_path / "split"
    make_class_folder(root / "train", per_class=2)
    make_class_folder(root / "test", per_class=1)
    (root / ".cache").mkdir()  # hidden folders are not looked at

    data = load_dataset(f"folder:{root}")

    assert data.class_names == list(CLASSES)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 6, "test": 3}
    info = zoo("info", f"folder:{root}", "--json")
    assert json.loads(info.stdout)["layout"] == "train/val/test sub-folders"

    make_class_folder(root / "val", per_class=1)
    make_class_folder(root / "validation", per_class=1)
    with pytest.raises(UsageError, match="has both val/ and validation/ as its val split; keep one"):
        load_dataset(f"folder:{root}")


def test_folder_corrupt_images_are_skipped_and_named(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=3)
    bad = add_corrupt_files(root)

    data = load_dataset(f"folder:{root}", on_bad_image="skip")

    assert len(data.splits["train"]) == 9
    named = dict(data.bad_files)
    assert set(named) == {str(p) for p in bad}
    assert named[str(bad[2])] == "empty file"
    assert all(reason for reason in named.values())
    assert not set(named) & set(data.splits["train"].files)


def test_folder_corrupt_images_fail(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=2)
    add_corrupt_files(root)

    with pytest.raises(UsageError) as caught:
        load_dataset(f"folder:{root}", on_bad_image="fail")

    message = str(caught.value)
    assert message.startswith("3 unreadable images in folder:")
    assert "garbage.jpg" in message and "truncated.png" in message and "empty.bmp" in message
    assert "\n" not in message


def test_folder_corrupt_images_fail_exits_2(zoo, tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=2)
    add_corrupt_files(root)

    result = zoo("preview", f"folder:{root}", "--out", str(tmp_path / "grid.png"), "--on-bad-image", "fail")

    assert result.exit_code == 2, result
    assert "zoo: error: 3 unreadable images" in result.stderr
    assert "garbage.jpg" in result.stderr
    assert not (tmp_path / "grid.png").exists()


def test_folder_truncated_jpeg_is_caught(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=1)
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    whole = write_image(root / "dog" / "whole.jpg", noise)
    cut = root / "dog" / "cut.jpg"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])

    data = load_dataset(f"folder:{root}")

    assert [(p.rsplit("/", 1)[1], "truncated" in r) for p, r in data.bad_files] == [("cut.jpg", True)]
    assert str(whole) in data.splits["train"].files


def test_folder_palette_bmp_is_refused_with_a_reason(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=1)
    Image.fromarray(class_image("cat", 5)).convert("P").save(root / "cat" / "palette.bmp")

    data = load_dataset(f"folder:{root}")

    assert [p.rsplit("/", 1)[1] for p, _ in data.bad_files] == ["palette.bmp"]
    assert "convert it to PNG" in data.bad_files[0][1]


@pytest.mark.parametrize("layout, message", [
    ("missing", "does not exist"),
    ("file", "is a file"),
    ("empty", "has no class sub-folders"),
    ("no-images", "no jpg/png/bmp/gif images"),
])
def test_folder_errors(tmp_path, layout, message):
    root = tmp_path / "data"
    if layout == "file":
        root.write_text("x")
    elif layout == "empty":
        root.mkdir()
    elif layout == "no-images":
        (root / "cat").mkdir(parents=True)
        (root / "cat" / "readme.txt").write_text("x")
    with pytest.raises(UsageError, match=message):
        load_dataset(f"folder:{root}")


def test_info_folder_json(zoo, tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=2)

    result = zoo("info", f"folder:{root}", "--json")

    assert result.exit_code == 0, result
    data = json.loads(result.stdout)
    assert data["kind"] == "dataset" and data["name"] == "folder"
    assert data["classes"] == list(CLASSES)
    assert data["splits"] == {"train": 6}
    assert data["counts"]["train"] == {"cat": 2, "dog": 2, "fox": 2}


def test_info_missing_folder_is_a_usage_error(zoo, tmp_path):
    result = zoo("info", f"folder:{tmp_path / 'nope'}", "--json")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# -- npz:PATH --------------------------------------------------------------------------


def test_npz_colour_with_all_splits(tmp_path):
    path = make_npz(tmp_path / "colour.npz", n=12, extra=True)

    data = load_dataset(f"npz:{path}")

    assert data.class_names == ["low", "mid", "high"]
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 12, "val": 3, "test": 6}
    train = data.splits["train"]
    assert train.images.shape == (12, 10, 10, 3) and train.images.dtype == np.uint8
    assert list(train.labels[:4]) == [0, 1, 2, 0]
    assert int(train.images[2, 0, 0, 0]) == 180


@pytest.mark.parametrize("channel_axis", [False, True])
def test_npz_grayscale_gets_three_channels(tmp_path, channel_axis):
    x = np.arange(4 * 5 * 6, dtype=np.uint8).reshape(4, 5, 6)
    if channel_axis:
        x = x[..., None]
    path = tmp_path / "gray.npz"
    np.savez(path, x=x, y=np.array([0, 1, 0, 1]))

    train = load_dataset(f"npz:{path}").splits["train"]

    assert train.images.shape == (4, 5, 6, 3)
    assert (train.images[..., 0] == train.images[..., 2]).all()
    assert (train.images[..., 1] == x.reshape(4, 5, 6)).all()


def test_npz_float_unit_images_are_scaled_and_class_names_default(tmp_path):
    path = tmp_path / "float.npz"
    np.savez(path, x=np.full((3, 4, 4, 3), 0.5, dtype=np.float32), y=np.array([[0], [3], [1]]))

    data = load_dataset(f"npz:{path}")

    assert data.class_names == ["0", "1", "2", "3"]
    assert data.splits["train"].images.dtype == np.uint8
    assert int(data.splits["train"].images.max()) == 128
    assert list(data.splits["train"].labels) == [0, 3, 1]


def test_npz_without_labels_is_unlabelled(tmp_path):
    path = tmp_path / "target.npz"
    np.savez(path, x=np.zeros((5, 8, 8, 3), np.uint8))

    train = load_dataset(f"npz:{path}").splits["train"]

    assert list(train.labels) == [-1] * 5 and not train.labelled


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((2, 4, 4))}, "has no array 'x'"),
    ({"x": np.zeros((2, 4, 4), np.uint8), "y": np.array([0, 1, 1])}, "2 images but 3 labels"),
    ({"x": np.zeros((2, 4), np.uint8), "y": np.array([0, 1])}, "expected \\(N,H,W\\)"),
    ({"x": np.full((2, 4, 4), 300.0), "y": np.array([0, 1])}, "expected pixels in \\[0, 255\\]"),
    ({"x": np.zeros((2, 4, 4), np.uint8), "y": np.array([0, 5]), "class_names": np.array(["a", "b"])},
     "has label 5 but only 2 class_names"),
    ({"x": np.zeros((2, 4, 4), np.uint8), "y": np.array(["a", "b"], dtype=object)},
     "array 'y' in '.*bad.npz' holds Python objects, which only pickle can read"),
    ({"x": np.zeros((2, 4, 4), np.uint8), "y": np.array([0, 1]), "y_valid": np.array([0])},
     "has arrays zoo does not read: y_valid; the names are class_names, x, x_test, x_val, y, y_test, y_val"),
])
def test_npz_errors(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(UsageError, match=message):
        load_dataset(f"npz:{path}")


class WritesAFileWhenUnpickled:
    """Unpickling this creates ``marker``: proof that a loader ran code from a data file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def damaged_member() -> bytes:
    data = bytearray(npz_bytes(x=np.zeros((4, 8, 8), np.uint8), y=np.arange(4)))
    data[200] ^= 0xFF  # inside x.npy's pixels: the zip opens, its CRC check fails
    return bytes(data)


def member_not_npy() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x", b"some text")
    return buffer.getvalue()


def bare_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((2, 4, 4), np.uint8))
    return buffer.getvalue()


@pytest.mark.parametrize("content, message", [
    (lambda: b"no zip here", "is not a .npz file \\(not a zip archive of .npy arrays\\)"),
    (lambda: b"", "is empty, not a .npz file"),
    (bare_npy, "holds one bare array \\(a .npy file\\), not named arrays"),
    (lambda: npz_bytes(x=np.zeros((2, 4, 4)))[:150], "is not a valid .npz file: a damaged zip archive"),
    (damaged_member, "array 'x' in '.*junk.npz' is damaged: Bad CRC-32"),
    (member_not_npy, "member 'x' of '.*junk.npz' is not a .npy array"),
    (lambda: npz_bytes(x=np.array([1, "a"], dtype=object)), "array 'x' in '.*junk.npz' holds Python objects"),
])
def test_npz_that_is_not_a_valid_npz_is_named_with_the_problem(zoo, tmp_path, content, message):
    path = tmp_path / "junk.npz"
    path.write_bytes(content())

    with pytest.raises(UsageError, match=message) as caught:
        load_dataset(f"npz:{path}")
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert "savez" in str(caught.value) or "pickle" in str(caught.value)

    described = zoo("info", f"npz:{path}", "--json")  # reads headers only, with the same errors
    assert described.exit_code == 2, described
    assert str(path) in described.stderr and len(described.stderr.strip().splitlines()) == 1


def test_npz_pickles_are_refused_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as archive:  # a pickle where an .npy belongs
        archive.writestr("x.npy", pickle.dumps(WritesAFileWhenUnpickled(marker)))
    plain_pickle = tmp_path / "plain.npz"
    plain_pickle.write_bytes(pickle.dumps(WritesAFileWhenUnpickled(marker)))

    with pytest.raises(UsageError, match="evil.npz' is not a .npy array"):
        load_dataset(f"npz:{path}")
    with pytest.raises(UsageError, match="plain.npz' is not a .npz file"):
        load_dataset(f"npz:{plain_pickle}")
    assert not marker.exists()


def test_info_npz_json(zoo, tmp_path):
    path = make_npz(tmp_path / "colour.npz", n=9, extra=True)

    result = zoo("info", f"npz:{path}", "--json")

    assert result.exit_code == 0, result
    data = json.loads(result.stdout)
    assert data["classes"] == ["low", "mid", "high"]
    assert data["splits"] == {"train": 9, "val": 3, "test": 6}
    assert data["counts"]["train"] == {"low": 3, "mid": 3, "high": 3}
    assert data["array_shapes"]["train"] == [9, 10, 10, 3]


# -- tfds:NAME -------------------------------------------------------------------------


@pytest.mark.skipif(HAS_TFDS, reason="tensorflow-datasets is installed here")
def test_tfds_not_installed_is_one_clear_line(zoo):
    with pytest.raises(UsageError) as caught:
        load_dataset("tfds:mnist")
    message = str(caught.value)
    assert "needs tensorflow-datasets, which is not installed" in message
    assert "never downloads" in message and "\n" not in message

    result = zoo("info", "tfds:mnist", "--json")
    assert result.exit_code == 2
    assert "not installed" in result.stderr


def test_tfds_needs_a_name():
    with pytest.raises(UsageError, match="tfds:NAME"):
        load_dataset("tfds")


@pytest.mark.skipif(not HAS_TFDS, reason="tensorflow-datasets is not installed")
def test_tfds_not_prepared_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    with pytest.raises(UsageError, match="is not prepared in .*never downloads"):
        load_dataset("tfds:mnist")


@pytest.mark.skipif(not HAS_TFDS, reason="tensorflow-datasets is not installed")
def test_tfds_prepared_locally_loads_and_streams(tmp_path, monkeypatch, zoo):
    import tensorflow_datasets as tfds

    from zoo.data.tfdata import make_tf_dataset

    NAMES = ["cat", "dog", "red fox"]  # a space: one name per line, not per word

    class TinyShapes(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        """Three colours of 12x12 squares, generated here (no download)."""

        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict({
                    "image": tfds.features.Image(shape=(12, 12, 3)),
                    "label": tfds.features.ClassLabel(names=NAMES),
                }),
                supervised_keys=("image", "label"),
            )

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(9), "test": self._generate_examples(3)}

        def _generate_examples(self, n):
            for i in range(n):
                yield i, {"image": class_image(CLASSES[i % 3], i, (12, 12)), "label": i % 3}

    data_dir = tmp_path / "tfds"
    TinyShapes(data_dir=str(data_dir)).download_and_prepare()
    monkeypatch.setenv("TFDS_DATA_DIR", str(data_dir))

    data = load_dataset("tfds:tiny_shapes", val_split=1 / 3, seed=0)

    assert data.class_names == NAMES
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 6, "val": 3, "test": 3}
    images, labels = next(iter(make_tf_dataset(data.splits["val"], image_size=8, batch_size=8)))
    assert images.shape == (3, 8, 8, 3)
    assert list(labels.numpy()) == list(data.splits["val"].labels)

    result = zoo("info", "tfds:tiny_shapes", "--json")
    assert result.exit_code == 0, result
    assert json.loads(result.stdout)["splits"] == {"train": 9, "test": 3}
    assert json.loads(result.stdout)["classes"] == NAMES


def test_tfds_class_names_one_per_line_whatever_the_line_endings(tmp_path):
    from zoo_datasets.tfds import read_class_names

    labels = tmp_path / "label.labels.txt"
    labels.write_bytes(b"golden retriever\r\nsea lion\r\n\r\ncat\n")
    assert read_class_names(labels) == ["golden retriever", "sea lion", "cat"]
    assert read_class_names(tmp_path / "missing.labels.txt") == []


def test_tfds_data_dir_option_then_environment_then_home(tmp_path, monkeypatch, isolated):
    from zoo_datasets.tfds import tfds_data_dir

    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    assert tfds_data_dir() == isolated / "tensorflow_datasets"
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "env"))
    assert tfds_data_dir() == tmp_path / "env"
    assert tfds_data_dir(str(tmp_path / "given")) == tmp_path / "given"


def test_tfds_prepared_dir_finds_versions_and_configs(tmp_path):
    from zoo_datasets.tfds import prepared_dir

    for version in ("1.0.0", "1.10.0", "1.2.0"):
        (tmp_path / "shapes" / version).mkdir(parents=True)
        (tmp_path / "shapes" / version / "dataset_info.json").write_text("{}")
    for config in ("small", "large"):
        (tmp_path / "multi" / config / "2.0.0").mkdir(parents=True)
        (tmp_path / "multi" / config / "2.0.0" / "dataset_info.json").write_text("{}")

    assert prepared_dir("shapes", tmp_path) == tmp_path / "shapes" / "1.10.0"  # numeric, not text, order
    assert prepared_dir("shapes:1.2.0", tmp_path) == tmp_path / "shapes" / "1.2.0"
    assert prepared_dir("multi/small", tmp_path) == tmp_path / "multi" / "small" / "2.0.0"
    with pytest.raises(UsageError, match="several prepared configs \\(large, small\\); write tfds:multi/CONFIG"):
        prepared_dir("multi", tmp_path)
    with pytest.raises(UsageError, match=f"tfds:shapes:9.9.9 is not prepared in {tmp_path}; .*TFDS_DATA_DIR"):
        prepared_dir("shapes:9.9.9", tmp_path)


# -- loading in general ----------------------------------------------------------------


def test_unknown_option_and_bad_choices_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="takes no option colour"):
        load_dataset("digits", colour="red")
    with pytest.raises(UsageError, match="on_bad_image must be one of skip, fail"):
        load_dataset("digits", on_bad_image="ignore")
    with pytest.raises(UsageError, match="fraction between 0 and 1"):
        load_dataset("digits", val_split=1.5)
    with pytest.raises(UsageError, match="no dataset 'digitz'; did you mean digits"):
        load_dataset("digitz")


def test_stratified_split_keeps_small_classes_in_both():
    labels = np.array([0] * 10 + [1] * 2 + [2] * 1 + [-1] * 5)
    keep, held = stratified_split(labels, 0.2, seed=3)
    assert sorted(np.concatenate([keep, held])) == list(range(len(labels)))
    assert list(np.bincount(labels[held][labels[held] >= 0], minlength=3)) == [2, 1, 0]
    assert (labels[held] == -1).sum() == 1


def test_require_names_the_missing_split():
    data = LoadedDataset("x", ["a"], {"train": Split(labels=[0], images=np.zeros((1, 2, 2, 3), np.uint8))})
    with pytest.raises(UsageError, match="has no 'val' split; it has: train .*--val-split"):
        data.require("val")


def test_info_does_not_import_tensorflow(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=1)
    code = ("import sys, json; from zoo.cli import main\n"
            "try:\n    main(['info', sys.argv[1], '--json'])\nexcept SystemExit:\n    pass\n"
            "print('TF', 'tensorflow' in sys.modules)")
    for ref in ("digits", "digits-m", f"folder:{root}"):
        done = subprocess.run([sys.executable, "-c", code, ref], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith("TF False"), done.stdout
