"""The tf.data input pipeline, loose-image loading and `zoo preview`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from datasets_helpers import CLASSES, COLOURS, add_corrupt_files, class_image, make_class_folder, write_image
from PIL import Image

from zoo.data.augment import Augmentation
from zoo.data.images import expand_image_paths, image_problem
from zoo.data.loading import load_dataset
from zoo.data.records import Split
from zoo.data.tfdata import load_images, make_tf_dataset
from zoo.errors import UsageError, input_error


def batches(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


def stacked(dataset):
    parts = batches(dataset)
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


@pytest.fixture
def pets(tmp_path):
    return make_class_folder(tmp_path / "pets", per_class=4, size=(20, 24))


def test_files_are_decoded_resized_and_labelled(pets):
    data = load_dataset(f"folder:{pets}")

    parts = batches(make_tf_dataset(data.splits["train"], image_size=16, batch_size=5))

    assert [x.shape for x, _ in parts] == [(5, 16, 16, 3), (5, 16, 16, 3), (2, 16, 16, 3)]
    images = np.concatenate([x for x, _ in parts])
    labels = np.concatenate([y for _, y in parts])
    assert images.dtype == np.float32 and labels.dtype == np.int64
    assert 0.0 <= images.min() and images.max() <= 255.0
    assert list(labels) == list(data.splits["train"].labels)
    for image, label in zip(images, labels):  # every format decoded to its class colour (jpg is lossy)
        assert np.abs(image.mean(axis=(0, 1)) - COLOURS[CLASSES[label]]).max() < 12


def test_grayscale_output(pets):
    data = load_dataset(f"folder:{pets}")
    images, _ = stacked(make_tf_dataset(data.splits["train"], image_size=8, channels=1))
    assert images.shape == (12, 8, 8, 1)
    red = COLOURS["cat"]
    assert abs(images[0].mean() - (0.299 * red[0] + 0.587 * red[1] + 0.114 * red[2])) < 8


def test_in_memory_images_keep_their_pixels_at_their_own_size():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (7, 12, 12, 3), dtype=np.uint8)
    split = Split(labels=[0, 1, 2, 0, 1, 2, -1], images=pixels)

    images, labels = stacked(make_tf_dataset(split, image_size=12, batch_size=4))

    assert np.array_equal(images, pixels.astype(np.float32))
    assert list(labels) == [0, 1, 2, 0, 1, 2, -1]


def test_stream_splits_and_their_subsets():
    import tensorflow as tf

    pixels = np.stack([np.full((6, 6, 1), i * 20, np.uint8) for i in range(10)])
    labels = np.arange(10) % 2
    split = Split(labels=labels, make_tf_dataset=lambda: tf.data.Dataset.from_tensor_slices((pixels, labels)))

    images, got = stacked(make_tf_dataset(split.subset(np.array([7, 2, 5])), image_size=6))

    assert images.shape == (3, 6, 6, 3)
    assert list(images[:, 0, 0, 0]) == [40.0, 100.0, 140.0]
    assert list(got) == [0, 1, 1]


def test_shuffle_is_seeded_and_reshuffles_each_epoch(pets):
    train = load_dataset(f"folder:{pets}").splits["train"]

    def order(seed):
        dataset = make_tf_dataset(train, image_size=8, batch_size=50, shuffle=True, seed=seed)
        return [list(y) for _, y in batches(dataset)][0], [list(y) for _, y in batches(dataset)][0]

    first_epoch, second_epoch = order(1)
    assert order(1) == (first_epoch, second_epoch)
    assert sorted(first_epoch) == sorted(train.labels)
    assert first_epoch != second_epoch
    assert order(2)[0] != first_epoch
    assert [list(y) for _, y in batches(make_tf_dataset(train, image_size=8, batch_size=50))][0] == list(train.labels)


def test_augmentation_changes_pixels_only_when_on(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8)
    split = Split(labels=np.zeros(8), images=pixels)

    plain, _ = stacked(make_tf_dataset(split, image_size=16, augment=None))
    off, _ = stacked(make_tf_dataset(split, image_size=16, augment=Augmentation.parse("none")))
    on, _ = stacked(make_tf_dataset(split, image_size=16, augment=Augmentation.parse("flip,rotation=0.2,zoom,contrast=0.5")))
    flips, _ = stacked(make_tf_dataset(split, image_size=16, batch_size=8,
                                       augment=Augmentation(flip="horizontal")))

    assert np.array_equal(plain, pixels.astype(np.float32))
    assert np.array_equal(off, plain)
    assert on.shape == plain.shape and on.dtype == np.float32
    assert np.abs(on - plain).mean() > 5
    assert on.min() >= 0 and on.max() <= 255.0 + 1e-3
    for image, original in zip(flips, plain):  # a flip moves pixels but keeps them all
        assert np.array_equal(image, original) or np.array_equal(image, original[:, ::-1])


def test_augmentation_parse():
    assert Augmentation.parse("flip,rotation=0.1") == Augmentation(flip="horizontal", rotation=0.1)
    assert Augmentation.parse("all") == Augmentation(flip="horizontal", rotation=0.1, zoom=0.1, contrast=0.2)
    assert Augmentation.parse("flip=both, zoom=0.3").flip == "both"
    assert not Augmentation.parse("").enabled and not Augmentation.parse("none").enabled
    assert str(Augmentation.parse("flip,contrast=0.3")) == "flip=horizontal,contrast=0.3"
    assert Augmentation.parse(str(Augmentation.parse("all"))) == Augmentation.parse("all")
    with pytest.raises(UsageError, match="unknown augmentation 'blur'; choose from flip, rotation, zoom, contrast, invert"):
        Augmentation.parse("flip,blur")
    with pytest.raises(UsageError, match="expected a number"):
        Augmentation.parse("rotation=lots")
    with pytest.raises(UsageError, match="in \\[0, 1\\)"):
        Augmentation.parse("zoom=2")
    with pytest.raises(UsageError, match="horizontal, vertical or both"):
        Augmentation.parse("flip=sideways")
    assert Augmentation.parse("invert").invert == 0.5 and Augmentation.parse("all").invert == 0.0
    with pytest.raises(UsageError, match="augmentation invert must be a number in \\[0, 1\\)"):
        Augmentation.parse("invert=1")


def test_invert_turns_some_images_into_their_negative_and_leaves_the_rest():
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 256, (64, 8, 8, 3), dtype=np.uint8)
    split = Split(labels=np.zeros(64), images=pixels)

    out, _ = stacked(make_tf_dataset(split, image_size=8, batch_size=64, augment=Augmentation.parse("invert=0.5")))

    inverted = [np.allclose(image, 255.0 - original) for image, original in zip(out, pixels.astype(np.float32))]
    kept = [np.array_equal(image, original) for image, original in zip(out, pixels.astype(np.float32))]
    assert all(a or b for a, b in zip(inverted, kept))
    assert 16 <= sum(inverted) <= 48  # each image by a fair coin: 32 expected


def test_file_cache_serves_later_epochs_without_the_files(pets, tmp_path):
    train = load_dataset(f"folder:{pets}").splits["train"]
    cache = tmp_path / "cache" / "pets"
    dataset = make_tf_dataset(train, image_size=8, batch_size=4, cache=str(cache))

    first, first_labels = stacked(dataset)
    assert any(name.startswith("pets") for name in os.listdir(cache.parent))
    for path in train.files:
        os.remove(path)
    again, again_labels = stacked(dataset)

    assert np.array_equal(first, again) and list(first_labels) == list(again_labels)
    assert len(first) == 12


def test_by_default_only_batches_read_again_are_cached(pets):
    train = load_dataset(f"folder:{pets}").splits["train"]
    one_pass = make_tf_dataset(train, image_size=8)
    epochs = make_tf_dataset(train, image_size=8, shuffle=True)
    assert len(stacked(one_pass)[0]) == len(stacked(epochs)[0]) == 12
    os.remove(train.files[0])
    assert len(stacked(epochs)[0]) == 12  # the training epochs' decoded images are kept
    with pytest.raises(Exception) as caught:  # a single pass holds nothing: it decodes again
        stacked(one_pass)
    assert str(input_error(caught.value)).startswith(f"TensorFlow cannot decode image {train.files[0]} ")


def test_memory_cache_and_no_cache(pets):
    train = load_dataset(f"folder:{pets}").splits["train"]
    cached = make_tf_dataset(train, image_size=8, cache=True)
    uncached = make_tf_dataset(train, image_size=8, cache=False)
    first, _ = stacked(cached)
    os.remove(train.files[0])

    assert len(stacked(cached)[0]) == 12  # served from memory
    with pytest.raises(Exception) as caught:  # never silently one image short of the labels
        stacked(uncached)
    assert str(input_error(caught.value)).startswith(f"TensorFlow cannot decode image {train.files[0]} ")


def test_repeat_drop_remainder_and_map_images(pets):
    train = load_dataset(f"folder:{pets}").splits["train"]
    dataset = make_tf_dataset(train, image_size=8, batch_size=5, repeat=True, drop_remainder=True,
                              map_images=lambda x: x / 255.0)
    parts = [(x.numpy(), y.numpy()) for x, y in dataset.take(4)]
    assert [x.shape for x, _ in parts] == [(5, 8, 8, 3)] * 4
    assert max(x.max() for x, _ in parts) <= 1.0

    dropped = batches(make_tf_dataset(train, image_size=8, batch_size=5, drop_remainder=True))
    assert len(dropped) == 2


def test_pipelines_run_without_the_autotuning_thread(pets, tmp_path):
    """That thread is what ``fit`` waited for, seconds at a time, when it dropped its iterator."""
    import tensorflow as tf
    from zoo_strategies.features import feature_dataset

    train = load_dataset(f"folder:{pets}").splits["train"]
    training = make_tf_dataset(train, image_size=8, shuffle=True, repeat=True)
    features = np.lib.format.open_memmap(tmp_path / "f.npy", mode="w+", dtype=np.float32, shape=(12, 4))
    pipelines = [training, make_tf_dataset(train, image_size=8), tf.data.Dataset.zip((training, training)),
                 feature_dataset(np.zeros((12, 4), np.float32), train.labels, 4, shuffle=True, seed=0),
                 feature_dataset(features, train.labels, 4, shuffle=True, seed=0, repeat=True)]
    for dataset in pipelines:
        assert dataset.options().autotune.enabled is False
    assert [len(x) for x, _ in training.take(2)] == [32, 32]  # 12 images, repeated


@pytest.mark.parametrize("kwargs, message", [
    ({"image_size": 0}, "image size"),
    ({"image_size": 8, "channels": 2}, "channels must be 1 or 3"),
    ({"image_size": 8, "batch_size": 0}, "batch size"),
])
def test_bad_pipeline_arguments(kwargs, message):
    split = Split(labels=[0], images=np.zeros((1, 4, 4, 3), np.uint8))
    with pytest.raises(UsageError, match=message):
        make_tf_dataset(split, **kwargs)


def test_load_images_files_and_folders_match_the_pipeline(pets):
    data = load_dataset(f"folder:{pets}")
    files = data.splits["train"].files

    one = load_images(files[0], 16)
    from_folder = load_images([str(pets / "cat"), files[5]], 16)
    pipeline, _ = stacked(make_tf_dataset(data.splits["train"], image_size=16))

    assert one.shape == (1, 16, 16, 3) and one.dtype == np.float32
    assert from_folder.shape == (5, 16, 16, 3)
    assert expand_image_paths([str(pets / "cat"), files[5]])[:4] == sorted(str(p) for p in (pets / "cat").iterdir())
    assert np.array_equal(one[0], pipeline[0])
    assert np.array_equal(from_folder[4], pipeline[5])


def test_load_images_names_bad_and_missing_files(pets, tmp_path):
    garbage, truncated, _ = add_corrupt_files(pets)
    with pytest.raises(UsageError) as caught:
        load_images([str(garbage), str(truncated), str(pets / "fox" / "fox_0.png")], 8)
    assert str(caught.value).startswith("2 unreadable images in the images given:")
    assert "garbage.jpg" in str(caught.value) and "truncated.png" in str(caught.value)

    with pytest.raises(UsageError, match="does not exist"):
        load_images([str(tmp_path / "nope.png")], 8)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="has no jpg/png/bmp/gif images"):
        load_images(str(tmp_path / "empty"), 8)


def truncated_copy(source, target, keep: float = 0.5):
    """``target``: the first ``keep`` of ``source``'s bytes, a header that opens and pixels that end early."""
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * keep)])
    return target


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_truncated_file_in_the_pipeline_is_an_error_naming_it(tmp_path, ext):
    """A file that opens (its header is whole) but does not decode stops the pipeline with its name."""
    noise = np.random.default_rng(0).integers(0, 256, (48, 48, 3), dtype=np.uint8)
    whole = write_image(tmp_path / f"whole.{ext}", noise)
    cut = truncated_copy(whole, tmp_path / f"cut 'é'.{ext}")  # quotes and UTF-8, as TF escapes them
    with Image.open(cut) as image:  # the cheap header check passes ...
        assert image.size == (48, 48)
    assert image_problem(str(cut)) is not None  # ... the full decode does not
    good = [str(write_image(tmp_path / f"good_{i}.png", class_image("cat", i))) for i in range(3)]
    # a loader that hands files over unscreened, with the bad one in the middle or last
    for files in ([good[0], str(cut), good[1], good[2]], [*good, str(cut)]):
        split = Split(labels=np.arange(len(files)) % 3, files=files)
        with pytest.raises(Exception) as caught:
            stacked(make_tf_dataset(split, image_size=8, batch_size=2, cache=False))
        error = input_error(caught.value)
        assert isinstance(error, UsageError), caught.value
        assert str(error) == (f"TensorFlow cannot decode image {cut} (changed or removed since the dataset was "
                              f"loaded, or a variant TensorFlow does not read); fix, convert or remove it and run again")


