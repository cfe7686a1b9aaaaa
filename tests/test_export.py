"""`zoo export` to every format, from a tiny real run, each file run in its own runtime here too.

The export checks itself (OUT.check.json); these tests also run each file independently
(the LiteRT interpreter, onnxruntime, TensorFlow's SavedModel loader, plain Keras in a
process that cannot import zoo) on the run's images and compare with `zoo predict`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hubtools import hub, hub_env  # noqa: F401 (fixtures)
from imagegen import make_shapes_folder

FAST = ["--backbone", "alexnet-small", "--weights", "none", "--image-size", "32", "--batch-size", "16"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes_folder(tmp_path_factory.mktemp("data") / "shapes", per_class=30, size=40)


@pytest.fixture(scope="module")
def ft_run(shapes, tmp_path_factory):
    """A fine-tuned run (every backbone layer changed): the model every format must reproduce."""
    from click.testing import CliRunner

    from zoo.cli.main import build_cli

    out = tmp_path_factory.mktemp("runs") / "ft"
    result = CliRunner().invoke(build_cli(), ["train", *FAST, "--dataset", f"folder:{shapes}", "--strategy",
                                              "fine-tuning", "--unfreeze", "all", "--warmup-epochs", "2",
                                              "--epochs", "4", "--lr", "0.01", "--out", str(out), "--seed", "1"])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return out


@pytest.fixture(scope="module")
def images(shapes):
    files = sorted(str(p) for kind in ("circle", "square", "triangle") for p in (shapes / kind).glob("*.png"))[::6]
    from zoo.data.tfdata import load_images

    return files, load_images(files, 32)


def zoo_probabilities(zoo, run, files) -> np.ndarray:
    """What `zoo predict` says, every class, in the run's class order."""
    from zoo.run.folder import read_run_folder

    classes = read_run_folder(run).class_names
    result = zoo("predict", str(run), *files, "--top-k", str(len(classes)), "--json")
    assert result.exit_code == 0, result
    rows = json.loads(result.stdout)
    return np.array([[next(p["probability"] for p in row["predictions"] if p["label"] == c) for c in classes]
                     for row in rows])


def run_tflite(path, pixels):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    [given], [out] = interpreter.get_input_details(), interpreter.get_output_details()
    probabilities = []
    for image in pixels:
        interpreter.set_tensor(given["index"], image[None])
        interpreter.invoke()
        probabilities.append(interpreter.get_tensor(out["index"])[0])
    return np.array(probabilities)


def run_onnx(path, pixels):
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    [given] = session.get_inputs()
    assert given.shape[1:] == [32, 32, 3] and given.type == "tensor(float)"
    return session.run(None, {given.name: pixels})[0]


def run_savedmodel(path, pixels):
    import tensorflow as tf

    served = tf.saved_model.load(str(path))  # held: its functions need the object alive
    return np.asarray(served.serve(tf.constant(pixels)))


PLAIN_KERAS = r"""
import importlib.abc, sys
import numpy as np, keras
model = keras.saving.load_model(sys.argv[1], safe_mode=True)
np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
assert not [m for m in sys.modules if m.split(".")[0].startswith("zoo")], "zoo was imported"
"""


