"""Training pipelines end to end: train, the run folder, TOML, stages, evaluate/predict/export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from imagegen import SHAPES, make_shapes_folder
from zoo.artifacts import read_adapter

RUN_FILES = {"config.json", "head.keras", "metrics.json", "history.csv", "curves.png", "confusion.png"}
FAST = ["--backbone", "alexnet-small", "--weights", "none", "--image-size", "32", "--batch-size", "16"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes_folder(tmp_path_factory.mktemp("data") / "shapes", per_class=30, size=40)


@pytest.fixture(scope="module")
def fe_run(shapes, tmp_path_factory):
    """One feature-extraction run shared by the tests that only read it."""
    from click.testing import CliRunner

    from zoo.catalog import reset_catalog
    from zoo.cli import build_cli
    from zoo.plugins import reset_host

    reset_host()
    reset_catalog()
    out = tmp_path_factory.mktemp("runs") / "fe"
    result = CliRunner().invoke(build_cli(), ["train", *FAST, "--strategy", "feature-extraction",
                                              "--dataset", f"folder:{shapes}", "--epochs", "15", "--lr", "0.01",
                                              "--out", str(out), "--seed", "1"])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return out


def test_feature_extraction_learns_the_shapes(fe_run):
    metrics = json.loads((fe_run / "metrics.json").read_text())
    assert metrics["split"] == "val"
    assert metrics["accuracy"] > 0.9, metrics
    assert metrics["n"] == 18  # 20% of 90 images, stratified
    assert set(metrics["per_class_accuracy"]) == set(SHAPES)
    assert metrics["loss"] < 0.5


def test_run_folder_is_complete_and_verified(fe_run):
    assert RUN_FILES <= {p.name for p in fe_run.iterdir()}
    adapter = read_adapter(fe_run)
    config = adapter.config
    assert config["schema"] == "zoo.adapter/1"
    assert config["class_names"] == sorted(SHAPES)
    assert config["backbone"]["name"] == "alexnet-small" and config["backbone"]["input_size"] == 32
    assert config["strategy"]["name"] == "feature-extraction"
    assert config["strategy"]["options"]["feature_cache"] == "auto"
    assert set(config["files"]) >= RUN_FILES - {"config.json"}
    assert {"zoo", "tensorflow", "keras", "python"} <= set(config["versions"])
    rows = list(csv.DictReader((fe_run / "history.csv").open()))
    assert len(rows) == 15 and rows[0]["phase"] == "head"
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert not fe_run.with_name("fe.partial").exists()


def test_random_backbone_is_carried_by_the_adapter(fe_run):
    # weights "none" cannot be fetched again, so every backbone variable is in the delta
    config = read_adapter(fe_run).config
    assert config["backbone"]["weights"]["name"] == "none"
    assert "backbone.delta.npz" in config["files"]


def test_tampered_run_is_refused(fe_run, tmp_path, zoo):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(fe_run, copy)
    with open(copy / "head.keras", "ab") as handle:
        handle.write(b"x")
    result = zoo("evaluate", str(copy))
    assert result.exit_code == 1
    assert "head.keras: sha256 mismatch" in result.stderr and "refusing to load it" in result.stderr


def test_evaluate_predict_export_match_plain_keras(fe_run, shapes, tmp_path, zoo):
    import keras
    import tensorflow as tf

    from zoo.inputs import load_images

    evaluated = zoo("evaluate", str(fe_run), "--json")
    assert evaluated.exit_code == 0, evaluated
    scores = json.loads(evaluated.stdout)
    recorded = json.loads((fe_run / "metrics.json").read_text())
    assert scores["split"] == "val" and scores["n"] == recorded["n"]
    assert scores["accuracy"] == pytest.approx(recorded["accuracy"])
    assert scores["loss"] == pytest.approx(recorded["loss"], rel=1e-4)

    exported = tmp_path / "model.keras"
    assert zoo("export", str(fe_run), "--format", "keras", "--out", str(exported)).exit_code == 0
    plain = keras.models.load_model(exported, safe_mode=True)  # stock layers only: no zoo needed

    files = sorted(str(p) for p in (shapes / "circle").glob("*.png"))[:4] + [str(shapes / "square")]
    predicted = zoo("predict", str(fe_run), *files, "--top-k", "2", "--json")
    assert predicted.exit_code == 0, predicted
    rows = json.loads(predicted.stdout)
    all_files = files[:4] + sorted(str(p) for p in (shapes / "square").glob("*.png"))
    assert [r["file"] for r in rows] == all_files
    pixels = load_images(all_files, 32)
    expected = plain.predict(pixels, verbose=0)
    for row, probs in zip(rows, expected):
        top = row["predictions"]
        assert len(top) == 2
        assert top[0]["label"] == sorted(SHAPES)[int(np.argmax(probs))]
        assert top[0]["probability"] == pytest.approx(float(probs.max()), abs=1e-5)

    served = tmp_path / "served"
    assert zoo("export", str(fe_run), "--format", "savedmodel", "--out", str(served)).exit_code == 0
    loaded = tf.saved_model.load(str(served))
    out = loaded.serve(tf.constant(pixels))
    np.testing.assert_allclose(np.asarray(out), expected, atol=1e-5)


def test_export_refuses_to_overwrite(fe_run, tmp_path, zoo):
    target = tmp_path / "exists.keras"
    target.write_text("keep me")
    result = zoo("export", str(fe_run), "--out", str(target))
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert target.read_text() == "keep me"


def test_cli_flags_and_toml_give_the_same_config(tmp_path, zoo):
    from zoo.pipeline_config import read_pipeline, stage_from_mapping

    flags = ["--backbone", "resnet50", "--dataset", "folder:data/x", "--epochs", "7", "--lr", "0.0005",
             "--strategy", "fine-tuning", "--unfreeze", "2", "--fine-tune-lr", "1e-5", "--image-size", "96",
             "--augment", "flip,rotation=0.1", "--precision", "mixed_bfloat16", "--out", "runs/x"]
    printed = zoo("train", *flags, "--print-config")
    assert printed.exit_code == 0, printed
    path = tmp_path / "p.toml"
    path.write_text(printed.stdout)
    [from_toml] = read_pipeline(path)
    assert from_toml.backbone == "resnet50" and from_toml.epochs == 7 and from_toml.image_size == 96
    assert from_toml.precision == "mixed_bfloat16" and from_toml.augment == "flip,rotation=0.1"
    assert from_toml.strategy == "fine-tuning"
    assert from_toml.strategy_options["unfreeze"] == "2"
    assert from_toml.strategy_options["fine_tune_lr"] == 1e-5
    again = zoo("run", str(path), "--help")
    assert again.exit_code == 0
    # printing the TOML's own config again gives the same text: nothing lost either way
    reprinted = stage_from_mapping(from_toml.to_dict(), "again")
    assert reprinted == from_toml


@pytest.mark.parametrize("text, message", [
    ('backbone = "resnet50"\ndataset = "digits"\nepoch = 3\n', "unknown key 'epoch'"),
    ('backbone = "resnet50"\ndataset = "digits"\n[strategy]\nname = "fine-tuning"\nunfreze = 2\n',
     "unknown option 'unfreze' for strategy 'fine-tuning'"),
    ('backbone = "resnet50"\ndataset = "digits"\nepochs = "three"\n', "'epochs' must be int, got 'three'"),
    ('backbone = "resnet50"\ndataset = "digits"\nprecision = "fp8"\n', "'precision' must be one of float32"),
    ('[[stages]]\nbackbone = "resnet50"\n', "'dataset' is required"),
])
def test_bad_pipeline_files_name_the_key(tmp_path, zoo, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = zoo("run", str(path))
    assert result.exit_code == 2, result
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_strategy_option_on_the_command_line(zoo):
    result = zoo("train", "--backbone", "resnet50", "--dataset", "digits", "--method", "coral")
    assert result.exit_code == 2
    assert "unknown option 'method' for strategy 'feature-extraction'" in result.stderr


def test_two_stage_pipeline_source_then_target(tmp_path, zoo):
    path = tmp_path / "two.toml"
    path.write_text(f"""