@pytest.mark.parametrize("on_bad_image", ["skip", "fail"])
def test_file_broken_after_loading_is_never_dropped_silently(tmp_path, on_bad_image):
    """Skipping inside tf.data would pair later images with the wrong labels: either way, an error naming it."""
    root = make_class_folder(tmp_path / "pets", per_class=2)
    train = load_dataset(f"folder:{root}", on_bad_image=on_bad_image).splits["train"]
    truncated_copy(Path(train.files[2]), Path(train.files[2]), keep=0.3)

    with pytest.raises(Exception) as caught:
        stacked(make_tf_dataset(train, image_size=8, cache=False))

    assert str(input_error(caught.value)).startswith(f"TensorFlow cannot decode image {train.files[2]} ")


def test_every_file_decodes_in_order_with_known_length(tmp_path):
    root = make_class_folder(tmp_path / "pets", per_class=3)
    train = load_dataset(f"folder:{root}").splits["train"]

    dataset = make_tf_dataset(train, image_size=8, batch_size=4, cache=False)
    images, labels = stacked(dataset)

    assert int(dataset.cardinality()) == 3  # 9 images in batches of 4
    assert list(labels) == list(train.labels)
    for image, label in zip(images, labels):
        assert np.abs(image.mean(axis=(0, 1)) - COLOURS[CLASSES[label]]).max() < 12


