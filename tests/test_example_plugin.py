"""The third-party example plugin, installed and removed with `zoo install` / `zoo uninstall`."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO

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

        listed = json.loads(zoo_cli("list", "backbones", "mobilenet", "--json").stdout)
        assert [(r["name"], r["plugin"], r["source"]) for r in listed] == [("mobilenetv2", "example", "keras")]

        embedded = zoo_cli("embed", "mobilenetv2", str(image), "--weights", "none", "--image-size", "64")
        assert embedded.returncode == 0, embedded.stderr
        row = json.loads(embedded.stdout.splitlines()[0])
        assert row["image"] == str(image) and len(row["features"]) == 1280
        assert np.isfinite(row["features"]).all() and np.abs(row["features"]).sum() > 0
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
