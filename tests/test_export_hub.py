"""The full model beside a pushed adapter: plain Keras loads it from the loopback Hub, without zoo.

A fine-tuned run and a domain-adapted one are pushed with the full model at the repository's root,
in Keras' folder layout; a child process that never imports zoo runs the card's two snippets,
`keras.saving.load_model("hf://alice/REPO")` (Keras' own hf:// reader, HF_ENDPOINT) and the same files
pinned with snapshot_download, and must predict what `zoo predict hf://...` predicts. zoo's own pulls
still fetch and verify the adapter only; an adapter pushed the old way (the record as the root
config.json, beside a model.keras) still pulls, verifies and loads.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hubtools import dead_endpoint, hub, hub_env  # noqa: F401 (fixtures)
from imagegen import make_shapes_folder

from zoo.testing import make_image_folder

FAST = ["--backbone", "alexnet-small", "--weights", "none", "--image-size", "32", "--batch-size", "16", "--seed", "1"]
KERAS_FILES = ("config.json", "metadata.json", "model.weights.h5")

CHILD = r"""
import importlib.abc, json, sys
class NoZoo(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0].startswith("zoo"):
            raise ImportError(f"{name}: this process runs without zoo")
sys.meta_path.insert(0, NoZoo())
import numpy as np
from PIL import Image
out, files, snippets = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
got = []
for snippet in snippets:
    scope = {}
    exec(open(snippet).read(), scope)  # the card's code as it stands, loading `model`
    model = scope["model"]
    size = model.input_shape[1]
    images = np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size)), dtype="float32") for f in files])
    got.append(model.predict(images, verbose=0))
np.save(out, np.stack(got))
assert not [m for m in sys.modules if m.split(".")[0].startswith("zoo")], "zoo was imported"
"""
"""Runs the card's snippets, then feeds RGB pixels in [0, 255] at the input size. The test images already
have that size, so no resize is involved and any difference is the model's."""


def probabilities(result, classes) -> np.ndarray:
    """`zoo predict --json` as an (images, classes) array in the run's class order."""
    assert result.exit_code == 0, result
    return np.array([[next(p["probability"] for p in row["predictions"] if p["label"] == c) for c in classes]
                     for row in json.loads(result.stdout)])


def some_images(shapes: Path) -> list[str]:
    return sorted(str(p) for p in (shapes / "square").glob("*.png"))[:3] + \
        sorted(str(p) for p in (shapes / "circle").glob("*.png"))[:3]


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
    store = hub_env.server.store
    tree = set(store.git(repo, "ls-tree", "--name-only", commit).split())
    assert {*KERAS_FILES, "zoo.json", "head.keras", "README.md", "curves.png", "confusion.png"} <= tree
    assert "model.keras" not in tree  # the folder layout serves both loads: one copy of the weights
    assert json.loads(store.git(repo, "show", f"{commit}:zoo.json"))["schema"] == "zoo.adapter/1"
    assert json.loads(store.git(repo, "show", f"{commit}:config.json"))["class_name"] == "Functional"  # Keras' own

    files = some_images(runs["shapes"])
    classes = json.loads((runs[name] / "config.json").read_text())["class_names"]
    predicted = zoo("predict", f"hf://{repo}@{commit}", *files, "--top-k", "3", "--json")
    expected = probabilities(predicted, classes)
    pulled = Path(json.loads(zoo("pull", f"hf://{repo}@{commit}", "--json").stdout)["path"])
    assert not [f for f in (*KERAS_FILES, "model.keras") if (pulled / f).exists()], "zoo pulls the adapter only"

    card = store.git(repo, "show", f"{commit}:README.md")
    files_commit = store.git(repo, "rev-parse", f"{commit}^").strip()
    literal, pinned = re.findall(r"```python\n(.*?)```", card, flags=re.S)[:2]
    assert f'model = keras.saving.load_model("hf://{repo}")' in literal
    assert f'snapshot_download("{repo}", revision="{files_commit}", allow_patterns=' in pinned
    (tmp_path / "literal.py").write_text(literal)
    (tmp_path / "pinned.py").write_text(pinned)
    env = {**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("HF_TOKEN")  # a public repository: nothing but the Hub address (HF_ENDPOINT) is needed
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "p.npy"), json.dumps(files),
                           str(tmp_path / "literal.py"), str(tmp_path / "pinned.py")],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    for got in np.load(tmp_path / "p.npy"):  # hf:// (main, at this commit) and the pinned files
        assert (np.argmax(got, -1) == np.argmax(expected, -1)).all()
        np.testing.assert_allclose(got, expected, atol=1e-5)

    # Keras' downloads sit in the same HF cache folder zoo pulled into, Keras' config.json beside zoo.json:
    # zoo still accepts the folder, reads zoo.json, and never reads the Keras files
    assert all((pulled / f).exists() for f in KERAS_FILES)
    again = zoo("predict", f"hf://{repo}@{commit}", *files, "--top-k", "3", "--json")
    assert again.exit_code == 0 and again.stdout == predicted.stdout, again
    listed = [r for r in json.loads(zoo("list", "adapters", "--json").stdout) if r.get("repo") == repo]
    assert [(r["status"], r["revision"]) for r in listed] == [("cached", commit)], listed