def test_input_error_reads_escaped_paths_back():
    wrapped = ("{{function_node __wrapped__IteratorGetNext}} assertion failed: [zoo input error: TensorFlow "
               "cannot decode image /d/caf\\303\\251 \\'x\\'.png (why); what to do]\n\t [[{{node Assert/Assert}}]]")
    assert str(input_error(RuntimeError(wrapped))) == "TensorFlow cannot decode image /d/café 'x'.png (why); what to do"
    assert input_error(RuntimeError("some other failure")) is None


def test_preview_writes_a_png_grid(zoo, tmp_path):
    out = tmp_path / "grids" / "grid.png"

    result = zoo("preview", "digits-m", "--out", str(out), "--split", "test", "--n", "9", "--seed", "4")

    assert result.exit_code == 0, result
    assert "wrote" in result.stdout and "9 examples" in result.stdout
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size[0] > 200 and image.size[1] > 200
        assert len(np.unique(np.asarray(image.convert("L")))) > 20  # pictures, not a blank page
    assert os.listdir(out.parent) == ["grid.png"]  # no temp files left behind


def test_preview_folder_with_val_split_and_errors(zoo, pets, tmp_path):
    out = tmp_path / "val.png"
    result = zoo("preview", f"folder:{pets}", "--out", str(out), "--split", "val", "--val-split", "0.25")
    assert result.exit_code == 0, result
    assert "3 examples" in result.stdout and out.stat().st_size > 0

    missing = zoo("preview", f"folder:{pets}", "--out", str(tmp_path / "x.png"), "--split", "test")
    assert missing.exit_code == 2
    assert "has no 'test' split; it has: train" in missing.stderr



