"""The catalogue verbs of the CLI, with and without --json, and their errors."""

import json
import sys

import pytest

from zoo import __version__


def test_version_and_help(zoo):
    assert zoo("--version").stdout.strip() == f"zoo, version {__version__}"
    result = zoo("--help")
    assert result.exit_code == 0
    for command in ("plugins", "install", "uninstall", "list", "info", "pull", "push"):
        assert f"\n  {command} " in result.stdout


def test_plugins_table(zoo):
    result = zoo("plugins")
    assert result.exit_code == 0
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "VERSION", "STATUS", "PROVIDES"]
    by_name = {row.split()[0]: row for row in rows}
    assert "backbone_sources: keras, alexnet" in by_name["keras"]
    assert " ok " in by_name["hf"]


@pytest.mark.parametrize("kind, expected", [
    ("backbones", {"resnet50", "vgg16", "alexnet", "tfhub-resnet50v2"}),
    ("strategies", {"feature-extraction", "fine-tuning", "domain-adaptation"}),
    ("datasets", {"folder", "npz", "tfds", "digits", "digits-m"}),
])
def test_list_json_has_name_plugin_source(zoo, kind, expected):
    result = zoo("list", kind, "--json")
    assert result.exit_code == 0, result
    rows = json.loads(result.stdout)
    assert expected <= {r["name"] for r in rows}
    for row in rows:
        assert row["name"] and row["plugin"] and row["source"]


def test_list_table_and_pattern(zoo):
    result = zoo("list", "backbones", "resnet*v2")
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert names == ["resnet101v2", "resnet152v2", "resnet50v2"]
    assert zoo("list", "backbones", "vgg").stdout.count("\nvgg") == 2
    assert zoo("list", "datasets", "digits", "--json").stdout.count('"name"') == 2
    assert zoo("list", "backbones", "nothing-like-this").stdout.strip() == "no backbones matching 'nothing-like-this'"


def test_list_accepts_singular_and_rejects_unknown_kinds(zoo):
    assert zoo("list", "strategy").exit_code == 0
    result = zoo("list", "backbonez")
    assert result.exit_code == 2
    assert result.stderr == "zoo: error: no kind 'backbonez'; did you mean backbones?\n"


def test_info_backbone(zoo):
    data = json.loads(zoo("info", "resnet50", "--json").stdout)
    assert data["kind"] == "backbone"
    assert data["input_size"] == 224 and data["min_input_size"] == 32 and data["fixed_size"] is False
    assert data["preprocessing"] == {"mode": "caffe", "applied_in": "model"}
    assert data["feature_dim"] == 2048
    assert list(data["stages"]) == ["conv1", "conv2", "conv3", "conv4", "conv5"]
    assert data["weights"]["imagenet"]["cached"] is False
    text = zoo("info", "resnet50").stdout
    assert "feature_dim: 2048" in text and "source: keras" in text


def test_info_strategy_lists_its_options(zoo):
    data = json.loads(zoo("info", "fine-tuning", "--json").stdout)
    assert data["kind"] == "strategy"
    flags = {o["flag"] for o in data["options"]}
    assert {"--unfreeze", "--fine-tune-lr"} <= flags


@pytest.mark.parametrize("args, message", [
    (["info", "resnt50"], "zoo: error: nothing named 'resnt50'; did you mean resnet50?"),
    (["info", "zzzzzz"], "zoo: error: nothing named 'zzzzzz'; see `zoo list backbones|strategies|datasets|adapters`"),
    (["pull", "resnt50"], None),
])
def test_unknown_names_exit_2_with_suggestions(zoo, args, message):
    result = zoo(*args)
    assert result.exit_code == 2, result
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr + result.stdout
    if message:
        assert result.stderr.strip() == message


