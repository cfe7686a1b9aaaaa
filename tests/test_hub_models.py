"""Trained adapters through the Hub: push, pull, predict; and use without zoo by the card."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hubtools import hub, hub_env  # noqa: E402,F401
from imagegen import make_shapes_folder  # noqa: E402

WEIGHTS_FILE = "resnet50-test.weights.h5"


@pytest.fixture
def alice(hub_env, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_env.tokens["alice"])
    return hub_env


@pytest.fixture
def local_resnet(tmp_path, monkeypatch):
    """ResNet50 weights written here, registered as resnet50's 'local' weights in ./registry.toml."""
    import keras

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    keras.utils.set_random_seed(3)
    keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3),
                                pooling="avg").save_weights(mirror / WEIGHTS_FILE)
    monkeypatch.setenv("ZOO_WEIGHTS_DIR", str(mirror))
    Path("registry.toml").write_text(f'[backbones.resnet50.weights.local]\nfile = "{WEIGHTS_FILE}"\n')
    return mirror / WEIGHTS_FILE


def test_trained_adapter_round_trip_and_plain_keras_use(zoo, alice, local_resnet, tmp_path):
    shapes = make_shapes_folder(tmp_path / "shapes", per_class=12, size=36)
    run = tmp_path / "run"
    trained = zoo("train", "--backbone", "resnet50", "--weights", "local", "--image-size", "32", "--dataset",
                  f"folder:{shapes}", "--epochs", "4", "--batch-size", "12", "--out", str(run))
    assert trained.exit_code == 0, trained
    config = json.loads((run / "config.json").read_text())
    assert "backbone.delta.npz" not in config["files"]  # frozen, refetchable base: only the head travels

    pushed = zoo("push", "--no-full-model", str(run), "alice/shapes-resnet50", "-m", "first")
    assert pushed.exit_code == 0, pushed
    images = sorted(str(p) for p in (shapes / "triangle").glob("*.png"))[:3] + [str(shapes / "circle")]
    local = json.loads(zoo("predict", str(run), *images, "--top-k", "3", "--json").stdout)
    remote = zoo("predict", "hf://alice/shapes-resnet50", *images, "--top-k", "3", "--json")
    assert remote.exit_code == 0, remote
    assert json.loads(remote.stdout) == local  # same files, labels and probabilities

    evaluated = zoo("evaluate", str(run), "--dataset", f"folder:{shapes}", "--split", "train", "--json")
    assert evaluated.exit_code == 0, evaluated
    assert json.loads(evaluated.stdout)["n"] == 30  # the run's own data: split as in training, 6 held out
    # the published config names the data only as folder:shapes, but records how its split was drawn and a
    # fingerprint of the images: the Hub copy recognises this folder and scores the same 30 training images
    remote_eval = zoo("evaluate", "hf://alice/shapes-resnet50", "--dataset", f"folder:{shapes}", "--split", "train",
                      "--json")
    assert remote_eval.exit_code == 0, remote_eval
    assert json.loads(remote_eval.stdout)["n"] == 30
    published = json.loads(zoo("pull", "alice/shapes-resnet50", "--json").stdout)["path"]
    published_text = (Path(published) / "zoo.json").read_text()
    assert str(tmp_path) not in published_text and json.loads(published_text)["training"]["dataset"] == "folder:shapes"

    again = zoo("train", "--from", "hf://alice/shapes-resnet50", "--dataset", f"folder:{shapes}", "--epochs", "1",
                "--batch-size", "12", "--out", str(tmp_path / "child"))
    assert again.exit_code == 0, again
    child = json.loads((tmp_path / "child" / "config.json").read_text())
    assert child["parent"]["ref"] == "hf://alice/shapes-resnet50"
    assert child["backbone"]["weights"]["name"] == "local" and child["backbone"]["input_size"] == 32

    # The pulled card's snippet: plain Keras + huggingface_hub, zoo made unimportable.
    pulled = Path(json.loads(zoo("pull", "alice/shapes-resnet50", "--json").stdout)["path"])
    card = (pulled / "README.md").read_text()
    snippet = re.search(r"```python\n(.*?)```", card, flags=re.S).group(1)
    assert "import zoo" not in snippet and f'backbone.load_weights("{WEIGHTS_FILE}")' in snippet
    probe = textwrap.dedent('''
        import importlib.abc, json, sys
        class NoZoo(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "zoo" or name.startswith(("zoo.", "zoo_")):
                    raise ImportError("zoo is not allowed here")
        sys.meta_path.insert(0, NoZoo())
        exec(open("snippet.py").read())
        import numpy as np
        from PIL import Image
        files = json.loads(sys.argv[1])
        pixels = np.stack([np.asarray(Image.open(f).convert("RGB").resize((32, 32), Image.BILINEAR), "float32")
                           for f in files])
        probs = np.asarray(head(backbone(keras.applications.resnet50.preprocess_input(pixels))))
        assert "zoo" not in sys.modules
        print(json.dumps(probs.tolist()))
    ''')
    work = tmp_path / "plain"
    work.mkdir()
    (work / "snippet.py").write_text(snippet)
    (work / WEIGHTS_FILE).write_bytes(local_resnet.read_bytes())
    files = [row["file"] for row in local]
    plain = subprocess.run([sys.executable, "-c", probe, json.dumps(files)], cwd=work, capture_output=True,
                           text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr[-3000:]
    probs = np.asarray(json.loads(plain.stdout.strip().splitlines()[-1]))
    assert probs.shape == (len(files), 3)
    # the same pixels (PIL-prepared here) through zoo's own model give the same probabilities
    from PIL import Image

    from zoo.run.load import open_run

    pixels = np.stack([np.asarray(Image.open(f).convert("RGB").resize((32, 32), Image.BILINEAR), "float32")
                       for f in files])
    np.testing.assert_allclose(probs, open_run(str(run)).model.predict(pixels, verbose=0), atol=1e-5)
