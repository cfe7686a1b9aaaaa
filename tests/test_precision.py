"""--precision: mixed-precision training gives a float32 adapter and leaves Keras as it found it."""

from __future__ import annotations

import json

import numpy as np

from zoo.run.folder import read_run_folder

FINE_TUNE = ["train", "--backbone", "alexnet-small", "--weights", "none", "--dataset", "digits", "--image-size", "32",
             "--batch-size", "64", "--strategy", "fine-tuning", "--unfreeze", "all", "--warmup-epochs", "0",
             "--lr", "0.01"]


def test_bfloat16_run_trains_and_saves_a_float32_adapter(zoo, tmp_path):
    import keras

    out = tmp_path / "bf16"
    result = zoo(*FINE_TUNE, "--epochs", "6", "--units", "32", "--precision", "mixed_bfloat16", "--out", str(out))
    assert result.exit_code == 0, result
    assert keras.config.dtype_policy().name == "float32"  # put back after the run

    adapter = read_run_folder(out)
    assert adapter.config["training"]["precision"] == "mixed_bfloat16"
    recorded = adapter.metrics()["accuracy"]
    assert recorded > 0.8, adapter.metrics()

    head = keras.models.load_model(out / "head.keras", compile=False, safe_mode=True)
    assert {layer.dtype_policy.name for layer in head.layers} == {"float32"}
    assert head.get_layer("head_hidden").kernel.dtype == "float32"
    # every float weight; the head's Normalization layer also keeps an integer sample count
    assert all(np.asarray(w).dtype == np.float32 for w in head.get_weights() if np.asarray(w).dtype.kind == "f")
    with np.load(out / "backbone.delta.npz") as delta:
        assert {delta[k].dtype for k in delta.files if k != "__paths__"} == {np.dtype("float32")}

    evaluated = zoo("evaluate", str(out), "--json")  # loads and scores in float32
    assert evaluated.exit_code == 0, evaluated
    again = json.loads(evaluated.stdout)
    assert again["split"] == adapter.metrics()["split"]
    assert abs(again["accuracy"] - recorded) <= 0.02, (again["accuracy"], recorded)


def test_policy_is_restored_when_the_run_fails(zoo, tmp_path):
    import keras

    result = zoo(*FINE_TUNE, "--epochs", "2", "--warmup-epochs", "5", "--precision", "mixed_bfloat16",
                 "--out", str(tmp_path / "bad"))
    assert result.exit_code == 2 and "--warmup-epochs must be between 0 and --epochs" in result.stderr
    assert keras.config.dtype_policy().name == "float32"


def test_float32_copy_computes_in_float32_with_the_same_weights():
    import keras
    from zoo_strategies.heads import make_head

    from zoo.train.precision import float32_copy, precision_policy

    with precision_policy("mixed_bfloat16"):
        head = make_head(16, 3, units=8, dropout=0.1)
    assert head.get_layer("head_hidden").dtype_policy.name == "mixed_bfloat16"
    copy = float32_copy(head)
    assert {layer.dtype_policy.name for layer in copy.layers} == {"float32"}
    for a, b in zip(head.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)
    features = np.random.default_rng(0).normal(size=(5, 16)).astype("float32")
    exact = copy(features).numpy()
    assert exact.dtype == np.float32
    np.testing.assert_allclose(exact, head(features).numpy(), atol=2e-2)  # bf16 rounding only
    assert float32_copy(copy) is copy
    assert keras.config.dtype_policy().name == "float32"


def test_a_stored_head_is_float32_and_carries_no_optimizer_state(tmp_path):
    """An adapter's head.keras: the same whether or not training resumed after the head's last phase."""
    import zipfile

    import h5py
    import keras
    from zoo_strategies.heads import make_head

    from zoo.run.heads import load_head, save_head

    head = make_head(16, 3, units=8, dropout=0.1)
    head.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    head.fit(rng.normal(size=(12, 16)).astype("float32"), np.arange(12) % 3, epochs=2, verbose=0)
    assert head.optimizer.built  # Adam's slots exist and would be saved with the model
    save_head(head, tmp_path / "head.keras")
    with zipfile.ZipFile(tmp_path / "head.keras") as archive:
        archive.extract("model.weights.h5", tmp_path)
    with h5py.File(tmp_path / "model.weights.h5") as weights:
        assert "optimizer" not in weights
    loaded = load_head(tmp_path / "head.keras")
    assert isinstance(loaded, keras.Model) and not loaded.compiled
    for a, b in zip(loaded.get_weights(), head.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_auto_precision_is_chosen_by_the_hardware_and_recorded(zoo, tmp_path):
    """On this CPU (avx512_bf16 where the machine has it) auto means mixed_bfloat16, else float32; the
    run records what was chosen and why."""
    from zoo.train.precision import cpu_flags

    out = tmp_path / "auto"
    result = zoo("train", "--backbone", "alexnet-small", "--weights", "none", "--dataset", "digits", "--epochs", "1",
                 "--precision", "auto", "--out", str(out))
    assert result.exit_code == 0, result
    chosen = json.loads((out / "config.json").read_text())["training"]["precision_chosen"]
    native = {"avx512_bf16", "amx_bf16"} & cpu_flags()
    assert chosen["requested"] == "auto"
    assert chosen["policy"] == ("mixed_bfloat16" if native else "float32")
    assert (sorted(native)[0] in chosen["reason"]) if native else "no native bfloat16" in chosen["reason"]
    assert f"precision: {chosen['policy']} ({chosen['reason']})" in result.stderr
    assert json.loads((out / "config.json").read_text())["training"]["precision"] == chosen["policy"]
