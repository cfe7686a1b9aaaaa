"""The third-party example plugin, installed and removed with `zoo install` / `zoo uninstall`."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from imagegen import make_shapes_folder
from PIL import Image

EXAMPLE = REPO / "examples" / "zoo-example-plugin"


def zoo_cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_install_list_use_uninstall(tmp_path):
    image = tmp_path / "cat.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(image)
    installed = zoo_cli("install", "--no-build-isolation", str(EXAMPLE))
    try:
        assert installed.returncode == 0, installed.stderr
        assert "new plugins: example" in installed.stdout

        plugins = {p["name"]: p for p in json.loads(zoo_cli("plugins", "--json").stdout)}
        assert plugins["example"]["status"] == "ok"
        assert plugins["example"]["distribution"] == "zoo-example-plugin"
        assert plugins["example"]["provides"]["backbones"] == ["mobilenetv2"]

        listed = json.loads(zoo_cli("list", "backbones", "mobilenetv2", "--json").stdout)
        assert [(r["name"], r["plugin"], r["source"]) for r in listed] == [("mobilenetv2", "example", "keras")]

        embedded = zoo_cli("embed", "mobilenetv2", str(image), "--weights", "none", "--image-size", "64")
        assert embedded.returncode == 0, embedded.stderr
        row = json.loads(embedded.stdout.splitlines()[0])
        assert row["image"] == str(image) and len(row["features"]) == 1280
        assert np.isfinite(row["features"]).all() and np.abs(row["features"]).sum() > 0

        # its strategy gets a flag and a TOML key, like the built-in ones
        info = json.loads(zoo_cli("info", "nearest-centroid", "--json").stdout)
        assert info["plugin"] == "example" and info["options"][0]["flag"] == "--temperature"
        assert "--temperature" in zoo_cli("train", "--help").stdout
        shapes = make_shapes_folder(tmp_path / "shapes", per_class=20, size=36)
        common = ["--backbone", "alexnet-small", "--weights", "none", "--image-size", "32",
                  "--dataset", f"folder:{shapes}", "--seed", "2"]
        flagged = zoo_cli("train", *common, "--strategy", "nearest-centroid", "--temperature", "30",
                          "--out", str(tmp_path / "by-flag"))
        assert flagged.returncode == 0, flagged.stderr
        by_flag = json.loads((tmp_path / "by-flag" / "metrics.json").read_text())
        assert by_flag["accuracy"] > 0.9, by_flag
        printed = zoo_cli("train", *common, "--strategy", "nearest-centroid", "--temperature", "30",
                          "--out", str(tmp_path / "by-toml"), "--print-config")
        assert 'name = "nearest-centroid"' in printed.stdout and "temperature = 30.0" in printed.stdout
        (tmp_path / "p.toml").write_text(printed.stdout)
        ran = zoo_cli("run", str(tmp_path / "p.toml"))
        assert ran.returncode == 0, ran.stderr
        by_toml = json.loads((tmp_path / "by-toml" / "metrics.json").read_text())
        assert by_toml == by_flag  # same settings, same seed: the same adapter
        config = json.loads((tmp_path / "by-toml" / "config.json").read_text())
        assert config["strategy"] == {"name": "nearest-centroid", "plugin": "example", "options": {"temperature": 30.0}}

        # the plugin's own test suite, written with zoo.testing, passes against this zoo
        own = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
                             capture_output=True, text=True, timeout=900, cwd=tmp_path)
        assert own.returncode == 0, own.stdout[-3000:] + own.stderr[-2000:]
        assert "\n5 passed" in own.stdout, own.stdout[-500:]
    finally:
        removed = zoo_cli("uninstall", "zoo-example-plugin")
    assert removed.returncode == 0, removed.stderr
    assert "removed plugins: example" in removed.stdout
    assert "mobilenetv2" not in zoo_cli("list", "backbones").stdout


def test_install_failure_is_one_clear_line(zoo):
    result = zoo("install", "--no-index", "/nonexistent/zoo-plugin-path")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "zoo: error: pip install failed with exit status 1; see pip's output above")


@pytest.fixture
def zoo_example(monkeypatch):
    """The example plugin's package, imported from its source folder (not installed, so not auto-loaded)."""
    import importlib.util

    package = EXAMPLE / "zoo_example"
    spec = importlib.util.spec_from_file_location("zoo_example", package / "__init__.py",
                                                  submodule_search_locations=[str(package)])
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "zoo_example", module)
    spec.loader.exec_module(module)
    return module


def test_embed_pairs_every_file_with_its_own_vector(zoo_example, tmp_path):
    """Folders expand to many files: each printed vector must be the one computed from that file."""
    from click.testing import CliRunner

    from zoo.backbone.build import build_backbone
    from zoo.cli.main import build_cli
    from zoo.data.tfdata import load_images
    from zoo.plugin.catalog import get_catalog

    shapes = make_shapes_folder(tmp_path / "shapes", per_class=2, size=36)
    single = tmp_path / "single.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(single)
    cli = build_cli()
    zoo_example.zoo_commands(cli=cli)

    result = CliRunner().invoke(cli, ["embed", "alexnet-small", str(single), str(shapes), "--weights", "none",
                                      "--image-size", "32"])

    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    expected = [str(single)] + sorted(str(p) for p in shapes.rglob("*.png"))
    assert [row["image"] for row in rows] == expected  # 7 files from 2 arguments, in order
    model_inputs = load_images(expected, 32)
    assert len({round(float(x.sum()), 3) for x in model_inputs}) == len(expected)  # all different images
    # with one built model: the vectors of a folder's files are those of each file embedded alone
    built = build_backbone(get_catalog().backbone("alexnet-small"), weights="none", input_size=32)
    one_by_one = [built.model.predict(load_images([path], 32), verbose=0)[0] for path in expected]
    together = dict(zoo_example.embed_images(built, [str(single), str(shapes)]))
    assert list(together) == expected
    for path, vector in zip(expected, one_by_one):
        assert np.allclose(together[path], vector, atol=1e-4), path
    assert not np.allclose(together[expected[1]], together[expected[-1]], atol=1e-4)


def test_embed_refuses_unreadable_files_rather_than_shifting_pairs(zoo_example, tmp_path):
    from zoo.backbone.build import build_backbone
    from zoo.errors import UsageError
    from zoo.plugin.catalog import get_catalog

    shapes = make_shapes_folder(tmp_path / "shapes", per_class=1, size=36)
    (shapes / "circle" / "broken.png").write_bytes(b"not a png")
    built = build_backbone(get_catalog().backbone("alexnet-small"), weights="none", input_size=32)

    with pytest.raises(UsageError, match=r"^1 unreadable image in the images given: .*broken\.png"):
        zoo_example.embed_images(built, [str(shapes)])
