"""The example plugin checked against zoo's contract with zoo's own test kit (zoo.testing).

Run with the plugin installed: ``pip install -e . && pytest tests``.
"""

import csv
import json
import subprocess
import sys

from zoo import testing


def zoo(*args, **env):
    import os

    done = subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_plugin_loads_alone_without_tensorflow():
    provides = testing.check_plugin("example")
    assert provides == {"backbones": ["mobilenetv2"], "strategies": ["linear-probe", "nearest-centroid"],
                        "datasets": ["csv"], "hubs": ["shelf"], "commands": ["embed"]}


def test_mobilenetv2_builds_with_its_declared_feature_size():
    built = testing.check_backbone("mobilenetv2", input_size=32)
    assert built.feature_dim == 1280


def test_nearest_centroid_trains_verifies_and_reloads(tmp_path):
    result = testing.check_strategy("nearest-centroid", tmp_path, backbone="alexnet-small",
                                    options={"temperature": 30.0}, min_accuracy=0.9)
    assert result.config["plugins"]["strategy"]["distribution"] == "zoo-example-plugin"


def test_linear_probe_trains_every_epoch_through_fit_phase(tmp_path):
    result = testing.check_strategy("linear-probe", tmp_path, backbone="alexnet-small", epochs=3,
                                    options={"l2": 0.0})
    assert result.config["strategy"]["options"] == {"l2": 0.0, "label_smoothing": 0.0}
    with open(result.out / "history.csv") as handle:
        assert [row["phase"] for row in csv.DictReader(handle)] == ["probe"] * 3


def test_csv_dataset_and_shelf_hub_through_the_cli(tmp_path):
    shapes = testing.make_image_folder(tmp_path / "shapes", per_class=12, size=32)
    with open(tmp_path / "data.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "label", "split"])
        for i, path in enumerate(sorted(shapes.rglob("*.png"))):
            writer.writerow([path.relative_to(tmp_path), path.parent.name, "test" if i % 4 == 0 else "train"])
    info = json.loads(zoo("info", f"csv:{tmp_path / 'data.csv'}", "--json"))
    assert info["classes"] == list(testing.SHAPES) and info["examples"] == 36
    zoo("train", "--backbone", "alexnet-small", "--weights", "none", "--strategy", "nearest-centroid",
        "--dataset", f"csv:{tmp_path / 'data.csv'}", "--out", str(tmp_path / "run"))
    local = json.loads(zoo("evaluate", str(tmp_path / "run"), "--json"))
    assert local["split"] == "test"

    shelf = {"ZOO_SHELF": str(tmp_path / "shelf")}
    pushed = json.loads(zoo("push", str(tmp_path / "run"), "me/shapes", "--hub", "shelf", "--json", **shelf))
    shared = json.loads(zoo("evaluate", f"shelf://me/shapes@{pushed['commit']}", "--dataset",
                            f"csv:{tmp_path / 'data.csv'}", "--json", **shelf))
    assert shared["accuracy"] == local["accuracy"] and shared["split"] == "test"