def test_catalog_lookup_suggests_close_names():
    from zoo.errors import UsageError
    from zoo.plugin.catalog import Catalog

    with pytest.raises(UsageError) as err:
        Catalog().backbone("resnt50")
    assert str(err.value) == "no backbone 'resnt50'; did you mean resnet50?"
    with pytest.raises(UsageError) as err:
        Catalog().strategy("fine-tune")
    assert str(err.value).startswith("no strategy 'fine-tune'; did you mean fine-tuning")
    with pytest.raises(UsageError) as err:
        Catalog().dataset("folder")
    assert str(err.value) == "dataset 'folder' needs its PATH: write folder:PATH"


def test_debug_shows_the_traceback(zoo_process):
    plain = zoo_process("info", "resnt50")
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    debug = zoo_process("--debug", "info", "resnt50")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def run_without_tensorflow(*commands: list[str]):
    """Run each ``zoo`` command in one fresh interpreter; fails if any exits non-zero or
    imports TensorFlow or Keras. Returns the finished process (its stdout is the commands')."""
    import subprocess

    probe = (
        "import sys\n"
        "from zoo.cli import main\n"
        f"for args in {list(commands)!r}:\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit as exit:\n"
        "        assert not exit.code, (args, exit.code)\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
        "assert 'keras' not in sys.modules, 'keras was imported'\n"
        "print('clean', file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().endswith("clean")  # the probe ran to its end
    return result


def test_catalogue_commands_never_import_tensorflow():
    run_without_tensorflow(["--help"], ["list", "backbones"], ["list", "strategies"], ["list", "datasets"],
                           ["plugins"], ["info", "resnet50"], ["info", "fine-tuning"])


@pytest.mark.parametrize("args, message", [
    (["list"], "zoo: error: Missing argument '{backbones|strategies|datasets|adapters}'. (see `zoo list --help`)"),
    (["train", "--epochs", "many"], "zoo: error: Invalid value for '--epochs': 'many' is not a valid integer. "
                                    "(see `zoo train --help`)"),
    (["nosuchcommand"], "zoo: error: No such command 'nosuchcommand'. (see `zoo --help`)"),
])
def test_click_usage_errors_are_one_line_too(zoo, args, message):
    result = zoo(*args)
    assert result.exit_code == 2
    assert result.stderr.strip() == message


def test_print_config_resolves_out_without_importing_tensorflow():
    """The printed file is the run, resumable as it is: its `out` is the folder the run would get."""
    import tomllib

    result = run_without_tensorflow(["train", "--backbone", "alexnet-small", "--dataset", "digits", "--strategy",
                                     "fine-tuning", "--unfreeze", "2", "--print-config"])
    printed = tomllib.loads(result.stdout)
    assert printed["out"].startswith("runs/alexnet-small-fine-tuning-")
    assert printed["strategy"]["unfreeze"] == "2"


def test_resume_needs_the_run_folder(zoo):
    result = zoo("train", "--backbone", "alexnet-small", "--dataset", "digits", "--resume")
    assert result.exit_code == 2
    assert result.stderr == ("zoo: error: --resume needs --out DIR, the run folder to continue "
                             "(its DIR.partial holds the checkpoints)\n")


CLASHING_STRATEGY = '''
    from zoo.api import hookimpl
    from zoo.api import StrategySpec

    @hookimpl
    def zoo_strategies():
        return [StrategySpec(name="fine-tuning", trainer="zt_clash:train")]
'''


def test_train_reports_why_strategy_flags_are_missing(zoo, tmp_path, monkeypatch):
    from fakeplugins import activate, write_plugin

    site = tmp_path / "site"
    write_plugin(site, "zoo-test-clash", "zt_clash", CLASHING_STRATEGY, entry_name="clash")
    activate(site, monkeypatch)
    result = zoo("train", "--backbone", "alexnet-small", "--dataset", "digits", "--strategy", "fine-tuning",
                 "--unfreeze", "2")
    assert result.exit_code == 2, result
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("zoo: error: command line: strategy 'fine-tuning' is provided by both plugins ")
    assert "'strategies'" in line and "'clash'" in line
    assert zoo("list", "backbones").exit_code == 0  # the rest of the CLI keeps working
