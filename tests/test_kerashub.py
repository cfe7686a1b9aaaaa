"""KerasHub presets as zoo backbones: a tiny ResNet saved with KerasHub's own ``save_to_preset``,
used as a local folder and from the (loopback) Hub as ``hf://owner/repo@sha``, through
training, the run's pins, reload, export, push and pull, offline use and tampering.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hubtools import hub, hub_env  # noqa: F401 (fixtures)
from imagegen import make_shapes_folder
from kerashubtools import publish, save_keras_preset

from zoo.run.folder import read_run_folder

pytest.importorskip("keras_hub")

REPO = Path(__file__).resolve().parent.parent
FAST = ["--image-size", "32", "--batch-size", "16", "--seed", "1"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes_folder(tmp_path_factory.mktemp("data") / "shapes", per_class=16, size=40)


@pytest.fixture(scope="module")
def preset(tmp_path_factory):
    return save_keras_preset(tmp_path_factory.mktemp("preset") / "tiny-resnet", seed=0)


@pytest.fixture(scope="module")
def tuned(preset, shapes, tmp_path_factory):
    """One fine-tuning run (head warm-up, then the last stage) on the local preset folder."""
    from click.testing import CliRunner

    from zoo.cli.main import build_cli
    from zoo.plugin.catalog import reset_catalog
    from zoo.plugin.host import reset_host

    reset_host()
    reset_catalog()
    out = tmp_path_factory.mktemp("runs") / "tuned"
    result = CliRunner().invoke(build_cli(), ["train", "--backbone", f"kerashub:{preset}", "--strategy", "fine-tuning",
                                              "--unfreeze", "1", "--warmup-epochs", "2", "--epochs", "4", *FAST,
                                              "--dataset", f"folder:{shapes}", "--out", str(out)])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return out


def images(shapes, n=6):
    from zoo.data.tfdata import load_images

    files = sorted(str(p) for p in shapes.rglob("*.png"))[:n]
    return files, load_images(files, 32)


def test_info_describes_a_preset_folder_from_its_files(preset, zoo):
    result = zoo("info", f"kerashub:{preset}", "--json")
    assert result.exit_code == 0, result
    info = json.loads(result.stdout)
    assert info["input_size"] == 32 and info["preprocessing"]["mode"] == "torch"  # its image converter
    assert list(info["stages"]) == ["stem", "stack0", "stack1"]


def test_fine_tuning_records_the_preset_and_trains_only_the_last_stage(tuned, preset):
    config = read_run_folder(tuned).config
    backbone = config["backbone"]
    assert backbone["source"] == "kerashub" and backbone["model"] == str(preset)
    assert backbone["preprocessing"] == "torch" and backbone["feature_dim"] == 64
    files = backbone["preset"]["files"]
    assert {"config.json", "model.weights.h5", "image_converter.json"} <= set(files)
    with np.load(tuned / "backbone.delta.npz") as delta:
        changed = {str(p) for p in delta["__paths__"]}
    assert changed and all(p.startswith("stack1_") for p in changed), changed  # --unfreeze 1: stack1 only
    assert not any("_bn/" in p for p in changed)  # BatchNorm stays frozen while fine-tuning


def test_reload_evaluate_predict_and_export_agree(tuned, shapes, tmp_path, zoo):
    import keras
    import keras_hub  # noqa: F401  (registers KerasHub's classes, which the exported model holds)
    import tensorflow as tf

    from zoo.run.load import open_run

    files, pixels = images(shapes)
    loaded = open_run(str(tuned))
    expected = loaded.model.predict(pixels, verbose=0)
    scores = json.loads(zoo("evaluate", str(tuned), "--json").stdout)
    recorded = json.loads((tuned / "metrics.json").read_text())
    assert scores["accuracy"] == pytest.approx(recorded["accuracy"])
    assert scores["loss"] == pytest.approx(recorded["loss"], rel=1e-4)
    rows = json.loads(zoo("predict", str(tuned), *files, "--json").stdout)
    assert [r["predictions"][0]["probability"] for r in rows] == pytest.approx(expected.max(axis=1).tolist(), abs=1e-5)

    assert zoo("export", str(tuned), "--format", "keras", "--out", str(tmp_path / "m.keras")).exit_code == 0
    plain = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    np.testing.assert_allclose(plain.predict(pixels, verbose=0), expected, atol=1e-5)
    assert zoo("export", str(tuned), "--format", "savedmodel", "--out", str(tmp_path / "sm")).exit_code == 0
    served = tf.saved_model.load(str(tmp_path / "sm"))
    np.testing.assert_allclose(np.asarray(served.serve(tf.constant(pixels))), expected, atol=1e-5)


def test_domain_adaptation_on_a_preset_backbone(tuned, shapes, tmp_path, zoo):
    from zoo.testing import make_image_folder

    dark = make_image_folder(tmp_path / "dark", per_class=12, size=40, seed=5, background=(120, 255))
    out = tmp_path / "da"
    result = zoo("train", "--from", str(tuned), "--strategy", "domain-adaptation", "--dataset", f"folder:{shapes}",
                 "--target", f"folder:{dark}", "--epochs", "2", "--batch-size", "16", "--out", str(out))
    assert result.exit_code == 0, result
    config = read_run_folder(out).config
    assert config["backbone"]["preset"]["files"] == read_run_folder(tuned).config["backbone"]["preset"]["files"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0 < metrics["target_classes"] <= 3 and 0.0 <= metrics["target_entropy"] <= 1.0  # label-free signals
    with np.load(out / "backbone.delta.npz") as delta:
        assert any(str(p).startswith("stack0_") for p in delta["__paths__"])  # every stage adapted (unfreeze all)
    assert zoo("evaluate", str(out), "--dataset", f"folder:{dark}").exit_code == 0


def test_a_changed_preset_file_is_refused_when_the_run_loads(tuned, preset, tmp_path, zoo):
    copy = tmp_path / "preset-copy"
    shutil.copytree(preset, copy)
    run = tmp_path / "run"
    shutil.copytree(tuned, run)
    config = json.loads((run / "config.json").read_text())
    config["backbone"]["model"], config["backbone"]["name"] = str(copy), f"kerashub:{copy}"
    (run / "config.json").write_text(json.dumps(config))
    assert zoo("evaluate", str(run)).exit_code == 0  # same files, another folder: fine
    with open(copy / "model.weights.h5", "r+b") as handle:
        handle.seek(-64, os.SEEK_END)
        handle.write(b"\x00" * 64)
    result = zoo("evaluate", str(run))
    assert result.exit_code == 1 and "model.weights.h5 has sha256" in result.stderr, result


# -- from the Hub ----------------------------------------------------------------------------


def registry_entry(repo: str) -> str:
    return (f'[backbones.tiny-resnet]\nsource = "kerashub"\nmodel = "hf://{repo}"\ninput_size = 32\n'
            f'feature_dim = 64\npreprocessing = "torch"\ndefault_weights = "builtin"\nlicense = "apache-2.0"\n'
            f'base_model = "{repo}"\n'
            f'stages = {{ stem = ["conv1_", "pool1_"], stack0 = ["stack0_"], stack1 = ["stack1_"] }}\n')


def test_a_hub_preset_is_pinned_pushed_pulled_and_loaded_at_its_revision(hub_env, preset, shapes, tmp_path, zoo,
                                                                       monkeypatch):
    sha = publish(hub_env, "alice/tiny-resnet", preset)
    Path("registry.toml").write_text(registry_entry("alice/tiny-resnet"))
    out = tmp_path / "fe"
    trained = zoo("train", "--backbone", "tiny-resnet", "--strategy", "feature-extraction", "--epochs", "3", *FAST,
                  "--dataset", f"folder:{shapes}", "--out", str(out))
    assert trained.exit_code == 0, trained
    backbone = read_run_folder(out).config["backbone"]
    assert backbone["hub"]["repo"] == "alice/tiny-resnet" and backbone["hub"]["revision"] == sha
    assert set(backbone["hub"]["files"]) >= {"config.json", "model.weights.h5"}
    assert (backbone["base_model"], backbone["license"]) == ("alice/tiny-resnet", "apache-2.0")
    _, pixels = images(shapes)
    from zoo.run.load import open_run

    before = open_run(str(out)).model.predict(pixels, verbose=0)

    # the preset moves on: other weights at a new commit on main
    moved = tmp_path / "moved"
    save_keras_preset(moved, seed=7)
    assert publish(hub_env, "alice/tiny-resnet", moved, "retrain") != sha
    monkeypatch.setenv("HF_TOKEN", hub_env.tokens["alice"])
    pushed = zoo("push", str(out), "alice/tiny-resnet-shapes")
    assert pushed.exit_code == 0, pushed
    commit = re.search(r"@([0-9a-f]{40})$", pushed.stdout.strip(), re.M).group(1)
    from zoo.plugin.catalog import reset_catalog

    reset_catalog()
    after = open_run(f"hf://alice/tiny-resnet-shapes@{commit}").model.predict(pixels, verbose=0)
    np.testing.assert_allclose(after, before, atol=1e-6)  # built from the adapter's revision, not main's
    pulled = zoo("pull", f"alice/tiny-resnet-shapes@{commit}")
    assert pulled.exit_code == 0, pulled
    card = (Path(pulled.stdout.strip()) / "README.md").read_text()
    front = card.split("---")[1]  # the Hub's metadata: the base model and its licence
    assert "base_model: alice/tiny-resnet" in front and "license: apache-2.0" in front, front

    # offline, from the HF cache only
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    evaluated = zoo("evaluate", f"hf://alice/tiny-resnet-shapes@{commit}", "--dataset", f"folder:{shapes}")
    assert evaluated.exit_code == 0, evaluated


def test_precision_and_distribution_with_an_adhoc_hub_preset(hub_env, preset, shapes, tmp_path, zoo):
    sha = publish(hub_env, "alice/tiny-resnet-b", preset)
    out = tmp_path / "bf16"
    result = zoo("train", "--backbone", f"kerashub:hf://alice/tiny-resnet-b@{sha}", "--strategy", "fine-tuning",
                 "--unfreeze", "stack1", "--warmup-epochs", "1", "--epochs", "2", "--precision", "mixed_bfloat16",
                 "--distribute", "mirrored", *FAST, "--dataset", f"folder:{shapes}", "--out", str(out))
    assert result.exit_code == 0, result
    config = read_run_folder(out).config
    assert config["training"]["precision"] == "mixed_bfloat16" and config["training"]["distribute"] == "mirrored"
    assert config["backbone"]["name"] == f"kerashub:hf://alice/tiny-resnet-b@{sha}"
    assert config["backbone"]["hub"]["revision"] == sha
    assert zoo("evaluate", str(out)).exit_code == 0


# -- KerasHub preset names and kaggle:// --------------------------------------------------------


def test_preset_names_and_kaggle_handles_offline_say_what_is_missing(zoo, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # zoo's offline switch: kagglehub reads its own cache only
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kaggle"))
    out = tmp_path / "never"
    named = zoo("train", "--backbone", "kerashub:resnet_18_imagenet", "--dataset", "digits", "--out", str(out))
    assert named.exit_code == 1, named
    line, = named.stderr.strip().splitlines()
    assert "fetching kaggle://keras/resnetv1/keras/resnet_18_imagenet" in line, line  # the name's Kaggle handle
    unknown = zoo("train", "--backbone", "kerashub:no_such_preset", "--dataset", "digits", "--out", str(out))
    assert unknown.exit_code == 2 and "KerasHub has no preset named 'no_such_preset'" in unknown.stderr, unknown
    bad = zoo("info", "kerashub:kaggle://keras/resnetv1")
    assert bad.exit_code == 2 and "write kaggle://OWNER/MODEL/keras/VARIANT[/VERSION]" in bad.stderr, bad
    assert not out.exists() and not out.with_name("never.partial").exists()


# -- without the extra -------------------------------------------------------------------------

BLOCK_KERAS_HUB = """
import importlib.abc, sys
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "keras_hub" or name.startswith("keras_hub."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, Hide())
import importlib.util
_find = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] == "keras_hub" else _find(name, *a)
from zoo.cli.main import main
sys.argv = ["zoo", *sys.argv[1:]]
main()
"""


def test_without_keras_hub_zoo_lists_and_says_what_to_install(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins"), os.environ.get("PYTHONPATH", "")])}

    def zoo_without(*args):
        return subprocess.run([sys.executable, "-c", BLOCK_KERAS_HUB, *args], capture_output=True, text=True,
                              env=env, timeout=300, cwd=tmp_path)

    listed = zoo_without("list", "backbones")
    assert listed.returncode == 0 and "resnet50" in listed.stdout, listed.stderr
    out = tmp_path / "never"
    refused = zoo_without("train", "--backbone", "kerashub:hf://timm/resnet50.a1_in1k", "--dataset", "digits",
                          "--out", str(out))
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert lines == ["zoo: error: command line: backbone 'kerashub:hf://timm/resnet50.a1_in1k' needs KerasHub, which is not installed: "
                     "pip install 'zoo[kerashub]'"], lines
    assert not out.exists() and not out.with_name("never.partial").exists()


# -- resume --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_an_interrupted_run_on_a_moving_hub_preset_resumes_on_its_first_commit(hub_env, preset, shapes, tmp_path):
    from test_resume import start, wait_for_epoch

    sha = publish(hub_env, "alice/tiny-resnet-r", preset)
    out = tmp_path / "run"
    args = ["train", "--backbone", "kerashub:hf://alice/tiny-resnet-r", "--strategy", "fine-tuning", "--unfreeze", "1",
            "--warmup-epochs", "1", "--epochs", "6", *FAST, "--dataset", f"folder:{shapes}"]
    proc = start(args, out)
    wait_for_epoch(out, "fine-tune", 2, proc)
    proc.kill()
    proc.wait()
    moved = tmp_path / "moved"
    save_keras_preset(moved, seed=7)
    assert publish(hub_env, "alice/tiny-resnet-r", moved, "retrain") != sha  # main now holds other weights
    resumed = start([*args, "--resume"], out)
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert "resuming the interrupted run" in stdout + stderr
    assert len((out / "history.csv").read_text().strip().splitlines()[1:]) == 6
    assert read_run_folder(out).config["backbone"]["hub"]["revision"] == sha  # the commit it started on
