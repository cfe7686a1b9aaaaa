"""Broken TF Hub modules and caches are one line naming the folder and what to do; what zoo
assumes about a module is shown as an assumption."""

from __future__ import annotations

import json
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_tfhub import export_hub_style  # noqa: E402


@pytest.fixture(scope="module")
def module(tmp_path_factory):
    return export_hub_style(tmp_path_factory.mktemp("hub") / "good")


def broken_copy(module: Path, tmp_path: Path, how: str) -> Path:
    folder = tmp_path / how
    shutil.copytree(module, folder)
    if how == "garbage-pb":
        (folder / "saved_model.pb").write_bytes(b"\x00garbage" * 10)
    elif how == "truncated-variables":
        data = next((folder / "variables").glob("variables.data-*"))
        data.write_bytes(data.read_bytes()[:20])
    elif how == "no-variables":
        shutil.rmtree(folder / "variables")
    return folder


@pytest.mark.parametrize("how,problem", [
    ("garbage-pb", "saved_model.pb is not a readable SavedModel"),
    ("truncated-variables", "a variables file is cut short or damaged"),
    ("no-variables", "its variables/ folder is missing or incomplete"),
])
def test_a_broken_module_is_one_usage_error_naming_its_folder(module, tmp_path, zoo, how, problem):
    folder = broken_copy(module, tmp_path, how)
    result = zoo("train", "--backbone", f"tfhub:{folder}", "--dataset", "digits", "--image-size", "32",
                 "--epochs", "1", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2, result
    lines = [line for line in result.stderr.splitlines() if line.startswith("zoo: error:")]
    assert lines == [f"zoo: error: TF Hub module {folder} at {folder} cannot be loaded: {problem}; replace it with an "
                     "intact TF2 SavedModel"], result.stderr
    assert "experimental_io_device" not in result.stderr and not (tmp_path / "run.partial").exists()


def test_a_broken_cache_entry_says_it_can_be_deleted(module, tmp_path, monkeypatch):
    from zoo_tfhub.handles import hub_cache_dir
    from zoo_tfhub.layer import load_module

    from zoo.errors import UsageError

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    archive = tmp_path / "m.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(module, arcname="m")
    load_module(str(archive))  # unpacks into the cache
    [entry] = [p for p in hub_cache_dir().iterdir() if p.name.startswith("zoo-archive-")]
    (entry / "m" / "saved_model.pb").write_bytes(b"broken")
    with pytest.raises(UsageError) as error:
        load_module(str(archive))
    assert str(error.value).endswith(f"it is a cache entry: delete {entry / 'm'} and zoo fetches or unpacks it again")


def test_an_empty_unpack_folder_is_unpacked_again(module, tmp_path, monkeypatch):
    from zoo_tfhub.handles import hub_cache_dir, resolve
    from zoo_tfhub.layer import load_module

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path / "cache"))
    archive = tmp_path / "m.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(module, arcname="m")
    first = resolve(str(archive))
    shutil.rmtree(first.parent)
    first.parent.mkdir()  # an empty zoo-archive-* folder, as a crash of an older zoo could leave
    assert resolve(str(archive)) == first and (first / "saved_model.pb").is_file()
    assert load_module(str(archive)) is not None
    assert [p.name for p in hub_cache_dir().iterdir()] == [first.parent.name]


def test_info_checks_a_local_folder_and_shows_the_assumed_scaling(module, tmp_path, zoo):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = zoo("info", f"tfhub:{empty}")
    assert result.exit_code == 2
    assert result.stderr == (f"zoo: error: TF Hub handle {empty}: the folder holds no saved_model.pb; point at a "
                             "TF2 SavedModel folder\n")
    shown = json.loads(zoo("info", f"tfhub:{module}", "--json").stdout)["preprocessing"]
    assert shown["mode"] == "unit" and shown["assumed"] is True
    assert "--normalization symmetric ([-1, 1])" in shown["note"]


def test_a_run_records_its_module_digest_and_refuses_a_changed_module(tmp_path, zoo):
    from imagegen import make_shapes_folder

    handle = export_hub_style(tmp_path / "module")
    data = make_shapes_folder(tmp_path / "shapes", per_class=6, size=32)
    run = tmp_path / "run"
    trained = zoo("train", "--backbone", f"tfhub:{handle}", "--dataset", f"folder:{data}", "--image-size", "32",
                  "--epochs", "1", "--out", str(run))
    assert trained.exit_code == 0, trained
    recorded = json.loads((run / "config.json").read_text())["backbone"]["module"]
    assert recorded["handle"] == str(handle) and len(recorded["sha256"]) == 64
    assert zoo("evaluate", str(run)).exit_code == 0

    shutil.rmtree(handle)
    export_hub_style(handle, seed=1)  # same shapes, other weights
    refused = zoo("evaluate", str(run))
    assert refused.exit_code == 2, refused
    line = refused.stderr.strip().splitlines()[-1]
    assert line.startswith(f"zoo: error: TF Hub module {handle} is not the one this run was made with: its files "
                           "have digest ")
    assert f"the run recorded {recorded['sha256']}; restore that module, or train again" in line


@pytest.mark.slow
def test_a_resumed_run_rebuilds_from_the_module_it_started_with(tmp_path):
    """--resume checks the files the run started on (OUT.partial/pins.json): a module that changed
    in between is refused, not silently mixed into the run."""
    import os
    import signal
    import subprocess
    import time

    from imagegen import make_shapes_folder

    handle = export_hub_style(tmp_path / "module")
    data = make_shapes_folder(tmp_path / "shapes", per_class=6, size=32)
    out = tmp_path / "run"
    args = [sys.executable, "-m", "zoo", "train", "--backbone", f"tfhub:{handle}", "--dataset", f"folder:{data}",
            "--image-size", "32", "--epochs", "200", "--out", str(out)]
    env = {**os.environ, "ZOO_CHECKPOINT_INTERVAL": "0"}
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    partial = tmp_path / "run.partial"
    deadline = time.monotonic() + 180
    while not any((partial / "checkpoints").glob("*/state.json")):
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.poll() else ""
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    pinned = json.loads((partial / "pins.json").read_text())["module"]
    assert pinned["handle"] == str(handle)

    shutil.rmtree(handle)
    export_hub_style(handle, seed=2)
    resumed = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 2, resumed.stderr[-2000:]
    assert f"the run recorded {pinned['sha256']}" in resumed.stderr.strip().splitlines()[-1]
    assert partial.is_dir()  # the checkpoints stay for when the module is restored
