"""`zoo push --register` edits ./registry.toml as text: entries replaced or appended, the rest kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo.errors import ConfigError, UsageError
from zoo.registry.edit import set_adapter
from zoo.registry.layers import load_registry

A, B = "a" * 40, "b" * 40


def test_creates_the_file(tmp_path):
    path = set_adapter(tmp_path / "registry.toml", "pets", repo="alice/pets", revision=A, description='say "hi"')
    entry = load_registry([path]).adapters["pets"]
    assert (entry.repo, entry.revision, entry.hub, entry.description) == ("alice/pets", A, "hf", 'say "hi"')
    assert path.read_text().startswith("# zoo registry layer")


def test_replaces_an_entry_and_keeps_everything_else(tmp_path):
    path = tmp_path / "registry.toml"
    original = (
        "# team registry\n"
        "[backbones.tiny]  # our own\nsource = \"keras\"\nmodel = \"MobileNetV2\"\ninput_size = 32\nfeature_dim = 1280\n\n"
        "# the pets adapter\n[adapters.pets]\nrepo = \"alice/old\"\nrevision = \"" + A + "\"\ndescription = \"old\"\n\n"
        "# next one\n[adapters.'other']\nrepo = \"x/y\"\nrevision = \"" + B + "\"\n"
    )
    path.write_text(original)
    set_adapter(path, "pets", repo="alice/new", revision=B)
    text = path.read_text()
    assert text.startswith("# team registry\n[backbones.tiny]  # our own\n")
    assert "# the pets adapter\n[adapters.pets]\nrepo = \"alice/new\"\nrevision = \"" + B + "\"\nhub = \"hf\"\n\n# next one\n" in text
    assert "old" not in text.replace("alice/old", "")
    registry = load_registry([path])
    assert registry.adapters["pets"].repo == "alice/new" and registry.adapters["other"].revision == B
    assert registry.backbones["tiny"].feature_dim == 1280

    set_adapter(path, "other", repo="x/z", revision=A)  # a quoted table name is found and replaced too
    assert load_registry([path]).adapters["other"].repo == "x/z"
    assert path.read_text().count("[adapters.") == 2


def test_appends_to_a_file_without_trailing_newline(tmp_path):
    path = tmp_path / "registry.toml"
    path.write_text("[adapters.first]\nrepo = \"a/b\"\nrevision = \"" + A + "\"")
    set_adapter(path, "second", repo="c/d", revision=B, hub="folder")
    registry = load_registry([path])
    assert sorted(registry.adapters) == ["first", "second"] and registry.adapters["second"].hub == "folder"


def test_refuses_what_it_cannot_edit_safely(tmp_path):
    path = tmp_path / "registry.toml"
    inline = "adapters.pets = { repo = \"a/b\", revision = \"" + A + "\" }\n"
    path.write_text(inline)
    with pytest.raises(ConfigError, match="not written as an \\[adapters.pets\\] table"):
        set_adapter(path, "pets", repo="c/d", revision=B)
    assert path.read_text() == inline

    path.write_text("[adapters.broken\n")
    with pytest.raises(ConfigError, match="invalid registry"):
        set_adapter(path, "pets", repo="c/d", revision=B)
    assert path.read_text() == "[adapters.broken\n"

    with pytest.raises(UsageError, match="not usable"):
        set_adapter(tmp_path / "new.toml", "bad name", repo="c/d", revision=B)
    with pytest.raises(ConfigError, match="full 40-character commit sha"):
        set_adapter(tmp_path / "new.toml", "short", repo="c/d", revision="abc")
    assert not (tmp_path / "new.toml").exists()
    assert not list(Path(tmp_path).glob(".*"))  # no temporary files left behind


def test_validated_on_top_of_the_other_layers(tmp_path, monkeypatch):
    """./registry.toml may override built-in entries field by field: valid only together with the built-in layer."""
    monkeypatch.chdir(tmp_path)
    path = Path("registry.toml")
    path.write_text("[backbones.resnet50]\ninput_size = 160\n")  # incomplete alone, fine as an override
    set_adapter(path, "pets", repo="alice/pets", revision=A)
    registry = load_registry()
    assert registry.adapters["pets"].revision == A and registry.backbones["resnet50"].input_size == 160

    user = tmp_path / "user.toml"
    user.write_text("[adapters.team]\ndescription = \"the repo and revision come from ./registry.toml\"\n")
    monkeypatch.setenv("ZOO_REGISTRY", str(user))
    set_adapter(path, "team", repo="alice/team", revision=B)  # completes the user layer's partial entry
    assert load_registry().adapters["team"].description.startswith("the repo and revision")

    before = path.read_text()
    user.write_text("[backbones.resnet50]\nmin_input_size = 200\n")  # with ./registry.toml's 160: invalid
    with pytest.raises(ConfigError, match=r"backbones.resnet50: field 'min_input_size': must not exceed input_size "
                                          r"\(160\), got 200"):
        set_adapter(path, "other", repo="alice/other", revision=A)
    assert path.read_text() == before
    from zoo.registry.edit import check_registry_file

    with pytest.raises(ConfigError, match="must not exceed input_size"):  # what push checks before uploading
        check_registry_file(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["registry.toml", "user.toml"]  # no temporary files


def test_a_symlinked_registry_is_edited_where_it_points(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "registry.toml").write_text("# the team's registry\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "registry.toml").symlink_to(shared / "registry.toml")
    monkeypatch.chdir(work)
    set_adapter(Path("registry.toml"), "pets", repo="alice/pets", revision=A)
    link = work / "registry.toml"
    assert link.is_symlink() and link.resolve() == shared / "registry.toml"
    assert (shared / "registry.toml").read_text().startswith("# the team's registry\n\n[adapters.pets]\n")
    assert load_registry().adapters["pets"].repo == "alice/pets"
    assert sorted(p.name for p in shared.iterdir()) == ["registry.toml"]
    assert sorted(p.name for p in work.iterdir()) == ["registry.toml"]


def test_temporary_names_are_unique(tmp_path):
    """A leftover (or another writer's) temporary file beside the registry is neither used nor in the way."""
    path = tmp_path / "registry.toml"
    (tmp_path / ".registry.toml.check").mkdir()  # the fixed name earlier versions used
    (tmp_path / ".registry.toml.check" / "x").write_text("busy")
    path.write_text("[adapters.first]\nrepo = \"a/b\"\nrevision = \"" + A + "\"\n")
    mode = 0o640
    path.chmod(mode)
    set_adapter(path, "second", repo="c/d", revision=B)
    assert sorted(load_registry([path]).adapters) == ["first", "second"]
    assert path.stat().st_mode & 0o777 == mode  # the file keeps its permissions
    assert sorted(p.name for p in tmp_path.iterdir()) == [".registry.toml.check", "registry.toml"]