def test_an_adapter_pushed_the_old_way_still_pulls_verifies_and_loads(runs, zoo, hub_env, monkeypatch):
    """Before zoo.json, the record was the root config.json and the full model a model.keras beside it."""
    from huggingface_hub import CommitOperationAdd, HfApi

    from zoo.run.hub import shareable_config

    run, repo = runs["ft"], "alice/shapes-old-layout"
    config = json.loads((run / "config.json").read_text())
    api = HfApi(endpoint=hub_env.url, token=hub_env.tokens["alice"])
    api.create_repo(repo)
    operations = [CommitOperationAdd(path_in_repo="config.json",
                                     path_or_fileobj=json.dumps(shareable_config(config), indent=2).encode()),
                  CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=b"# pushed by an older zoo\n"),
                  CommitOperationAdd(path_in_repo="model.keras", path_or_fileobj=str(run / "head.keras"))]
    operations += [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(run / rel)) for rel in config["files"]]
    commit = api.create_commit(repo, operations, commit_message="Upload zoo adapter (old layout)").oid

    pulled = zoo("pull", f"hf://{repo}", "--json")
    assert pulled.exit_code == 0, pulled
    path = Path(json.loads(pulled.stdout)["path"])
    assert path.name == commit
    assert sorted(p.name for p in path.iterdir()) == sorted([*config["files"], "config.json", "README.md"])
    monkeypatch.setenv("HF_ENDPOINT", dead_endpoint())  # its cached commit is served with no server, as before
    cached = zoo("pull", f"hf://{repo}@{commit}")
    assert cached.exit_code == 0 and Path(cached.stdout.strip()) == path, cached
    monkeypatch.setenv("HF_ENDPOINT", hub_env.url)
    files = some_images(runs["shapes"])
    local = probabilities(zoo("predict", str(run), *files, "--top-k", "3", "--json"), config["class_names"])
    remote = probabilities(zoo("predict", f"hf://{repo}@{commit}", *files, "--top-k", "3", "--json"),
                           config["class_names"])
    np.testing.assert_allclose(remote, local, atol=1e-6)
    listed = [r for r in json.loads(zoo("list", "adapters", "--json").stdout) if r.get("repo") == repo]
    assert [r["revision"] for r in listed] == [commit] and "alexnet-small + fine-tuning" in listed[0]["description"]

    # its record is still checked like any other: a changed head is refused
    api.upload_file(path_or_fileobj=b"not the trained head", path_in_repo="head.keras", repo_id=repo)
    refused = zoo("pull", f"hf://{repo}")
    assert refused.exit_code == 1 and "head.keras: sha256 mismatch" in refused.stderr, refused

    # the next push by this zoo replaces the old layout: no root config.json or model.keras is left behind
    monkeypatch.setenv("HF_TOKEN", hub_env.tokens["alice"])
    pushed = zoo("push", "--no-full-model", str(run), repo, "--json")
    assert pushed.exit_code == 0, pushed
    tree = hub_env.server.store.git(repo, "ls-tree", "--name-only", json.loads(pushed.stdout)["commit"]).split()
    assert sorted(tree) == sorted([*config["files"], "zoo.json", "README.md", ".gitattributes"]), tree
    assert zoo("pull", f"hf://{repo}").exit_code == 0


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
    assert 'model = keras.saving.load_model("hf://alice/shapes-card")' in text  # as Keras reads hf://: no revision
    assert (f'folder = snapshot_download("alice/shapes-card", revision="{files_commit}", '
            'allow_patterns=["config.json", "metadata.json", "model.weights.h5"])') in text
    assert "model = keras.saving.load_model(folder, safe_mode=True)" in text
    assert "`zoo.json`, zoo's record of the run, holds these checksums" in text
    for snippet in re.findall(r"```python\n(.*?)```", text, flags=re.S):
        ast.parse(snippet)
    assert "float32 arrays of shape `(32, 32, 3)`" in text and "pixel values in `[0, 255]`" in text
    assert 'method="bilinear", antialias=True' in text
    assert "![Confusion matrix](confusion.png)" in text and "![Loss and accuracy per epoch](curves.png)" in text
    for name, accuracy in metrics["per_class_accuracy"].items():
        assert re.search(rf"^\| {name} \| {accuracy:.4f} \|$", text, flags=re.M), name
    assert re.search(r"loaded in a Python process without zoo and compared with zoo's model on 12 images "
                     r"\(val split of folder:shapes\): top-1 agreement 1.0000", text), text
