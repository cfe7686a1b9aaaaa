"""timm and transformers checkpoints on the (loopback) Hub, converted by KerasHub through zoo.

The repositories are written here in exactly the layout timm and transformers publish
(see ``kerashubtools``), committed to the test Hub and fetched with ``hf://OWNER/REPO``;
a known weight must end up in the Keras variable KerasHub's converter maps it to.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from hubtools import hub, hub_env  # noqa: F401 (fixtures)
from kerashubtools import publish, write_timm_resnet18, write_transformers_vit

pytest.importorskip("keras_hub")

from zoo.backbone.build import build_backbone, stage_layers  # noqa: E402
from zoo.plugin.catalog import get_catalog  # noqa: E402


@pytest.fixture(scope="module")
def timm_repo(hub, tmp_path_factory):
    folder = tmp_path_factory.mktemp("timm") / "resnet18"
    state = write_timm_resnet18(folder, seed=3)
    return "alice/resnet18.test_in1k", publish(hub, "alice/resnet18.test_in1k", folder), state, folder


@pytest.fixture(scope="module")
def vit_repo(hub, tmp_path_factory):
    folder = tmp_path_factory.mktemp("vit") / "vit"
    state = write_transformers_vit(folder, seed=4)
    return "alice/vit-tiny-test", publish(hub, "alice/vit-tiny-test", folder), state, folder


def variable(model, path: str) -> np.ndarray:
    found = [v for v in model.weights if v.path == path]
    assert found, f"no variable {path}; have {[v.path for v in model.weights][:20]}..."
    return np.asarray(found[0].numpy())


def test_timm_resnet_converts_with_its_weights(hub_env, timm_repo):
    repo, sha, state, folder = timm_repo
    spec = get_catalog().backbone(f"kerashub:hf://{repo}")
    built = build_backbone(spec, input_size=64)
    assert built.feature_dim == 512 and built.input_size == 64
    assert built.spec.preprocessing == "torch"  # pretrained_cfg's ImageNet mean and std
    assert built.spec.stage_names == ["stem", "stack0", "stack1", "stack2", "stack3"]
    assert built.spec.hub_revision == sha and built.spec.base_model == repo and built.spec.license == "apache-2.0"
    # timm's OIHW kernel lands, as HWIO, in KerasHub's layer for block 1 of the last stack
    np.testing.assert_array_equal(variable(built.model, "stack3_block1_2_conv/kernel"),
                                  np.transpose(state["layer4.1.conv2.weight"], (2, 3, 1, 0)))
    np.testing.assert_array_equal(variable(built.model, "conv1_bn/moving_variance"), state["bn1.running_var"])
    assert {layer.name for layer in stage_layers(built, ["stack3"])} >= {"stack3_block1_2_conv"}
    files = built.provenance["hub"]["files"]
    assert built.provenance["hub"]["revision"] == sha and set(files) == {"config.json", "model.safetensors", "README.md"}
    assert files["model.safetensors"] == hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()


def test_transformers_vit_converts_with_its_weights(hub_env, vit_repo):
    repo, sha, state, _ = vit_repo
    built = build_backbone(get_catalog().backbone(f"kerashub:hf://{repo}@{sha}"))
    assert (built.feature_dim, built.input_size, built.spec.fixed_size) == (16, 32, True)
    assert built.spec.preprocessing == "tf"  # preprocessor_config.json: mean = std = 0.5
    assert built.spec.stage_names == ["embed", "block1", "block2"]
    np.testing.assert_array_equal(variable(built.model, "vit_encoder/transformer_block_2/mlp/dense_1/kernel"),
                                  state["vit.encoder.layer.1.intermediate.dense.weight"].T)
    np.testing.assert_array_equal(variable(built.model, "vit_patching_and_embedding/class_token"),
                                  state["vit.embeddings.cls_token"])
    # the pickle beside the safetensors file was never fetched
    assert "pytorch_model.bin" not in built.provenance["hub"]["files"]
    snapshot = next(Path(hub_env_cache()).glob("models--alice--vit-tiny-test/snapshots/*"))
    assert not (snapshot / "pytorch_model.bin").exists()
    # features: the class token of the final LayerNorm's output, for raw [0, 255] pixels
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    features = built.model.predict(pixels, verbose=0)
    import keras_hub

    backbone = keras_hub.models.Backbone.from_preset(str(snapshot))
    np.testing.assert_allclose(features, backbone.predict(pixels / 127.5 - 1, verbose=0)[:, 0], atol=1e-5)


def hub_env_cache() -> str:
    import os

    return os.path.join(os.environ["HF_HOME"], "hub")


def test_a_vit_takes_only_its_own_size_and_needs_its_pixel_scaling(hub_env, vit_repo, tmp_path, zoo):
    repo, sha, _, folder = vit_repo
    Path("registry.toml").write_text(  # an entry that forgot fixed_size: the preset's files still say so
        f'[backbones.tiny-vit]\nsource = "kerashub"\nmodel = "hf://{repo}"\nhub_revision = "{sha}"\n'
        'input_size = 32\nfeature_dim = 16\npreprocessing = "tf"\ndefault_weights = "builtin"\n')
    from zoo.errors import UsageError
    from zoo.plugin.catalog import reset_catalog

    reset_catalog()
    with pytest.raises(UsageError, match="takes only 32 px images .* use --image-size 32"):
        build_backbone(get_catalog().backbone("tiny-vit"), input_size=48)
    bare = tmp_path / "no-preprocessor"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((folder / name).read_bytes())
    publish(hub_env, "alice/vit-no-preprocessor", bare)
    out = tmp_path / "never"
    result = zoo("train", "--backbone", "kerashub:hf://alice/vit-no-preprocessor", "--dataset", "digits",
                 "--out", str(out))
    assert result.exit_code == 2 and "has no preprocessor_config.json" in result.stderr, result
    assert len(result.stderr.strip().splitlines()) == 1 and not out.with_name("never.partial").exists()


def test_a_file_that_is_not_the_pinned_one_is_refused_and_not_cached(hub_env, timm_repo, zoo, tmp_path):
    repo, sha, _, folder = timm_repo
    Path("registry.toml").write_text(
        f'[backbones.pinned-resnet18]\nsource = "kerashub"\nmodel = "hf://{repo}"\nhub_revision = "{sha}"\n'
        f'input_size = 64\nfeature_dim = 512\npreprocessing = "torch"\ndefault_weights = "builtin"\n'
        f'[backbones.pinned-resnet18.hub_files]\n"model.safetensors" = "{"0" * 64}"\n')
    result = zoo("pull", "pinned-resnet18")
    assert result.exit_code == 1, result
    assert "model.safetensors has sha256" in result.stderr and "pinned 000000000000" in result.stderr
    assert "the file is not kept in the cache" in result.stderr
    good = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    cached = {hashlib.sha256(p.read_bytes()).hexdigest() for p in Path(hub_env_cache()).rglob("blobs/*")}
    assert good not in cached  # the refused weights are gone from the HF cache
    out = tmp_path / "never"
    trained = zoo("train", "--backbone", "pinned-resnet18", "--dataset", "digits", "--out", str(out))
    assert trained.exit_code == 1 and "refused" in trained.stderr
    assert not out.exists() and not out.with_name("never.partial").exists()


def test_pull_fetches_into_the_hf_cache_and_offline_builds_from_it(hub_env, timm_repo, zoo, monkeypatch):
    repo, sha, _, _ = timm_repo
    pulled = zoo("pull", f"kerashub:hf://{repo}", "--json")
    assert pulled.exit_code == 0, pulled
    record = json.loads(pulled.stdout)
    assert record["revision"] == sha and record["repo"] == repo
    assert Path(record["path"]).is_relative_to(Path(hub_env_cache()))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: only the cache can answer
    info = zoo("info", f"kerashub:hf://{repo}", "--json")
    assert info.exit_code == 0 and json.loads(info.stdout)["input_size"] == 224
    built = build_backbone(get_catalog().backbone(f"kerashub:hf://{repo}"), input_size=32)
    assert built.provenance["hub"]["revision"] == sha
    missing = zoo("pull", "kerashub:hf://alice/not-cached")
    assert missing.exit_code == 1 and "HF_HUB_OFFLINE" in missing.stderr and "zoo pull" in missing.stderr


def test_a_catalogue_entry_is_pulled_only_at_its_pinned_commit(hub_env, zoo, tmp_path, monkeypatch):
    """``zoo pull timm-resnet50-a1`` asks for the registry's commit: a Hub whose repo holds other
    commits is refused; re-pinned in a user's layer, the entry pulls and then loads offline."""
    folder = tmp_path / "impostor"
    write_timm_resnet18(folder, seed=5)
    sha = publish(hub_env, "timm/resnet50.a1_in1k", folder)
    refused = zoo("pull", "timm-resnet50-a1")
    assert refused.exit_code == 2, refused
    assert f"has no revision '{get_catalog().backbone('timm-resnet50-a1').hub_revision}'" in refused.stderr
    weights = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    Path("registry.toml").write_text(f'[backbones.timm-resnet50-a1]\nhub_revision = "{sha}"\nfeature_dim = 512\n'
                                     f'[backbones.timm-resnet50-a1.hub_files]\n"model.safetensors" = "{weights}"\n')
    pulled = zoo("pull", "timm-resnet50-a1", "--json")
    assert pulled.exit_code == 0, pulled
    assert json.loads(pulled.stdout)["revision"] == sha
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: only the cache can answer
    from zoo.plugin.catalog import reset_catalog

    reset_catalog()
    built = build_backbone(get_catalog().backbone("timm-resnet50-a1"), input_size=32)
    assert built.feature_dim == 512 and built.provenance["hub"]["revision"] == sha