def run_keras_without_zoo(path, pixels, tmp_path):
    np.save(tmp_path / "x.npy", pixels)
    env = {**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"}  # zoo is not even on the path
    done = subprocess.run([sys.executable, "-c", PLAIN_KERAS, str(path), str(tmp_path / "x.npy"),
                           str(tmp_path / "y.npy")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(tmp_path / "y.npy")


@pytest.mark.parametrize("fmt, out, runtime", [("tflite", "model.tflite", run_tflite), ("onnx", "model.onnx", run_onnx),
                                               ("savedmodel", "served", run_savedmodel),
                                               ("keras", "model.keras", None)])
def test_float_exports_reproduce_the_model_in_their_runtimes(fmt, out, runtime, ft_run, images, zoo, tmp_path):
    files, pixels = images
    target = tmp_path / out
    result = zoo("export", str(ft_run), "--format", fmt, "--out", str(target))
    assert result.exit_code == 0, result
    assert result.stdout.strip() == str(target)
    check = json.loads((tmp_path / f"{out}.check.json").read_text())
    assert check["format"] == fmt and check["quantize"] == "none"
    assert check["images"] == 18 and check["images_from"].startswith("val split of folder:shapes")
    assert check["top1_agreement"] == 1.0 and check["max_prob_diff"] < 1e-4, check
    assert "top-1 agreement 1.0000" in result.stderr
    assert check["input"]["shape"] == [None, 32, 32, 3] and check["input"]["range"] == [0, 255]

    expected = zoo_probabilities(zoo, ft_run, files)
    got = runtime(target, pixels) if runtime else run_keras_without_zoo(target, pixels, tmp_path)
    assert (np.argmax(got, -1) == np.argmax(expected, -1)).all()
    assert np.abs(got - expected).max() < 1e-4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary file left behind"


@pytest.mark.parametrize("fmt, quantize", [("tflite", "int8"), ("tflite", "dynamic"), ("onnx", "int8")])
def test_quantized_exports_keep_their_answers(fmt, quantize, ft_run, images, zoo, tmp_path):
    files, pixels = images
    target = tmp_path / f"model.{fmt}"
    result = zoo("export", str(ft_run), "--format", fmt, "--quantize", quantize, "--out", str(target))
    assert result.exit_code == 0, result
    check = json.loads(target.with_name(target.name + ".check.json").read_text())
    assert check["quantize"] == quantize and check["top1_agreement"] > 0.9, check
    if quantize == "int8":
        assert check["calibration"] == "72 images of the train split of folder:shapes"
    expected = zoo_probabilities(zoo, ft_run, files)
    got = (run_tflite if fmt == "tflite" else run_onnx)(target, pixels)
    assert np.mean(np.argmax(got, -1) == np.argmax(expected, -1)) > 0.9
    float_size = 1_150_000  # the float files of this model: 1.16 MB
    assert target.stat().st_size < float_size / 3, target.stat().st_size


def test_export_needs_its_data_or_calibration(ft_run, shapes, zoo, tmp_path):
    moved = shapes.with_name("moved")
    shapes.rename(moved)
    try:
        result = zoo("export", str(ft_run), "--format", "tflite", "--quantize", "int8", "--out", str(tmp_path / "q.tflite"))
        assert result.exit_code == 2, result
        assert "int8 quantization is calibrated on the run's training images" in result.stderr
        assert "pass --calibration DATASET" in result.stderr and not list(tmp_path.iterdir())

        floats = zoo("export", str(ft_run), "--format", "tflite", "--out", str(tmp_path / "f.tflite"))
        assert floats.exit_code == 0, floats
        assert "checking the export on random pixels" in floats.stderr
        assert json.loads((tmp_path / "f.tflite.check.json").read_text())["images_from"] == "seeded random pixels"

        calibrated = zoo("export", str(ft_run), "--format", "tflite", "--quantize", "int8", "--calibration",
                         f"folder:{moved}", "--out", str(tmp_path / "q.tflite"))
        assert calibrated.exit_code == 0, calibrated
        check = json.loads((tmp_path / "q.tflite.check.json").read_text())
        assert check["calibration"] == "90 images of the train split of folder:moved" and check["top1_agreement"] > 0.9
    finally:
        moved.rename(shapes)


@pytest.mark.parametrize("args, message", [
    (["--format", "keras", "--quantize", "int8", "--out", "m.keras"],
     "--quantize int8 applies to tflite and onnx exports, not keras"),
    (["--format", "tflite", "--out", "m.onnx"], "a tflite export must be a .tflite file, got 'm.onnx'"),
    (["--format", "onnx", "--out", "m.tflite"], "an onnx export must be a .onnx file"),
    (["--format", "tflite", "--out", "exists.tflite"], "'exists.tflite' already exists"),
    (["--format", "tflite", "--calibration", "folder:/no/such/folder", "--quantize", "int8", "--out", "q.tflite"],
     "/no/such/folder"),
])
def test_bad_export_requests_are_usage_errors(args, message, ft_run, zoo):
    Path("exists.tflite").write_text("keep me")
    result = zoo("export", str(ft_run), *args)
    assert result.exit_code == 2, result
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert Path("exists.tflite").read_text() == "keep me"
    assert sorted(p.name for p in Path.cwd().iterdir()) == ["exists.tflite"]


@pytest.mark.slow
def test_tfhub_backbone_exports_whole_graphs_but_no_keras_file(shapes, images, zoo, tmp_path, hub_env, monkeypatch):
    """A .keras file would need zoo's HubModule class and the module's folder; the SavedModel and TFLite
    files hold the module itself and work, without zoo, after the folder is gone. Pushed, such a run has
    no full model for plain Keras at its repository's root, and its card says why."""
    from test_tfhub import export_hub_style

    files, pixels = images
    module = export_hub_style(tmp_path / "module")
    run = tmp_path / "hub-run"
    trained = zoo("train", "--backbone", f"tfhub:{module}", "--image-size", "32", "--batch-size", "16", "--dataset",
                  f"folder:{shapes}", "--epochs", "3", "--lr", "0.01", "--out", str(run))
    assert trained.exit_code == 0, trained
    refused = zoo("export", str(run), "--format", "keras", "--out", str(tmp_path / "m.keras"))
    assert refused.exit_code == 2, refused
    assert "is HubModule from zoo_tfhub.layer" in refused.stderr
    assert "use --format savedmodel, tflite or onnx" in refused.stderr and not (tmp_path / "m.keras").exists()
    for fmt, out in (("savedmodel", "served"), ("tflite", "m.tflite")):
        done = zoo("export", str(run), "--format", fmt, "--out", str(tmp_path / out))
        assert done.exit_code == 0, done
    monkeypatch.setenv("HF_TOKEN", hub_env.tokens["alice"])
    pushed = zoo("push", str(run), "alice/shapes-tfhub", "--json")
    assert pushed.exit_code == 0, pushed
    result = json.loads(pushed.stdout)
    assert result["full_model"] is None and "is HubModule from zoo_tfhub.layer" in result["full_model_missing"]
    store = hub_env.server.store
    tree = store.git("alice/shapes-tfhub", "ls-tree", "--name-only", result["commit"]).split()
    assert "zoo.json" in tree and not {"config.json", "metadata.json", "model.weights.h5", "model.keras"} & set(tree)
    card = store.git("alice/shapes-tfhub", "show", f"{result['commit']}:README.md")
    assert "This push has no full model for plain Keras (its layer" in card and "is HubModule from zoo_tfhub" in card
    assert 'so `keras.saving.load_model("hf://alice/shapes-tfhub")` cannot load it' in card
    expected = zoo_probabilities(zoo, run, files)
    shutil.move(module, tmp_path / "elsewhere")
    np.save(tmp_path / "x.npy", pixels)
    child = (r"import sys, numpy as np, tensorflow as tf" "\n"
             r"x = np.load(sys.argv[2]); served = tf.saved_model.load(sys.argv[1] + '/served')" "\n"
             r"from ai_edge_litert.interpreter import Interpreter" "\n"
             r"i = Interpreter(model_path=sys.argv[1] + '/m.tflite'); i.allocate_tensors()" "\n"
             r"def one(im):" "\n"
             r"    i.set_tensor(i.get_input_details()[0]['index'], im[None]); i.invoke()" "\n"
             r"    return i.get_tensor(i.get_output_details()[0]['index'])[0]" "\n"
             r"np.save(sys.argv[3], np.stack([np.asarray(served.serve(tf.constant(x))), np.stack([one(im) for im in x])]))" "\n"
             r"assert not [m for m in sys.modules if m.startswith('zoo')]" "\n")
    env = {**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", child, str(tmp_path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for got in np.load(tmp_path / "y.npy"):
        assert np.abs(got - expected).max() < 1e-4
