"""Fine-tuning and feature extraction: what trains, on what, and what the adapter keeps.

The adapter tests use alexnet-small with non-trivial BatchNorm statistics, registered
as named weights ("base") served from a mirror folder, so zoo can fetch it again and an
adapter stores only what differs from it. The feature tests check the cache (reshuffled
every epoch, reused only when complete), that training on images without a cache sees
the same features, and that a finished phase is restored without recomputing them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from zoo.errors import UsageError
from zoo.run.folder import read_run_folder

BASE_FILE = "alexnet_small_base.weights.h5"


@pytest.fixture(scope="module")
def base_weights(tmp_path_factory):
    """A mirror folder holding alexnet-small weights whose BN layers are far from the identity."""
    import keras

    from zoo.backbone.build import build_backbone
    from zoo.plugin.catalog import get_catalog

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
    from zoo.backbone.build import build_backbone
    from zoo.plugin.catalog import get_catalog, reset_catalog
    from zoo.run.delta import snapshot

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
    from zoo_strategies.freezing import batchnorm_layers, trainable_parameters, unfreeze_stages

    from zoo.backbone.build import build_backbone
    from zoo.plugin.catalog import get_catalog

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
    from zoo.run.delta import backbone_variables, load_delta
    from zoo.run.load import load_run

    out = tmp_path / "ft"
    result = zoo(*TRAIN, "--strategy", "fine-tuning", "--unfreeze", "2", "--epochs", "3", "--warmup-epochs", "1",
                 "--fine-tune-lr", "0.01", "--out", str(out))
    assert result.exit_code == 0, result
    adapter = read_run_folder(out)
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
    adapter = read_run_folder(out)
    assert not adapter.has("backbone.delta.npz") and not (out / "backbone.delta.npz").exists()
    scores = json.loads(zoo("evaluate", str(out), "--json").stdout)
    metrics = json.loads((out / "metrics.json").read_text())
    assert scores["accuracy"] == metrics["accuracy"]
    assert scores["loss"] == pytest.approx(metrics["loss"], rel=1e-6)


# -- feature extraction: cached features, the uncached path, resume ------------------------------


def test_feature_extraction_adapter_trains_a_head_that_scores_above_chance(tmp_path, zoo):
    out = tmp_path / "fe-digits"
    result = zoo("train", "--backbone", "alexnet-small", "--weights", "none", "--dataset", "digits", "--image-size",
                 "32", "--strategy", "feature-extraction", "--epochs", "3", "--lr", "0.01", "--out", str(out))
    assert result.exit_code == 0, result
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [(r["phase"], r["epoch"]) for r in rows] == [("head", "1"), ("head", "2"), ("head", "3")]
    losses = [float(r["loss"]) for r in rows]
    assert losses[2] < losses[0], losses  # the head learns on the cached features
    # random conv features of 10 digit classes separate them far better than chance (0.1): 0.61 measured
    assert read_run_folder(out).metrics()["accuracy"] > 0.45


@pytest.fixture
def digits_job(tmp_path):
    """A feature-extraction TrainJob as ``run_stage`` builds it: alexnet-small on 100 digits, in ``tmp_path``."""
    import keras

    from zoo.backbone.build import build_backbone
    from zoo.data.loading import load_dataset
    from zoo.data.tfdata import make_tf_dataset
    from zoo.plugin.catalog import get_catalog
    from zoo.train.checkpoints import CheckpointStore
    from zoo.train.job import TrainJob

    keras.utils.set_random_seed(0)
    built = build_backbone(get_catalog().backbone("alexnet-small"), weights="none", input_size=32)
    data = load_dataset("digits", seed=0)
    labels = data.splits["train"].labels
    train = data.splits["train"].subset(np.sort(np.concatenate([np.flatnonzero(labels == c)[:10] for c in range(10)])))

    def make_job(work, *, cache="memory", dropout=0.0, augmenting=False, epochs=2):
        messages: list[str] = []

        def make_dataset(split, training=False, batch_size=None, repeat=False, seed=None, cache=None):
            return make_tf_dataset(split, image_size=32, channels=3, batch_size=batch_size or 16, shuffle=training,
                                   seed=0 if seed is None else seed, repeat=repeat,
                                   cache=cache)

        job = TrainJob(backbone=built, class_names=data.class_names, train=train, val=None,
                       options={"units": 0, "dropout": dropout, "feature_cache": cache}, epochs=epochs,
                       batch_size=16, lr=0.01, seed=0, make_dataset=make_dataset,
                       checkpoints=CheckpointStore(work / "checkpoints"), work_dir=work, augmenting=augmenting,
                       verbose=0, log=messages.append)
        return job, messages

    return make_job


def fresh_head(job, seed: int = 1):
    import keras
    from zoo_strategies.heads import make_head

    keras.utils.set_random_seed(seed)
    return make_head(job.backbone.feature_dim, job.num_classes, units=0, dropout=job.options["dropout"])


def test_uncached_training_sees_what_cached_training_sees(digits_job, tmp_path):
    """With augmentation features are recomputed every epoch, from the backbone in inference mode:
    alexnet-small's own dropout stays off, so (same order, no head dropout) the head trains as plain
    ``fit`` does on the features computed once. (The cached path itself trains on standardised
    features, with more steps: test_head_convergence checks what it reaches.)"""
    from zoo_strategies.feature_extraction import train_head
    from zoo_strategies.features import feature_dataset
    from zoo_strategies.heads import compile_classifier

    job, _ = digits_job(tmp_path / "none", cache="none")
    uncached = fresh_head(job)
    history = train_head(job, uncached, epochs=1, phase="head", cache="none")  # one pass: the same order as fit's
    assert len(history) == 1
    features = job.backbone.model.predict(job.make_dataset(job.train), verbose=0)
    plain = fresh_head(job)
    compile_classifier(plain, job.lr)
    plain.fit(feature_dataset(features, job.train.labels, 16, shuffle=True, seed=0), epochs=1, verbose=0,
              shuffle=False)
    start = fresh_head(job).get_weights()
    for ours, theirs, initial in zip(uncached.get_weights(), plain.get_weights(), start):
        assert np.abs(theirs - initial).max() > 1e-3  # it trained
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_uncached_model_keeps_the_backbone_in_inference_mode_and_the_head_dropout_on(digits_job, tmp_path):
    from zoo_strategies.feature_extraction import head_on_frozen_backbone

    job, _ = digits_job(tmp_path)
    images = next(iter(job.make_dataset(job.train)))[0]
    backbone = job.backbone.model
    backbone.trainable = False
    assert {layer.rate for layer in backbone.layers[-1]._flatten_layers() if hasattr(layer, "rate")} == {0.2}
    without = head_on_frozen_backbone(backbone, fresh_head(job))
    np.testing.assert_allclose(without(images, training=True).numpy(), without(images, training=False).numpy(),
                               atol=1e-6)
    job.options["dropout"] = 0.5
    head = fresh_head(job)
    with_dropout = head_on_frozen_backbone(backbone, head)
    training, inference = with_dropout(images, training=True).numpy(), with_dropout(images, training=False).numpy()
    assert np.abs(training - inference).max() > 0.05
    np.testing.assert_allclose(inference, head(backbone(images, training=False)).numpy(), atol=1e-6)


@pytest.mark.parametrize("cache", ["disk", "none"])
def test_a_finished_head_phase_is_restored_without_computing_features(digits_job, tmp_path, cache):
    from zoo_strategies.feature_extraction import train_head

    job, messages = digits_job(tmp_path, cache=cache, augmenting=cache == "none")
    trained = fresh_head(job)
    history = train_head(job, trained, epochs=2, phase="head", cache="disk")
    assert any(m.startswith("computing backbone features once") for m in messages) == (cache == "disk")
    assert (tmp_path / "features" / "train.npy").exists() == (cache == "disk")
    shutil.rmtree(tmp_path / "features", ignore_errors=True)

    resumed, messages = digits_job(tmp_path, cache=cache, augmenting=cache == "none")
    head = fresh_head(resumed, seed=2)
    assert train_head(resumed, head, epochs=2, phase="head", cache="disk") == history
    assert not any(m.startswith("computing") for m in messages), messages
    assert "head: restored from checkpoint (2 epochs done)" in messages
    assert not (tmp_path / "features").exists()
    for a, b in zip(head.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(a, b)


def order_of(dataset) -> list[list[int]]:
    """The rows (feature 0 holds the row number) of each batch of one pass, checking labels travel with them."""
    batches = []
    for x, y in dataset:
        rows = x.numpy()[:, 0].astype(int).tolist()
        assert y.numpy().tolist() == [r % 3 for r in rows]
        batches.append(rows)
    return batches


def test_cached_features_are_reshuffled_every_epoch_in_memory_and_on_disk(tmp_path):
    from zoo_strategies.features import feature_dataset

    rows = 40
    features = np.repeat(np.arange(rows, dtype=np.float32)[:, None], 3, axis=1)
    labels = np.arange(rows) % 3
    np.save(tmp_path / "train.npy", features)
    on_disk = np.load(tmp_path / "train.npy", mmap_mode="r")
    assert isinstance(on_disk, np.memmap)

    epochs = {}
    for where, array in (("memory", features), ("disk", on_disk)):
        dataset = feature_dataset(array, labels, batch_size=8, shuffle=True, seed=3)
        epochs[where] = [order_of(dataset) for _ in range(3)]  # a new iterator each epoch
        # fit_phase repeats it and keeps one iterator (zoo.train.fit.one_stream): the same epochs
        stream = feature_dataset(array, labels, batch_size=8, shuffle=True, seed=3).repeat()
        assert order_of(stream.take(15)) == sum(epochs[where], [])
        for batches in epochs[where]:
            assert [len(b) for b in batches] == [8] * 5
            assert sorted(sum(batches, [])) == list(range(rows))
        first, second, third = (sum(b, []) for b in epochs[where])
        assert first != second and second != third and first != list(range(rows))
        again = feature_dataset(array, labels, batch_size=8, shuffle=True, seed=3)
        assert order_of(again) == epochs[where][0]  # the seed decides
        assert order_of(feature_dataset(array, labels, batch_size=8, shuffle=True, seed=4)) != epochs[where][0]
        assert sum(order_of(feature_dataset(array, labels, batch_size=8, shuffle=False, seed=3)), []) == \
            list(range(rows))
    # the same examples in each batch either way (the disk reads a batch in file order)
    for memory, disk in zip(epochs["memory"], epochs["disk"]):
        assert [sorted(b) for b in memory] == disk


def feature_model():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    model.set_weights([np.array([[1, 0, 2], [0, 1, 3]], "float32"), np.array([0, 0, 1], "float32")])
    return model


def image_batches(count: int, fail_after: int | None = None):
    import tensorflow as tf

    def examples():
        for i in range(count):
            if fail_after is not None and i == fail_after:
                raise RuntimeError("unreadable image")
            yield np.array([i, 2 * i], "float32"), i % 3

    signature = (tf.TensorSpec((2,), tf.float32), tf.TensorSpec((), tf.int64))
    return tf.data.Dataset.from_generator(examples, output_signature=signature).batch(4)


def test_disk_features_are_reused_only_when_complete(tmp_path):
    from zoo_strategies.features import compute_features

    from zoo.errors import ZooError

    model = feature_model()
    expected = np.array([[i, 2 * i, 8 * i + 1] for i in range(10)], "float32")
    path, marker = tmp_path / "train.npy", tmp_path / "train.json"

    def compute(count=10, dataset=None):
        return compute_features(model, dataset or image_batches(10), count, 3, "disk", tmp_path, "train")

    # a computation that fails half-way leaves neither the array nor its marker
    with pytest.raises(Exception, match="unreadable image"):
        compute(dataset=image_batches(10, fail_after=6))
    assert not path.exists() and not marker.exists()

    np.testing.assert_array_equal(compute(), expected)
    assert json.loads(marker.read_text()) == {"count": 10, "feature_dim": 3}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.json", "train.npy"]
    inode = path.stat().st_ino
    np.testing.assert_array_equal(compute(), expected)
    assert path.stat().st_ino == inode  # reused

    # a file cut short (its header still says 10 rows) is computed again
    with open(path, "r+b") as handle:
        handle.truncate(path.stat().st_size - 3 * 4 * 4)
    np.testing.assert_array_equal(compute(), expected)
    assert path.stat().st_ino != inode

    # a file of another number of rows under a marker that claims 10: computed again
    np.save(path, expected[:7])
    np.testing.assert_array_equal(compute(), expected)
    assert np.load(path).shape == (10, 3)

    # another split size: computed again, for that size
    np.testing.assert_array_equal(compute(count=6, dataset=image_batches(6)), expected[:6])
    assert json.loads(marker.read_text()) == {"count": 6, "feature_dim": 3}

    with pytest.raises(ZooError, match=r"the images gave 6 rows for a split of 10; nothing was cached"):
        compute(count=10, dataset=image_batches(6))
    assert not marker.exists() and not (tmp_path / ".train.npy.partial").exists()


# -- fine-tuning's learning rate ------------------------------------------------------------------


def test_fine_tune_lr_defaults_to_a_tenth_and_zero_is_refused(tmp_path, zoo):
    from zoo_strategies.fine_tuning import fine_tune_lr

    from zoo.train.job import TrainJob

    def job(value):
        return TrainJob(backbone=None, class_names=["a"], train=None, val=None, options={"fine_tune_lr": value},
                        epochs=1, batch_size=1, lr=0.01, seed=0, make_dataset=None, checkpoints=None,
                        work_dir=tmp_path)

    assert fine_tune_lr(job(None)) == pytest.approx(0.001)
    assert fine_tune_lr(job(0.5)) == 0.5
    for bad in (0.0, -1e-4):
        with pytest.raises(UsageError, match=f"--fine-tune-lr must be greater than 0, got {bad:g}"):
            fine_tune_lr(job(bad))

    out = tmp_path / "zero"
    result = zoo("train", "--backbone", "alexnet-small", "--weights", "none", "--dataset", "digits", "--image-size",
                 "32", "--strategy", "fine-tuning", "--epochs", "2", "--fine-tune-lr", "0", "--out", str(out))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == "zoo: error: --fine-tune-lr must be greater than 0, got 0"
    assert not (tmp_path / "zero.partial" / "checkpoints").exists()  # refused before any training