def test_fine_tuning_a_vit_block_leaves_the_rest_frozen(hub_env, vit_repo, zoo, tmp_path):
    from imagegen import make_shapes_folder

    from zoo.run.folder import read_run_folder

    repo, sha, state, _ = vit_repo
    shapes = make_shapes_folder(tmp_path / "shapes", per_class=8, size=32)
    out = tmp_path / "vit"
    result = zoo("train", "--backbone", f"kerashub:hf://{repo}", "--strategy", "fine-tuning", "--unfreeze", "1",
                 "--warmup-epochs", "1", "--epochs", "2", "--batch-size", "8", "--dataset", f"folder:{shapes}",
                 "--out", str(out))
    assert result.exit_code == 0, result
    assert read_run_folder(out).config["backbone"]["hub"]["revision"] == sha
    with np.load(out / "backbone.delta.npz") as delta:
        changed = {str(p) for p in delta["__paths__"]}
    # the last block and the final LayerNorm trained; the class token (a weight of the
    # embedding layer itself, not of a sub-layer) and the first block did not
    assert any(p.startswith("vit_encoder/transformer_block_2/") for p in changed), changed
    assert "vit_encoder/ln/gamma" in changed
    assert not any("transformer_block_1/" in p or p.startswith("vit_patching_and_embedding") for p in changed), changed
