"""The wheel carries the built-in registry and registers every built-in plugin."""

import subprocess
import sys
import zipfile

import pytest
from conftest import REPO

BUILTINS = {"keras": "zoo_keras", "tfhub": "zoo_tfhub", "strategies": "zoo_strategies",
            "datasets": "zoo_datasets", "hf": "zoo_hf", "demo": "zoo_demo", "kerashub": "zoo_kerashub"}


@pytest.mark.slow
def test_wheel_ships_registry_and_entry_points(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(REPO)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("zoo-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("zoo/registry/registry.toml") == (REPO / "registry.toml").read_bytes()
        info = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        entry_points = archive.read(info).decode()
    for name, module in BUILTINS.items():
        assert f"{name} = {module}" in entry_points
        assert f"{module}/__init__.py" in names
    assert "zoo = zoo.cli:main" in entry_points
    assert not any(n.startswith(("tests/", "benchmarks/", "examples/")) for n in names)
