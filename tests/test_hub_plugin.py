"""Hubs are plugins: a third-party hub works through zoo.run.hub exactly like the built-in `hf`."""

from __future__ import annotations

import hashlib
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hubtools import make_adapter, tree_state  # noqa: E402

from zoo.api import hookimpl
from zoo.errors import UsageError, ZooError
from zoo.plugin.catalog import Catalog
from zoo.plugin.host import PluginHost
from zoo.plugin.specs import HubSpec, PushResult


class ShelfClient:
    """A hub that keeps adapters on a shelf folder ($SHELF_DIR/REPO/COMMIT), commit = content hash."""

    def __init__(self):
        import os

        self.root = Path(os.environ["SHELF_DIR"])

    def push(self, run_dir, repo_id, *, private=False, revision=None, message=None) -> PushResult:
        from zoo.run.folder import read_config
        from zoo.run.hub import publishable_files

        files = publishable_files(read_config(run_dir))
        digest = hashlib.sha1(b"".join((Path(run_dir) / f).read_bytes() for f in files)).hexdigest()
        target = self.root / repo_id / digest
        for rel in files:
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(run_dir) / rel, target / rel)
        (self.root / repo_id / (revision or "main")).with_suffix(".ref").write_text(digest)
        return PushResult(url=f"shelf://{repo_id}", commit=digest, repo_id=repo_id, revision=revision or "main")

    def pull(self, repo_id, *, revision=None) -> Path:
        repo = self.root / repo_id
        ref = repo / f"{revision or 'main'}.ref"
        commit = ref.read_text() if ref.is_file() else revision
        if not commit or not (repo / commit).is_dir():
            raise ZooError(f"the shelf has no {repo_id}@{revision}")
        return repo / commit

    def cached(self):
        return [{"repo": f"{p.parent.parent.name}/{p.parent.name}", "revision": p.name, "description": "on the shelf"}
                for p in sorted(self.root.glob("*/*/*")) if p.is_dir()]


class ShelfPlugin:
    @hookimpl
    def zoo_hubs(self):
        return [HubSpec(name="shelf", scheme="shelf", client="test_hub_plugin:ShelfClient")]


@pytest.fixture
def catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("SHELF_DIR", str(tmp_path / "shelf"))
    host = PluginHost(allowed=set())  # no entry-point plugins at all: not even `hf`
    host.register(ShelfPlugin(), name="shelf-plugin")
    return Catalog(host=host)


def test_a_third_party_hub_pushes_pulls_registers_and_lists(catalog, tmp_path):
    from zoo.plugin.inventory import list_adapters
    from zoo.run.hub import pull_adapter, push_adapter, resolve_run

    run = make_adapter(tmp_path / "run", seed=7)
    before = tree_state(run)
    result = push_adapter(catalog, run, "team/pets", hub_name="shelf", register_as="shelf-pets")
    assert result["hub"] == "shelf" and result["registered_as"] == "shelf-pets"
    assert tree_state(run) == before
    assert 'hub = "shelf"' in Path("registry.toml").read_text()

    pulled = resolve_run(f"shelf://team/pets@{result['commit']}", catalog)
    assert pulled.name == result["commit"] and (pulled / "head.keras").read_bytes() == (run / "head.keras").read_bytes()
    fresh = Catalog(host=catalog.host)  # re-reads ./registry.toml
    assert resolve_run("shelf-pets", fresh) == pulled
    assert pull_adapter(fresh, "team/pets")["path"] == str(pulled)  # the only hub is the default one

    rows = list_adapters(fresh)
    assert [(r["name"], r["status"]) for r in rows] == [("shelf-pets", "registered")]  # the cached copy is the same
    assert rows[0]["source"] == f"shelf://team/pets@{result['commit']}"

    (pulled / "metrics.json").write_text("{}")
    with pytest.raises(ZooError, match="failed verification: .*metrics.json: sha256 mismatch"):
        resolve_run("shelf-pets", fresh)


def test_unknown_hubs_and_schemes_are_usage_errors(catalog, tmp_path):
    from zoo.run.hub import push_adapter, resolve_run

    with pytest.raises(UsageError, match="no hub 'hf'"):
        push_adapter(catalog, make_adapter(tmp_path / "run", seed=8), "team/x", hub_name="hf")
    with pytest.raises(UsageError, match="no hub 'hf'"):
        resolve_run("hf://team/x", catalog)
    with pytest.raises(UsageError, match="not a directory, a registered adapter or a hub reference"):
        resolve_run("no/such/run", catalog)


def test_the_core_reaches_hubs_only_through_their_spec():
    import zoo.run.hub

    source = Path(zoo.run.hub.__file__).read_text()
    assert "zoo_hf" not in source and "huggingface_hub" not in source


def test_pulled_files_must_be_recorded_but_the_card_and_gitattributes(catalog, tmp_path):
    """Any hub: besides config.json, only README.md and .gitattributes may be unrecorded."""
    from zoo.run.hub import push_adapter, resolve_run

    run = make_adapter(tmp_path / "run", seed=9)
    commit = push_adapter(catalog, run, "team/files", hub_name="shelf")["commit"]
    shelf = tmp_path / "shelf" / "team" / "files" / commit
    (shelf / "README.md").write_text("# a card\n")
    (shelf / ".gitattributes").write_text("*.keras filter=lfs\n")
    assert resolve_run(f"shelf://team/files@{commit}", catalog) == shelf

    (shelf / "plots").mkdir()
    (shelf / "plots" / "extra.png").write_bytes((run / "curves.png").read_bytes())
    with pytest.raises(ZooError, match=r"^shelf://team/files@[0-9a-f]{40} carries 'plots/extra.png', which its "
                                       r"config.json does not record with a sha256; refusing it$"):
        resolve_run(f"shelf://team/files@{commit}", catalog)
    (shelf / "plots" / "extra.png").unlink()
    (shelf / ".hidden.json").write_text("{}")  # other hidden files are refused too
    with pytest.raises(ZooError, match="carries '.hidden.json', a file type zoo never loads from a hub"):
        resolve_run(f"shelf://team/files@{commit}", catalog)
