"""The full model beside a pushed adapter: plain Keras loads it from the loopback Hub, without zoo.

A fine-tuned run and a domain-adapted one are pushed with `model.keras`; a child process that
never imports zoo downloads it with huggingface_hub (HF_ENDPOINT) and must predict what
`zoo predict hf://...` predicts. zoo's own pulls still fetch and verify the adapter only.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hubtools import hub, hub_env  # noqa: F401 (fixtures)
from imagegen import make_shapes_folder

from zoo.testing import make_image_folder

FAST = ["--backbone", "alexnet-small", "--weights", "none", "--image-size", "32", "--batch-size", "16", "--seed", "1"]

CHILD = r"""
import json, sys
import numpy as np, keras
from huggingface_hub import hf_hub_download
from PIL import Image
repo, commit, out = sys.argv[1], sys.argv[2], sys.argv[3]
model = keras.saving.load_model(hf_hub_download(repo, "model.keras", revision=commit), safe_mode=True)
size = model.input_shape[1]
images = np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size)), dtype="float32") for f in sys.argv[4:]])
np.save(out, model.predict(images, verbose=0))
assert not [m for m in sys.modules if m.split(".")[0].startswith("zoo")], "zoo was imported"
"""
"""The card's recipe: download model.keras, feed RGB pixels in [0, 255] at the input size. The test
images already have that size, so no resize is involved and any difference is the model's."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from click.testing import CliRunner

    from zoo.cli.main import build_cli

    root = tmp_path_factory.mktemp("full-model")
    shapes = make_shapes_folder(root / "shapes", per_class=20, size=32)
    dark = make_image_folder(root / "dark", per_class=20, size=32, seed=5, background=(120, 255))

    def train(*args):
        result = CliRunner().invoke(build_cli(), ["train", *args])
        assert result.exit_code == 0, (result.stdout, result.stderr)

    train(*FAST, "--dataset", f"folder:{shapes}", "--strategy", "fine-tuning", "--unfreeze", "all",
          "--warmup-epochs", "1", "--epochs", "3", "--lr", "0.01", "--out", str(root / "ft"))
    train("--from", str(root / "ft"), "--dataset", f"folder:{shapes}", "--target", f"folder:{dark}", "--strategy",
          "domain-adaptation", "--epochs", "2", "--batch-size", "16", "--out", str(root / "da"))
    return {"shapes": shapes, "ft": root / "ft", "da": root / "da"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ft", "da"])
def test_pushed_full_model_loads_in_plain_keras_with_zoo_predictions(name, runs, zoo, hub_env, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", hub_env.tokens["alice"])
    repo = f"alice/shapes-{name}"
    pushed = zoo("push", str(runs[name]), repo, "--json")
    assert pushed.exit_code == 0, pushed
    result = json.loads(pushed.stdout)
    commit = result["commit"]
    assert result["full_model"]["top1_agreement"] == 1.0 and result["full_model"]["max_prob_diff"] < 1e-4
    tree = hub_env.server.store.git(repo, "ls-tree", "--name-only", commit).split()
    assert {"model.keras", "head.keras", "config.json", "README.md", "curves.png", "confusion.png"} <= set(tree)

    files = sorted(str(p) for p in (runs["shapes"] / "square").glob("*.png"))[:3] + \
        sorted(str(p) for p in (runs["shapes"] / "circle").glob("*.png"))[:3]
    classes = json.loads((runs[name] / "config.json").read_text())["class_names"]
    predicted = zoo("predict", f"hf://{repo}@{commit}", *files, "--top-k", "3", "--json")
    assert predicted.exit_code == 0, predicted
    pulled = Path(json.loads(zoo("pull", f"hf://{repo}@{commit}", "--json").stdout)["path"])
    assert not (pulled / "model.keras").exists(), "zoo pulls the adapter only"
    expected = np.array([[next(p["probability"] for p in row["predictions"] if p["label"] == c) for c in classes]
                         for row in json.loads(predicted.stdout)])

    env = {**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("HF_TOKEN")  # a public repository: nothing but the Hub address is needed
    done = subprocess.run([sys.executable, "-c", CHILD, repo, commit, str(tmp_path / "p.npy"), *files],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    got = np.load(tmp_path / "p.npy")
    assert (np.argmax(got, -1) == np.argmax(expected, -1)).all()
    np.testing.assert_allclose(got, expected, atol=1e-5)

    # the child's download sits in the same HF cache folder zoo pulled into: zoo still accepts it, never reads it
    assert (pulled / "model.keras").exists()
    again = zoo("predict", f"hf://{repo}@{commit}", *files, "--top-k", "3", "--json")
    assert again.exit_code == 0 and again.stdout == predicted.stdout, again


def test_card_of_a_pushed_run_field_by_field(runs, zoo, hub_env, monkeypatch):
    import huggingface_hub.constants as constants
    from huggingface_hub import ModelCard

    monkeypatch.setenv("HF_TOKEN", hub_env.tokens["alice"])
    monkeypatch.setattr(constants, "ENDPOINT", hub_env.url)
    pushed = zoo("push", str(runs["da"]), "alice/shapes-card", "--license", "apache-2.0", "--json")
    assert pushed.exit_code == 0, pushed
    commit = json.loads(pushed.stdout)["commit"]
    store = hub_env.server.store
    files_commit = store.git("alice/shapes-card", "rev-parse", f"{commit}^").strip()
    card = ModelCard(store.git("alice/shapes-card", "show", f"{commit}:README.md"))
    card.validate()  # the Hub's metadata check (tests/hub_server.py answers /api/validate-yaml)
    data = card.data
    assert (data.library_name, data.pipeline_tag, data.license) == ("keras", "image-classification", "apache-2.0")
    assert data.base_model is None  # alexnet-small is not a Hub repository
    assert data.datasets is None  # local folders: no link to a Hub dataset of that name
    metrics = json.loads((runs["da"] / "metrics.json").read_text())
    source, *others = data.eval_results
    assert "target_accuracy" not in metrics and not others  # the target folder has no held-out split to score
    assert (source.dataset_type, source.dataset_split, source.metric_value) == ("shapes", metrics["split"],
                                                                                metrics["accuracy"])
    assert source.dataset_name == f"shapes ({metrics['split']} split, {metrics['n']} images)"
    text = card.text
    assert f"pinned to commit `{files_commit}`" in text
    assert f"zoo predict hf://alice/shapes-card@{files_commit} IMAGES..." in text
    assert f'hf_hub_download("alice/shapes-card", "model.keras", revision="{files_commit}")' in text
    assert "float32 arrays of shape `(32, 32, 3)`" in text and "pixel values in `[0, 255]`" in text
    assert 'method="bilinear", antialias=True' in text
    assert "![Confusion matrix](confusion.png)" in text and "![Loss and accuracy per epoch](curves.png)" in text
    for name, accuracy in metrics["per_class_accuracy"].items():
        assert re.search(rf"^\| {name} \| {accuracy:.4f} \|$", text, flags=re.M), name
    assert re.search(r"loaded in a Python process without zoo and compared with zoo's model on 12 images "
                     r"\(val split of folder:shapes\): top-1 agreement 1.0000", text), text
