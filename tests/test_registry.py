"""registry.toml: the built-in catalogue, user layers on top, and validation errors."""

import json
import textwrap
from pathlib import Path

import pytest

from zoo.errors import ConfigError
from zoo.registry.layers import BUILTIN_REGISTRY, load_registry

KERAS_BACKBONES = ["vgg16", "vgg19", "resnet50", "resnet101", "resnet152",
                   "resnet50v2", "resnet101v2", "resnet152v2"]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_builtin_registry_has_the_catalogue():
    registry = load_registry([BUILTIN_REGISTRY])
    for name in KERAS_BACKBONES + ["alexnet"]:
        assert name in registry.backbones
    r50 = registry.backbones["resnet50"]
    assert (r50.source, r50.model, r50.preprocessing, r50.feature_dim) == ("keras", "ResNet50", "caffe", 2048)
    assert r50.weights_named("imagenet").file == "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert r50.stage_names == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert dict(registry.backbones["resnet50v2"].stages)["conv5"] == ("conv5_", "post_")


def test_builtin_registry_is_the_packaged_resource():
    # zoo reads the copy inside the package (a symlink to the root file in the source tree,
    # a real file in a wheel: see test_packaging); it must be the importable resource
    from importlib.resources import files

    assert (files("zoo.registry") / "registry.toml").read_text() == BUILTIN_REGISTRY.read_text()
    assert BUILTIN_REGISTRY.parent == Path(__import__("zoo.registry").registry.__file__).parent


def test_layers_apply_in_order_field_by_field(tmp_path, monkeypatch, zoo):
    user = write(tmp_path / "user.toml", """
        [backbones.resnet50]
        input_size = 160
        [backbones.resnet50.weights.imagenet]
        sha256 = "%s"
        [backbones.mine]
        source = "keras"
        model = "MobileNetV2"
        input_size = 128
        feature_dim = 1280
        preprocessing = "tf"
    """ % ("ab" * 32))
    monkeypatch.setenv("ZOO_REGISTRY", str(user))
    write(tmp_path / "work" / "registry.toml", """
        [backbones.resnet50]
        input_size = 192
    """)
    monkeypatch.chdir(tmp_path / "work")
    info = json.loads(zoo("info", "resnet50", "--json").stdout)
    assert info["input_size"] == 192  # ./registry.toml wins over $ZOO_REGISTRY
    assert info["weights"]["imagenet"]["sha256"] == "ab" * 32  # merged, not replaced
    assert info["weights"]["imagenet"]["md5"] == "4d473c1dd8becc155b73f8504c6f6626"
    mine = json.loads(zoo("info", "mine", "--json").stdout)
    assert mine["feature_dim"] == 1280 and mine["origin"] == str(user)


def test_user_config_dir_is_the_default_user_layer(isolated, zoo):
    write(isolated / ".config" / "zoo" / "registry.toml", """
        [backbones.vgg16]
        description = "overridden in the user's config"
    """)
    info = json.loads(zoo("info", "vgg16", "--json").stdout)
    assert info["description"] == "overridden in the user's config"


@pytest.mark.parametrize("body, message", [
    ("""
     [backbones.bad]
     source = "keras"
     model = "VGG16"
     input_size = "big"
     feature_dim = 512
     """, "backbones.bad: field 'input_size': must be an integer >= 1, got 'big'"),
    ("""
     [backbones.bad]
     source = "keras"
     input_size = 224
     feature_dim = 512
     """, "backbones.bad: field 'model': is required"),
    ("""
     [backbones.bad]
     source = "keras"
     model = "VGG16"
     input_size = 224
     feature_dim = 512
     preprocesing = "caffe"
     """, "backbones.bad: field 'preprocesing': unknown field; known fields are"),
    ("""
     [backbones.bad]
     source = "keras"
     model = "VGG16"
     input_size = 224
     feature_dim = 512
     preprocessing = "imagenet"
     """, "backbones.bad: field 'preprocessing': must be one of caffe, torch, tf, unit, none, got 'imagenet'"),
    ("""
     [backbones.resnet50]
     preprocessing_in = "pipeline"
     """, "backbones.resnet50: field 'preprocessing_in': unknown field; known fields are"),  # always in the model
    ("""
     [backbones.resnet50.weights.imagenet]
     sha256 = "nothex"
     """, "backbones.resnet50: field 'weights.imagenet.sha256': must be 64 lowercase hex digits, got 'nothex'"),
    ("""
     [backbones.resnet50]
     min_input_size = 300
     """, "backbones.resnet50: field 'min_input_size': must not exceed input_size (224), got 300"),
    ("""
     [adapters.cats]
     repo = "me/cats"
     revision = "main"
     """, "adapters.cats: field 'revision': must be a full 40-character commit sha, got 'main'"),
    ("""
     [models.x]
     a = 1
     """, "unknown table [models]"),
])
def test_validation_errors_name_file_entry_and_field(tmp_path, monkeypatch, zoo, body, message):
    path = write(tmp_path / "registry.toml", body)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as err:
        load_registry()
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
    result = zoo("list", "backbones")
    assert result.exit_code == 2
    assert result.stderr == f"zoo: error: {err.value}\n"
    assert "Traceback" not in result.stderr


def test_toml_syntax_error_gives_the_line(tmp_path, monkeypatch, zoo):
    write(tmp_path / "registry.toml", """
        [backbones.x]
        source = "keras"
        model = VGG16
    """)
    monkeypatch.chdir(tmp_path)
    result = zoo("info", "resnet50")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"zoo: error: {tmp_path / 'registry.toml'}: invalid registry: ")
    assert "line 4" in result.stderr


def test_registered_adapters_are_listed(tmp_path, monkeypatch, zoo):
    write(tmp_path / "registry.toml", """
        [adapters.cats]
        repo = "me/cats-vs-dogs"
        revision = "%s"
        description = "cats and dogs on resnet50"
    """ % ("0123456789" * 4))
    monkeypatch.chdir(tmp_path)
    rows = json.loads(zoo("list", "adapters", "--json").stdout)
    cats = next(r for r in rows if r["name"] == "cats")
    assert cats["status"] == "registered"
    assert cats["source"] == "hf://me/cats-vs-dogs@" + "0123456789" * 4
    info = json.loads(zoo("info", "cats", "--json").stdout)
    assert info["kind"] == "adapter" and info["repo"] == "me/cats-vs-dogs"


def test_the_builtin_catalogue_is_applied_once_from_a_checkout(tmp_path, monkeypatch):
    """Run from the repository root (or a folder with a copy of it), ./registry.toml is the
    built-in file: it is not applied a second time as the working directory's layer."""
    from zoo.registry.layers import layer_paths

    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "absent.toml"))
    (tmp_path / "registry.toml").write_bytes(BUILTIN_REGISTRY.read_bytes())  # a real copy, as beside a wheel
    monkeypatch.chdir(tmp_path)
    assert layer_paths() == [BUILTIN_REGISTRY, tmp_path / "absent.toml"]
    (tmp_path / "registry.toml").write_text("[backbones.resnet50]\ninput_size = 160\n")
    assert layer_paths()[-1] == tmp_path / "registry.toml"  # an edited one is the user's layer
