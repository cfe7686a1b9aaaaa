"""Push to and pull from the real Hugging Face Hub. Skipped unless ZOO_HF_LIVE_TOKEN is set.

It creates a private repository under the token's user, pushes an adapter, pulls it
back through the HF cache, compares checksums, and deletes the repository.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hubtools import file_sums, make_adapter  # noqa: E402

from zoo.run.hub import shareable_config

LIVE_TOKEN = os.environ.get("ZOO_HF_LIVE_TOKEN")

pytestmark = [pytest.mark.live, pytest.mark.skipif(not LIVE_TOKEN, reason="set ZOO_HF_LIVE_TOKEN to run against huggingface.co")]


def test_private_push_and_pull_on_the_real_hub(zoo, monkeypatch, tmp_path):
    from huggingface_hub import HfApi

    monkeypatch.setenv("HF_TOKEN", LIVE_TOKEN)
    api = HfApi(endpoint="https://huggingface.co", token=LIVE_TOKEN)
    repo_id = f"{api.whoami()['name']}/zoo-live-test-{secrets.token_hex(4)}"
    run = make_adapter(tmp_path / "run", seed=11)
    try:
        pushed = zoo("push", str(run), repo_id, "--private")
        assert pushed.exit_code == 0, pushed
        assert api.repo_info(repo_id).private is True
        pulled = zoo("pull", f"hf://{repo_id}", "--json")
        assert pulled.exit_code == 0, pulled
        path = Path(json.loads(pulled.stdout)["path"])
        config = json.loads((run / "config.json").read_text())
        assert file_sums(path, config["files"]) == file_sums(run, config["files"])
        assert json.loads((path / "zoo.json").read_text()) == shareable_config(config)  # no local paths
        assert LIVE_TOKEN not in pushed.stdout + pushed.stderr + (path / "README.md").read_text()
    finally:
        api.delete_repo(repo_id, missing_ok=True)