[[stages]]
name = "source"
backbone = "alexnet-small"
weights = "none"
dataset = "digits"
normalization = "standardize"
epochs = 6
batch_size = 64
lr = 0.003
out = "{tmp_path / 'source'}"
[stages.strategy]
name = "fine-tuning"
unfreeze = "all"
warmup_epochs = 0

[[stages]]
name = "target"
from = "source"
dataset = "digits-m"
epochs = 4
batch_size = 64
out = "{tmp_path / 'target'}"
[stages.strategy]
name = "feature-extraction"
""")
    result = zoo("run", str(path))
    assert result.exit_code == 0, result
    source, target = read_adapter(tmp_path / "source"), read_adapter(tmp_path / "target")
    assert source.metrics()["accuracy"] > 0.8  # digits test split, trained from scratch
    assert target.config["parent"]["ref"] == str(tmp_path / "source")
    assert target.config["backbone"]["name"] == "alexnet-small"
    # the target run carries the source-trained backbone: equal to the source's delta
    from zoo.models import load_delta

    source_delta = load_delta(source.file("backbone.delta.npz"))
    target_delta = load_delta(target.file("backbone.delta.npz"))
    assert source_delta.keys() == target_delta.keys()
    for key in source_delta:
        np.testing.assert_array_equal(source_delta[key], target_delta[key])
    # rerunning with --resume skips finished stages
    again = zoo("run", str(path), "--resume")
    assert again.exit_code == 0 and again.stderr.count("already complete") == 2


def test_tfhub_module_as_backbone_end_to_end(shapes, tmp_path, zoo):
    """An ad-hoc `tfhub:FOLDER` backbone: feature extraction, then fine-tuning the whole module."""
    from test_tfhub import export_hub_style

    module = export_hub_style(tmp_path / "module")
    common = ["--backbone", f"tfhub:{module}", "--image-size", "32", "--dataset", f"folder:{shapes}",
              "--batch-size", "16", "--lr", "0.01"]
    fe = zoo("train", *common, "--epochs", "3", "--out", str(tmp_path / "fe"))
    assert fe.exit_code == 0, fe
    fe_config = read_adapter(tmp_path / "fe").config
    assert fe_config["backbone"]["source"] == "tfhub" and fe_config["backbone"]["feature_dim"] == 5
    assert "backbone.delta.npz" not in fe_config["files"]  # the module carries its weights

    ft = zoo("train", *common, "--strategy", "fine-tuning", "--unfreeze", "all", "--epochs", "4",
             "--warmup-epochs", "1", "--out", str(tmp_path / "ft"))
    assert ft.exit_code == 0, ft
    adapter = read_adapter(tmp_path / "ft")
    from zoo.models import load_delta

    delta = load_delta(adapter.file("backbone.delta.npz"))
    assert delta and all(np.isfinite(v).all() for v in delta.values())
    # the module's weights trained, its BatchNorm-like moving mean did not (fine-tuning keeps BN frozen)
    assert any("kernel" in path for path in delta)
    assert not any("moving_mean" in path for path in delta), sorted(delta)
    scores = json.loads(zoo("evaluate", str(tmp_path / "ft"), "--json").stdout)
    assert scores["accuracy"] == pytest.approx(adapter.metrics()["accuracy"])
    assert scores["loss"] == pytest.approx(adapter.metrics()["loss"], rel=1e-4)