def test_preview_checks_the_suffix_before_loading(zoo, tmp_path):
    """The folder does not exist either: the suffix error comes first, without loading anything."""
    out = tmp_path / "grid.txt"

    wrong = zoo("preview", f"folder:{tmp_path / 'no-such-folder'}", "--out", str(out))

    assert wrong.exit_code == 2
    assert wrong.stderr == f"zoo: error: --out '{out}': write a .png, .jpg, .pdf or .svg file\n"
    assert not out.exists()


def test_preview_formats_and_complete_files(zoo, tmp_path):
    magic = {"jpg": b"\xff\xd8\xff", "pdf": b"%PDF-", "svg": b"<?xml", "png": b"\x89PNG"}
    for ext, start in magic.items():
        out = tmp_path / f"grid.{ext}"
        result = zoo("preview", "digits", "--out", str(out), "--n", "4")
        assert result.exit_code == 0, result
        assert out.read_bytes().startswith(start), ext
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "grid.png").stat().st_mode & 0o777 == 0o666 & ~umask  # not a private temp file's 0600
    before = (tmp_path / "grid.png").read_bytes()
    again = zoo("preview", "digits", "--out", str(tmp_path / "grid.png"), "--n", "9")
    assert again.exit_code == 0, again
    assert (tmp_path / "grid.png").read_bytes() != before  # replaced whole
    assert sorted(os.listdir(tmp_path)) == [f"grid.{ext}" for ext in sorted(magic)]  # no temp files left


def test_bmp_decodes_like_png(tmp_path):
    pixels = class_image("fox", 3, (10, 10))
    paths = [write_image(tmp_path / f"fox.{ext}", pixels) for ext in ("png", "bmp")]
    images = load_images([str(p) for p in paths], 10)
    assert np.array_equal(images[0], images[1])
    assert np.array_equal(images[0], pixels.astype(np.float32))
