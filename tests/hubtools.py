"""Helpers for tests that publish and fetch adapters: a real adapter directory, hub servers.

``make_adapter`` writes a small but real run folder (a Keras head that loads with
``safe_mode=True``, metrics, history, plots, checksums) for any test that needs one.
The fixtures start the test Hub (``tests/hub_server.py``: our write API, olah behind
it for reads) on 127.0.0.1 once per session; import them into a test module with
``from hubtools import hub, hub_env``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hub_server import HubServer, free_port, start_olah  # noqa: E402


def make_adapter(run_dir: str | os.PathLike, *, name: str = "demo", classes=("cat", "dog", "fish"), seed: int = 0,
                 feature_dim: int = 8, backbone: str = "resnet50", keras_model: str = "ResNet50", input_size: int = 32,
                 strategy: str = "feature-extraction", dataset: str = "folder:/home/someone/pets", delta: bool = False,
                 accuracy: float | None = None, extra: dict | None = None) -> Path:
    """Write a real adapter run folder and return it. Different seeds give different weights.

    ``extra`` adds to the config, table by table (``{"training": {"target": ...}}`` keeps the other keys).
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import numpy as np

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    head = keras.Sequential([keras.Input((feature_dim,), name="features"),
                             keras.layers.Dense(len(classes), activation="softmax", name="probabilities")], name="head")
    head.save(run_dir / "head.keras")
    rng = np.random.default_rng(seed)
    accuracy = float(rng.uniform(0.5, 0.99)) if accuracy is None else accuracy
    per_class = {c: round(float(rng.uniform(0.4, 1.0)), 4) for c in classes}
    (run_dir / "metrics.json").write_text(json.dumps(
        {"accuracy": accuracy, "loss": round(float(rng.uniform(0.1, 1.5)), 4), "per_class_accuracy": per_class, "n": 60}))
    history = [{"phase": "head", "epoch": e, "loss": 1.0 / (e + 1), "accuracy": 0.5 + 0.1 * e,
                "val_loss": 1.1 / (e + 1), "val_accuracy": 0.45 + 0.1 * e} for e in range(3)]
    with open(run_dir / "history.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    _plot_curves(run_dir / "curves.png", history)
    if delta:
        np.savez(run_dir / "backbone.delta.npz", **{"conv5_block3_out/0": rng.normal(size=(4, 4)).astype("float32")})
    config = {
        "name": name,
        "created": "2025-01-01T00:00:00Z",
        "backbone": {"name": backbone, "source": "keras", "model": keras_model, "input_size": input_size, "channels": 3,
                     "preprocessing": "caffe", "feature_dim": feature_dim,
                     "weights": {"name": "imagenet", "file": "resnet50_notop.h5", "sha256": "0" * 64}},
        "strategy": {"name": strategy, "options": {"dropout": 0.2}},
        "training": {"epochs": 3, "batch_size": 16, "lr": 0.001, "seed": seed, "precision": "float32",
                     "dataset": dataset, "target": None},
        "class_names": list(classes),
        "versions": {"zoo": "0.1.0", "keras": keras.__version__, "python": sys.version.split()[0]},
    }
    for key, value in (extra or {}).items():
        both_tables = isinstance(value, dict) and isinstance(config.get(key), dict)
        config[key] = {**config[key], **value} if both_tables else value
    from zoo.run.folder import record_files

    record_files(run_dir, config)
    return run_dir


def _plot_curves(path: Path, history: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5), dpi=50)
    ax.plot([h["loss"] for h in history], label="loss")
    ax.plot([h["val_loss"] for h in history], label="val_loss")
    fig.savefig(path)
    plt.close(fig)


def tree_state(folder: str | os.PathLike) -> dict[str, tuple[str, int]]:
    """Every file under ``folder`` with its sha256 and mtime: equal states mean untouched."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def file_sums(folder: str | os.PathLike, names) -> dict[str, str]:
    return {n: hashlib.sha256((Path(folder) / n).read_bytes()).hexdigest() for n in names}


@dataclass
class TestHub:
    """The running test Hub: its URL, users' tokens, storage, and the server object."""

    __test__ = False  # not a test class

    server: HubServer
    olah_url: str
    root: Path
    tokens: dict[str, str]  # user -> token

    @property
    def url(self) -> str:
        return self.server.url

    def sibling(self) -> HubServer:
        """Another Hub server over the same repositories and olah, on its own port (for killing)."""
        return HubServer(self.root, {t: u for u, t in self.tokens.items()}, self.olah_url).start()


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    """olah (a subprocess) and our Hub server (a thread) on 127.0.0.1, for the whole session."""
    base = tmp_path_factory.mktemp("hub")
    root = base / "repos"
    root.mkdir()
    olah = start_olah(root, base / "olah")
    tokens = {"alice": "hf_alice_" + secrets.token_hex(16), "bob": "hf_bob_" + secrets.token_hex(16)}
    server = HubServer(root, {t: u for u, t in tokens.items()}, olah.url).start()
    try:
        yield TestHub(server=server, olah_url=olah.url, root=root, tokens=tokens)
    finally:
        server.stop()
        olah.stop()


@pytest.fixture
def hub_env(hub, monkeypatch):
    """Point zoo (and huggingface_hub in child processes) at the test Hub; no token set."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN_PATH", "HUGGING_FACE_HUB_TOKEN", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # huggingface_hub fixed its token file path when first imported, i.e. inside some
    # earlier test's HOME; point its own fallback at this test's, like a fresh process.
    import huggingface_hub.constants as constants

    home = Path(os.environ["HF_HOME"])
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    return hub


def dead_endpoint() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"
