"""Loading an adapter runs no code from it and trusts nothing it does not check."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest
from imagegen import make_shapes_folder

from zoo.errors import ConfigError, ZooError
from zoo.run.folder import read_run_folder, record_files


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from click.testing import CliRunner

    from zoo.cli.main import build_cli
    from zoo.plugin.catalog import reset_catalog
    from zoo.plugin.host import reset_host

    reset_host()
    reset_catalog()
    shapes = make_shapes_folder(tmp_path_factory.mktemp("data") / "shapes", per_class=8, size=32)
    out = tmp_path_factory.mktemp("runs") / "run"
    result = CliRunner().invoke(build_cli(), ["train", "--backbone", "alexnet-small", "--weights", "none",
                                              "--image-size", "32", "--dataset", f"folder:{shapes}", "--epochs", "1",
                                              "--out", str(out)])
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return out


def copy_with(run, tmp_path, edit) -> object:
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    config = json.loads((copy / "config.json").read_text())
    edit(copy, config)
    record_files(copy, {k: v for k, v in config.items() if k not in ("files", "schema")})
    return copy


def test_downloaded_adapter_may_not_name_an_ad_hoc_backbone(run, tmp_path):
    from zoo.run.load import load_run

    def adhoc(copy, config):
        config["backbone"]["name"] = "tfhub:https://example.invalid/model.tar.gz"

    adapter = read_run_folder(copy_with(run, tmp_path, adhoc))
    with pytest.raises(ZooError, match="names the ad-hoc backbone 'tfhub:https://example.invalid/model.tar.gz'"):
        load_run(adapter, trusted=False)


def test_head_naming_a_non_keras_class_is_refused(run, tmp_path, zoo):
    def smuggle(copy, config):
        path = copy / "head.keras"
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        head = json.loads(members["config.json"])
        head["config"]["layers"][-1]["module"] = "zoo_tfhub.layer"
        head["config"]["layers"][-1]["registered_name"] = "zoo_tfhub>HubModule"
        members["config.json"] = json.dumps(head).encode()
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, data)

    copy = copy_with(run, tmp_path, smuggle)
    result = zoo("evaluate", str(copy))
    assert result.exit_code == 1
    assert "names the class 'zoo_tfhub>HubModule' from 'zoo_tfhub.layer'" in result.stderr
    assert "refusing to load it" in result.stderr


def test_unlisted_files_are_refused(run, tmp_path, zoo):
    def unlist_delta(copy, config):
        pass

    copy = copy_with(run, tmp_path, unlist_delta)
    config = json.loads((copy / "config.json").read_text())
    del config["files"]["backbone.delta.npz"]
    (copy / "config.json").write_text(json.dumps(config))
    result = zoo("evaluate", str(copy))
    assert result.exit_code == 1 and "backbone.delta.npz is not listed" in result.stderr
    (copy / "backbone.delta.npz").unlink()
    del config["files"]["head.keras"]
    (copy / "config.json").write_text(json.dumps(config))
    result = zoo("evaluate", str(copy))
    assert result.exit_code == 1 and "does not list head.keras" in result.stderr


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(files=["head.keras"]), "'files' must map file names to sha256 digests"),
    (lambda c: c.pop("training"), "'training' must give at least 'dataset'"),
    (lambda c: c["backbone"].update(input_size="32"), "'backbone' must give at least 'name' and an integer"),
    (lambda c: c.update(class_names="cats"), "'class_names' must list at least two class names"),
])
def test_malformed_config_is_one_clear_line(run, tmp_path, zoo, edit, message):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    config = json.loads((copy / "config.json").read_text())
    edit(config)
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=message):
        read_run_folder(copy)
    result = zoo("predict", str(copy), str(copy / "curves.png"))
    assert result.exit_code == 2 and message in result.stderr
