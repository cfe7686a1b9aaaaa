"""Pushing adapters to a Hub and pulling them back, against real servers on 127.0.0.1.

Uploads go to tests/hub_server.py (the Hub's write API over git repositories);
downloads are served by olah, a third-party Hub mirror reading those same git
repositories, so every round trip passes through huggingface_hub on both sides and
through third-party server code on the way back.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hubtools import dead_endpoint, file_sums, hub, hub_env, make_adapter, tree_state  # noqa: E402,F401
from weights_http import silent_server  # noqa: E402

SHA = re.compile(r"\b[0-9a-f]{40}\b")


def one_error_line(result, exit_code: int = 1) -> str:
    """The run failed with ``exit_code`` and said so in exactly one line, without a traceback."""
    assert result.exit_code == exit_code, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result
    assert lines[0].startswith("zoo: error: ") and "Traceback" not in result.stderr, result
    return lines[0]


def within(seconds: float, zoo, *args):
    """``zoo(*args)``, failing the test (rather than hanging it) if it runs longer than ``seconds``."""
    import threading

    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(zoo(*args)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert outcome, f"zoo {' '.join(args)} was still running after {seconds} s"
    return outcome[0]


def pushed_commit(result) -> str:
    assert result.exit_code == 0, result
    match = re.search(r"^pushed (\S+)@([0-9a-f]{40})$", result.stdout, flags=re.M)
    assert match, result
    return match.group(2)


@pytest.fixture
def alice(hub_env, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", hub_env.tokens["alice"])
    return hub_env


@pytest.fixture(scope="module")
def adapter_v1(tmp_path_factory):
    return make_adapter(tmp_path_factory.mktemp("runs") / "run-v1", name="pets", seed=1, accuracy=0.875)


@pytest.fixture(scope="module")
def adapter_v2(tmp_path_factory):
    return make_adapter(tmp_path_factory.mktemp("runs") / "run-v2", name="pets", seed=2, accuracy=0.9375)


def head_sha(hub, repo_id: str, revision: str = "main") -> str:
    return hub.server.store.resolve(repo_id, revision)


# -- round trip, card, registry ------------------------------------------------


def test_push_pull_round_trip_with_card(zoo, alice, adapter_v1):
    before = tree_state(adapter_v1)
    pushed = zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-roundtrip")
    commit = pushed_commit(pushed)
    assert f"{alice.url}/alice/pets-roundtrip" in pushed.stdout
    assert head_sha(alice, "alice/pets-roundtrip") == commit
    assert tree_state(adapter_v1) == before, "push must not touch the run folder"
    assert not (adapter_v1 / "README.md").exists()

    pulled = zoo("pull", "hf://alice/pets-roundtrip", "--json")
    assert pulled.exit_code == 0, pulled
    info = json.loads(pulled.stdout)
    path = Path(info["path"])
    assert info["commit"] == commit and path.name == commit
    config = json.loads((adapter_v1 / "config.json").read_text())
    names = list(config["files"])
    assert file_sums(path, names) == file_sums(adapter_v1, names)
    assert sorted(p.name for p in path.iterdir()) == sorted([*names, "zoo.json", "README.md"])  # nothing else
    from zoo.run.hub import shareable_config

    published = json.loads((path / "zoo.json").read_text())  # the record, under its name on the Hub
    assert published == shareable_config(config) and published["training"]["dataset"] == "folder:pets"

    from huggingface_hub import ModelCard

    card = ModelCard.load(path / "README.md")
    assert card.data.library_name == "keras"
    assert {"zoo", "transfer-learning", "image-classification", "resnet50", "feature-extraction"} <= set(card.data.tags)
    assert card.data.datasets is None  # a local folder is not a Hub dataset
    assert [r.dataset_type for r in card.data.eval_results] == ["pets"]  # the local path stays local
    assert "/home/someone" not in card.content
    [result] = card.data.eval_results
    assert (result.metric_type, result.metric_value, result.task_type) == ("accuracy", 0.875, "image-classification")
    assert "![Loss and accuracy per epoch](curves.png)" in card.text
    snippet = re.search(r"```python\n(.*?)```", card.text, flags=re.S).group(1)
    ast.parse(snippet)
    files_commit = card.text.split("pinned to commit `", 1)[1].split("`", 1)[0]  # the commit before the card's own
    assert f'hf_hub_download("alice/pets-roundtrip", "head.keras", revision="{files_commit}")' in snippet
    assert "keras.applications.ResNet50(" in snippet and 'pooling="avg"' in snippet
    assert "keras.applications.resnet.preprocess_input(images)" in snippet
    assert "head(backbone(x))" in snippet

    from zoo.run.hub import resolve_run

    assert resolve_run(f"hf://alice/pets-roundtrip@{commit}") == path
    assert resolve_run(str(adapter_v1)) == adapter_v1


def test_pinned_revision_and_branches(zoo, alice, adapter_v1, adapter_v2):
    first = pushed_commit(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-pinned", "-m", "first"))
    second = pushed_commit(zoo("push", "--no-full-model", str(adapter_v2), "alice/pets-pinned"))
    assert first != second

    def metrics_of(ref):
        pulled = zoo("pull", ref)
        assert pulled.exit_code == 0, pulled
        return json.loads((Path(pulled.stdout.strip()) / "metrics.json").read_text())

    assert metrics_of(f"hf://alice/pets-pinned@{first}")["accuracy"] == 0.875
    assert metrics_of("hf://alice/pets-pinned")["accuracy"] == 0.9375
    assert metrics_of(f"alice/pets-pinned@{first}")["accuracy"] == 0.875  # `zoo pull` takes bare repo ids too

    branch = pushed_commit(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-pinned", "--revision", "experiment"))
    assert head_sha(alice, "alice/pets-pinned", "experiment") == branch
    assert head_sha(alice, "alice/pets-pinned") == second, "pushing to a branch leaves main alone"
    assert metrics_of("hf://alice/pets-pinned@experiment")["accuracy"] == 0.875


def test_register_then_list_and_info(zoo, alice, adapter_v1, adapter_v2):
    registry = Path("registry.toml")
    registry.write_text("# my adapters\n\n[adapters.other]  # kept\nrepo = \"someone/other\"\n"
                        f"revision = \"{'a' * 40}\"\n\n# trailing note\n")
    result = zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-registered", "--register", "pets")
    commit = pushed_commit(result)
    assert "registered adapter 'pets'" in result.stdout
    text = registry.read_text()
    assert text.startswith("# my adapters\n\n[adapters.other]  # kept\n") and "# trailing note" in text
    assert f'[adapters.pets]\nrepo = "alice/pets-registered"\nrevision = "{commit}"\nhub = "hf"\n' in text

    listed = zoo("list", "adapters", "--json")
    assert listed.exit_code == 0, listed
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["pets"]["status"] == "registered" and rows["pets"]["revision"] == commit
    assert "resnet50 + feature-extraction" in rows["pets"]["description"]
    shown = zoo("info", "pets")
    assert shown.exit_code == 0 and f"revision: {commit}" in shown.stdout and "alice/pets-registered" in shown.stdout

    # A newer push does not move the pin; pulling the name fetches the pinned commit.
    pushed_commit(zoo("push", "--no-full-model", str(adapter_v2), "alice/pets-registered"))
    pulled = zoo("pull", "pets", "--json")
    assert pulled.exit_code == 0, pulled
    assert json.loads(pulled.stdout)["commit"] == commit

    assert zoo("pull", "hf://alice/pets-registered").exit_code == 0  # now a second, unregistered revision is cached
    rows = json.loads(zoo("list", "adapters", "--json").stdout)
    cached = [r for r in rows if r["status"] == "cached" and r["repo"] == "alice/pets-registered"]
    assert len(cached) == 1 and cached[0]["revision"] != commit and "[main]" in cached[0]["description"]
    assert not [r for r in rows if r["status"] == "cached" and r["revision"] == commit], "registered one listed once"

    # Other models in the HF cache are not adapters and stay out of the list.
    from huggingface_hub import HfApi, snapshot_download
    from zoo_hf import settings

    api = HfApi(endpoint=alice.url, token=alice.tokens["alice"])
    api.create_repo("alice/some-bert")
    api.upload_file(path_or_fileobj=b'{"model_type": "bert"}', path_in_repo="config.json", repo_id="alice/some-bert")
    snapshot_download("alice/some-bert", endpoint=alice.url, token=alice.tokens["alice"], cache_dir=settings.cache_dir())
    rows = json.loads(zoo("list", "adapters", "--json").stdout)
    assert {r["repo"] for r in rows} == {"alice/pets-registered", "someone/other"}


def test_resolve_run_accepts_registered_names(alice, adapter_v1, zoo):
    commit = pushed_commit(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-resolve", "--register", "pets-resolve"))
    from zoo.plugin.catalog import Catalog
    from zoo.run.hub import resolve_run

    path = resolve_run("pets-resolve", Catalog())
    assert path.name == commit and (path / "head.keras").is_file()


# -- credentials ---------------------------------------------------------------


def test_private_repo_and_tokens_never_leak(zoo, alice, adapter_v1, monkeypatch):
    token = alice.tokens["alice"]
    pushed = zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-private", "--private", "--register", "secret-pets")
    commit = pushed_commit(pushed)
    from huggingface_hub import HfApi

    assert HfApi(endpoint=alice.url, token=token).repo_info("alice/pets-private").private is True

    public = pushed_commit(zoo("push", "--no-full-model", str(adapter_v1), "pets-public"))  # no namespace: the token's user
    line = one_error_line(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-public", "--private"))
    assert "'alice/pets-public' already exists and is public" in line
    assert head_sha(alice, "alice/pets-public") == public
    card = alice.server.store.git("alice/pets-public", "show", f"{public}:README.md")
    assert 'hf_hub_download("alice/pets-public", "head.keras", revision="' in card  # the full repo id, pinned

    monkeypatch.setenv("HF_TOKEN", "hf_wrong_" + "0" * 20)
    wrong = zoo("pull", "hf://alice/pets-private")
    assert "refused the token" in one_error_line(wrong)
    monkeypatch.setenv("HF_TOKEN", alice.tokens["bob"])
    assert "no repository 'alice/pets-private'" in one_error_line(zoo("pull", "hf://alice/pets-private"))
    monkeypatch.delenv("HF_TOKEN")
    assert "no token was sent" in one_error_line(zoo("pull", "hf://alice/pets-private"))

    # The saved login (HF_HOME/token, as `hf auth login` writes it) is used when HF_TOKEN is unset.
    from zoo_hf import settings

    settings.hf_home().mkdir(parents=True, exist_ok=True)
    (settings.hf_home() / "token").write_text(token)
    pulled = zoo("pull", "hf://alice/pets-private")
    assert pulled.exit_code == 0, pulled
    path = Path(pulled.stdout.strip())
    assert path.name == commit

    monkeypatch.setenv("HF_TOKEN", "hf_wrong_" + "0" * 20)  # a cached copy does not hide a refused token
    assert "refused the token" in one_error_line(zoo("pull", "hf://alice/pets-private"))

    seen = [pushed.stdout, pushed.stderr, wrong.stdout, wrong.stderr, pulled.stdout, pulled.stderr,
            (path / "README.md").read_text(), (path / "zoo.json").read_text(), Path("registry.toml").read_text()]
    assert not [text for text in seen if token in text]


def test_push_needs_a_token_and_write_access(zoo, hub_env, adapter_v1, monkeypatch):
    before = tree_state(adapter_v1)
    assert "needs a token" in one_error_line(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-notoken"))
    monkeypatch.setenv("HF_TOKEN", hub_env.tokens["bob"])
    line = one_error_line(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-notoken"))
    assert "refused to let this token push" in line and hub_env.tokens["bob"] not in line
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_real_token_000000")
    assert "refused the token" in one_error_line(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-notoken"))
    assert tree_state(adapter_v1) == before
    assert not hub_env.server.store.exists("alice/pets-notoken")


# -- failures ------------------------------------------------------------------


def test_server_stopped_mid_push(zoo, alice, adapter_v1, adapter_v2, monkeypatch):
    commit = pushed_commit(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-crash"))
    dying = alice.sibling()
    dying.die_on(lambda method, path: method == "POST" and "/commit/" in path)
    monkeypatch.setenv("HF_ENDPOINT", dying.url)
    before = tree_state(adapter_v2)
    line = one_error_line(zoo("push", "--no-full-model", str(adapter_v2), "alice/pets-crash", "--register", "crashed"))
    assert "broke during the push" in line and "RemoteProtocolError" in line
    assert tree_state(adapter_v2) == before
    assert head_sha(alice, "alice/pets-crash") == commit, "nothing was committed"
    assert not Path("registry.toml").exists(), "no registration for a failed push"
    assert dying.stopped.wait(10)  # now nothing listens there at all
    assert "cannot reach the Hub" in one_error_line(zoo("push", "--no-full-model", str(adapter_v2), "alice/pets-crash"))
    dying.stop()


def test_unreachable_unknown_repo_unknown_revision(zoo, alice, adapter_v1, monkeypatch):
    commit = pushed_commit(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-errors"))
    assert "no repository 'alice/no-such-repo'" in one_error_line(zoo("pull", "hf://alice/no-such-repo"))
    assert "has no revision 'nope'" in one_error_line(zoo("pull", "hf://alice/pets-errors@nope"))
    assert "has no revision" in one_error_line(zoo("pull", f"hf://alice/pets-errors@{'0' * 40}"))
    cached = zoo("pull", "hf://alice/pets-errors")
    assert cached.exit_code == 0, cached
    monkeypatch.setenv("HF_ENDPOINT", dead_endpoint())
    line = one_error_line(zoo("pull", "hf://alice/pets-errors@main"))
    assert "cannot reach the Hub at http://127.0.0.1:" in line and "HF_HUB_OFFLINE=1" in line
    pinned = zoo("pull", f"hf://alice/pets-errors@{commit}")  # a cached commit needs no server
    assert pinned.exit_code == 0 and pinned.stdout == cached.stdout, pinned
    before = tree_state(adapter_v1)
    assert "cannot reach the Hub" in one_error_line(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-errors"))
    assert tree_state(adapter_v1) == before


def test_a_pinned_pull_cut_short_is_fetched_again(zoo, alice, adapter_v1):
    commit = pushed_commit(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-cut"))
    first = zoo("pull", f"hf://alice/pets-cut@{commit}")
    assert first.exit_code == 0, first
    snapshot = Path(first.stdout.strip())
    (snapshot / "head.keras").unlink()  # what a download killed before its last file leaves
    again = zoo("pull", f"hf://alice/pets-cut@{commit}")
    assert again.exit_code == 0 and again.stdout == first.stdout, again
    assert file_sums(snapshot, ["head.keras"]) == file_sums(adapter_v1, ["head.keras"])


def test_tampered_adapters_are_refused(zoo, alice, adapter_v1, tmp_path):
    commit = pushed_commit(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-tamper"))
    from huggingface_hub import HfApi

    api = HfApi(endpoint=alice.url, token=alice.tokens["alice"])
    # Someone changes the head on the Hub without updating the checksums.
    api.upload_file(path_or_fileobj=b"not the trained head", path_in_repo="head.keras", repo_id="alice/pets-tamper",
                    commit_message="tamper")
    line = one_error_line(zoo("pull", "hf://alice/pets-tamper"))
    assert "failed verification" in line and "head.keras: sha256 mismatch" in line

    # A good download damaged in the local cache is refused too.
    good = zoo("pull", f"hf://alice/pets-tamper@{commit}")
    assert good.exit_code == 0, good
    blob = (Path(good.stdout.strip()) / "metrics.json").resolve()
    blob.write_text('{"accuracy": 1.0}')
    assert "metrics.json: sha256 mismatch" in one_error_line(zoo("pull", f"hf://alice/pets-tamper@{commit}"))

    # An adapter that lists a file type zoo never loads is refused before anything is used.
    config = json.loads((adapter_v1 / "config.json").read_text())
    config["files"]["setup.py"] = "0" * 64
    api.upload_file(path_or_fileobj=json.dumps(config).encode(), path_in_repo="zoo.json",
                    repo_id="alice/pets-tamper", commit_message="sneak code in")
    api.upload_file(path_or_fileobj=b"print('hi')", path_in_repo="setup.py", repo_id="alice/pets-tamper",
                    commit_message="sneak code in")
    assert "'setup.py', a file type zoo never loads" in one_error_line(zoo("pull", "hf://alice/pets-tamper"))
    assert not list(Path(alice.root).glob("**/setup.py"))  # (stored in git, never fetched)


def test_pulled_adapters_hold_only_recorded_files(zoo, alice, adapter_v1):
    """Every file but config.json and the card must be recorded with a sha256, the head above all."""
    commit = pushed_commit(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-extra"))
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    api = HfApi(endpoint=alice.url, token=alice.tokens["alice"])
    api.upload_file(path_or_fileobj=b'{"labels": "swapped"}', path_in_repo="extra.json", repo_id="alice/pets-extra",
                    commit_message="an unrecorded file of an allowed type")
    line = one_error_line(zoo("pull", "hf://alice/pets-extra"))
    assert line.endswith("carries 'extra.json', which its zoo.json does not record with a sha256; refusing it")

    config = json.loads((alice.server.store.git("alice/pets-extra", "show", f"{commit}:zoo.json")))
    del config["files"]["head.keras"]  # a head that nothing verifies
    api.create_commit("alice/pets-extra", [
        CommitOperationDelete(path_in_repo="extra.json"),
        CommitOperationAdd(path_in_repo="zoo.json", path_or_fileobj=json.dumps(config).encode())],
        commit_message="unrecord the head")
    line = one_error_line(zoo("pull", "hf://alice/pets-extra"))
    assert "its zoo.json records no sha256 for head.keras, so the head cannot be verified" in line

    assert zoo("pull", f"hf://alice/pets-extra@{commit}").exit_code == 0  # the pushed commit itself is fine


def test_pushed_config_has_no_local_paths(zoo, alice, tmp_path):
    local = {"dataset": f"folder:{tmp_path}/data/pets", "weights": str(tmp_path / "weights" / "mine.weights.h5"),
             "from": str(tmp_path / "runs" / "source"), "out": str(tmp_path / "runs" / "pets")}
    run = make_adapter(tmp_path / "runs" / "pets", name="pets", seed=4, dataset=local["dataset"], extra={
        "training": {"target": f"npz:{tmp_path}/target.npz"},
        "parent": {"ref": local["from"], "name": "source"},
        "pipeline": {**local, "backbone": "resnet50", "strategy": {"name": "feature-extraction"}}})
    before = tree_state(run)
    commit = pushed_commit(zoo("push", "--no-full-model", str(run), "alice/pets-paths"))
    assert tree_state(run) == before and str(tmp_path) in (run / "config.json").read_text()  # the run keeps its paths

    text = alice.server.store.git("alice/pets-paths", "show", f"{commit}:zoo.json")
    card = alice.server.store.git("alice/pets-paths", "show", f"{commit}:README.md")
    assert str(tmp_path) not in text and str(tmp_path) not in card
    published = json.loads(text)
    assert published["training"]["dataset"] == "folder:pets" and published["training"]["target"] == "npz:target.npz"
    assert published["parent"] == {"ref": "source", "name": "source"}
    assert published["pipeline"] == {"dataset": "folder:pets", "weights": "mine.weights.h5", "from": "source",
                                     "out": "pets", "backbone": "resnet50",
                                     "strategy": {"name": "feature-extraction"}}
    pulled = zoo("pull", f"hf://alice/pets-paths@{commit}")  # and it is still a valid, verified adapter
    assert pulled.exit_code == 0, pulled


def test_a_silent_hub_fails_within_the_read_timeout(zoo, alice, adapter_v1, monkeypatch):
    """A server that accepts connections and never answers: pull and push give up after ZOO_READ_TIMEOUT."""
    commit = pushed_commit(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-silent"))
    before = tree_state(adapter_v1)
    monkeypatch.setenv("ZOO_READ_TIMEOUT", "1")
    with silent_server() as url:
        monkeypatch.setenv("HF_ENDPOINT", url)
        for command, action, where in [
            (("pull", "hf://alice/pets-silent"), "pull", "'alice/pets-silent'"),
            (("pull", f"hf://alice/pets-silent@{commit}"), "pull", f"'alice/pets-silent' at revision '{commit}'"),
            (("push", "--no-full-model", str(adapter_v1), "alice/pets-silent"), "push", "'alice/pets-silent' at revision 'main'"),
            (("push", "--no-full-model", str(adapter_v1), "alice/new-silent", "--register", "silent"), "push",
             "'alice/new-silent' at revision 'main'"),
        ]:
            start = time.monotonic()
            line = one_error_line(within(60, zoo, *command))
            elapsed = time.monotonic() - start
            assert line == (f"zoo: error: 127.0.0.1 did not answer within 1 s (ZOO_READ_TIMEOUT) during the {action} "
                            f"of {where}; nothing local was changed: try again later, or allow more time with "
                            "ZOO_READ_TIMEOUT"), line
            assert 0.9 < elapsed < 10, (command, elapsed)
    assert tree_state(adapter_v1) == before
    assert not Path("registry.toml").exists()
    assert head_sha(alice, "alice/pets-silent") == commit


def test_pull_of_an_adapter_takes_no_weights_and_no_tensorflow(zoo, alice, adapter_v1):
    line = one_error_line(zoo("pull", "hf://alice/pets-notf", "--weights", "imagenet"), exit_code=2)
    assert "--weights chooses a backbone's weights; 'hf://alice/pets-notf' is an adapter" in line
    commit = pushed_commit(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-notf"))
    for ref in ("hf://alice/pets-notf", f"hf://alice/pets-notf@{commit}"):  # downloaded, then served from the cache
        pulled = subprocess.run([sys.executable, "-X", "importtime", "-m", "zoo", "pull", ref],
                                capture_output=True, text=True, env=dict(os.environ), timeout=300)
        assert pulled.returncode == 0, pulled.stderr[-3000:]
        assert Path(pulled.stdout.strip()).name == commit
        imported = re.findall(r"\|\s+((?:tensorflow|keras)(?:\.\S+)?)\s*$", pulled.stderr, flags=re.M)
        assert not imported, imported[:5]


def test_push_refuses_a_modified_run(zoo, alice, tmp_path):
    run = make_adapter(tmp_path / "run", seed=5)
    (run / "history.csv").write_text("changed\n")
    requests = len(alice.server.requests)
    line = one_error_line(zoo("push", "--no-full-model", str(run), "alice/pets-modified"))
    assert "history.csv: sha256 mismatch" in line
    assert len(alice.server.requests) == requests, "nothing was sent"


def test_offline_pull_is_served_from_the_cache(zoo, zoo_process, alice, adapter_v1):
    commit = pushed_commit(zoo("push", "--no-full-model", str(adapter_v1), "alice/pets-offline"))
    online = zoo("pull", "hf://alice/pets-offline")
    assert online.exit_code == 0, online
    env = {"HF_HUB_OFFLINE": "1", "HF_ENDPOINT": dead_endpoint()}
    for ref in ("hf://alice/pets-offline", f"hf://alice/pets-offline@{commit}"):
        offline = zoo_process("pull", ref, env=env, timeout=120)
        assert offline.returncode == 0, offline.stderr
        assert offline.stdout.strip() == online.stdout.strip()
    missing = zoo_process("pull", "hf://alice/never-pulled", env=env, timeout=120)
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "zoo: error: 'alice/never-pulled' is not in the local Hub cache and HF_HUB_OFFLINE is set; "
        "pull it once while online"]


def test_shareable_config_cuts_local_paths_but_keeps_class_names():
    from zoo.run.hub import shareable_config

    config = {"class_names": ["/x", "~other", "a/b"], "training": {"dataset": "folder:/home/me/data/pets"},
              "parent": {"ref": "/home/me/runs/source"}, "backbone": {"weights": {"file": "w.h5"}}}
    published = shareable_config(config)
    assert published["class_names"] == ["/x", "~other", "a/b"]  # labels, never paths
    assert published["training"]["dataset"] == "folder:pets" and published["parent"]["ref"] == "source"
    assert config["training"]["dataset"] == "folder:/home/me/data/pets"  # the run's own copy unchanged
