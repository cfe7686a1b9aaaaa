"""Tampered or unsafe run files are refused in zoo's words, before Keras or NumPy reads them."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from zoo.errors import ZooError


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A real fine-tuned run (so it has a head and a delta), trained once for the module."""
    from imagegen import make_shapes_folder

    from zoo.train.config import StageConfig
    from zoo.train.stage import run_stage

    root = tmp_path_factory.mktemp("unsafe")
    data = make_shapes_folder(root / "shapes", per_class=6, size=32)
    run_stage(StageConfig(backbone="alexnet-small", weights="none", dataset=f"folder:{data}", image_size=32,
                          epochs=1, batch_size=8, strategy="fine-tuning", out=str(root / "run"),
                          strategy_options={"unfreeze": "1"}), verbose=0, log=lambda m: None)
    return root / "run"


def rerecord(run, name):
    """Record a changed file's new checksum, as an attacker who also edits config.json would."""
    config = json.loads((run / "config.json").read_text())
    config["files"][name] = hashlib.sha256((run / name).read_bytes()).hexdigest()
    (run / "config.json").write_text(json.dumps(config))


def test_a_head_with_a_lambda_layer_is_refused_before_keras_sees_it(trained_run, tmp_path, zoo):
    import keras

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    inputs = keras.Input((256,))
    evil = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 0 + 1, output_shape=(256,))(inputs))
    (run / "head.keras").unlink()
    evil.save(run / "head.keras")
    rerecord(run, "head.keras")
    result = zoo("evaluate", str(run))
    assert result.exit_code == 1, result
    assert result.stderr == (f"zoo: error: {run / 'head.keras'} holds layer class Lambda, which zoo never loads: "
                             "it runs arbitrary code\n")
    assert "safe_mode" not in result.stderr


def test_a_delta_with_a_pickled_array_is_refused_before_numpy_unpickles_it(trained_run, tmp_path, zoo):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    np.savez(run / "backbone.delta.npz", __paths__=np.array(["x"]), v0=np.array([{"evil": 1}], dtype=object))
    rerecord(run, "backbone.delta.npz")
    result = zoo("evaluate", str(run))
    assert result.exit_code == 1, result
    assert result.stderr == (f"zoo: error: {run / 'backbone.delta.npz'} holds a pickled object array ('v0'), which "
                             "zoo never loads: unpickling runs arbitrary code\n")
    assert "allow_pickle" not in result.stderr


def test_a_file_the_config_does_not_record_is_named_for_a_local_run(trained_run, tmp_path, zoo):
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    (run / "notes.txt").write_text("mine")
    result = zoo("evaluate", str(run), "--json")
    assert result.exit_code == 0, result
    assert (f"zoo: warning: {run} holds notes.txt, which its config.json does not record: zoo ignores it, "
            "and no checksum covers it\n") in result.stderr
    assert json.loads(result.stdout)["accuracy"] >= 0


def test_a_truncated_delta_is_one_zoo_error(trained_run, tmp_path):
    from zoo.run.delta import load_delta

    broken = tmp_path / "delta.npz"
    broken.write_bytes((trained_run / "backbone.delta.npz").read_bytes()[:200])
    with pytest.raises(ZooError, match=r"delta\.npz: not a readable \.npz file"):
        load_delta(broken)
