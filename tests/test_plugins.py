"""Plugin discovery through real entry points: loading, quarantine, allow-list, clashes."""

import json

import pytest
from fakeplugins import (
    BROKEN_HOOK,
    BROKEN_IMPORT,
    CLASHING,
    GOOD,
    MALFORMED,
    MISSPELT_HOOK,
    TAKES_TRAIN,
    activate,
    write_plugin,
)

BUILTINS = {"keras", "tfhub", "strategies", "datasets", "hf"}


@pytest.fixture
def site(tmp_path, monkeypatch):
    path = tmp_path / "site"
    path.mkdir()
    activate(path, monkeypatch)
    return path


def plugins_json(zoo):
    result = zoo("plugins", "--json")
    assert result.exit_code == 0, result
    return {p["name"]: p for p in json.loads(result.stdout)}


def test_builtin_plugins_come_from_entry_points(zoo):
    plugins = plugins_json(zoo)
    assert BUILTINS <= set(plugins)
    assert all(plugins[name]["status"] == "ok" for name in BUILTINS)
    assert plugins["keras"]["provides"]["backbone_sources"] == ["keras", "alexnet"]
    assert set(plugins["strategies"]["provides"]["strategies"]) == {
        "feature-extraction", "fine-tuning", "domain-adaptation"}
    assert plugins["keras"]["version"] and plugins["keras"]["error"] is None


def test_third_party_plugin_is_discovered_and_its_command_runs(zoo, site):
    write_plugin(site, "zoo-test-good", "zt_good", GOOD, entry_name="good")
    plugins = plugins_json(zoo)
    assert plugins["good"]["status"] == "ok"
    assert plugins["good"]["version"] == "0.1.0"
    assert plugins["good"]["provides"] == {"backbones": ["tinynet"], "commands": ["hello-test"]}
    listed = json.loads(zoo("list", "backbones", "--json").stdout)
    row = next(r for r in listed if r["name"] == "tinynet")
    assert row["plugin"] == "good" and row["source"] == "keras"
    result = zoo("hello-test", "world")
    assert result.exit_code == 0 and result.stdout.strip() == "hello world"


def test_plugin_failing_on_import_is_quarantined(zoo, site):
    write_plugin(site, "zoo-test-broken", "zt_broken", BROKEN_IMPORT, entry_name="broken")
    plugins = plugins_json(zoo)
    assert plugins["broken"]["status"] == "error"
    assert "RuntimeError: this plugin is broken on purpose" in plugins["broken"]["error"]
    assert "import failed" in plugins["broken"]["error"]
    assert all(plugins[name]["status"] == "ok" for name in BUILTINS)
    # everything else keeps working
    assert zoo("list", "backbones").exit_code == 0
    text = zoo("plugins")
    assert "broken" in text.stdout and "error" in text.stdout


def test_plugin_failing_in_a_hook_is_quarantined(zoo, site):
    write_plugin(site, "zoo-test-hookfail", "zt_hookfail", BROKEN_HOOK, entry_name="hookfail")
    plugins = plugins_json(zoo)
    assert plugins["hookfail"]["status"] == "error"
    assert "zoo_strategies() failed: ZeroDivisionError" in plugins["hookfail"]["error"]
    listed = json.loads(zoo("list", "strategies", "--json").stdout)
    assert {r["name"] for r in listed} == {"feature-extraction", "fine-tuning", "domain-adaptation"}


def test_allow_list_loads_only_named_plugins(zoo, site, monkeypatch):
    write_plugin(site, "zoo-test-good", "zt_good", GOOD, entry_name="good")
    monkeypatch.setenv("ZOO_PLUGINS", "keras, good")
    assert set(plugins_json(zoo)) == {"keras", "good"}
    listed = json.loads(zoo("list", "backbones", "--json").stdout)
    assert {r["plugin"] for r in listed if r["status"] == "ok"} == {"keras", "good"}
    unavailable = [r for r in listed if r["status"] == "unavailable"]  # tfhub, kerashub entries: missing sources
    assert {r["reason"] for r in unavailable} == {f"needs backbone source '{source}', which no loaded plugin provides "
                                                  "(see `zoo plugins`)" for source in ("tfhub", "kerashub")}
    monkeypatch.setenv("ZOO_PLUGINS", "")
    assert plugins_json(zoo) == {}
    assert "no plugins loaded" in zoo("plugins").stdout


CLASH = ("backbone 'tinynet' is provided by both plugins 'clash' and 'good'; "
         "uninstall one, or leave one out of ZOO_PLUGINS")


def test_a_name_two_plugins_provide_is_refused_and_every_other_name_works(zoo, site):
    write_plugin(site, "zoo-test-good", "zt_good", GOOD, entry_name="good")
    write_plugin(site, "zoo-test-clash", "zt_clash", CLASHING, entry_name="clash")
    listed = zoo("list", "backbones", "--json")
    assert listed.exit_code == 0, listed
    names = {row["name"] for row in json.loads(listed.stdout)}
    assert "tinynet" not in names and {"alexnet-small", "resnet50"} <= names
    assert f"zoo: warning: {CLASH}\n" in listed.stderr
    refused = zoo("info", "tinynet")
    assert refused.exit_code == 2 and refused.stderr.endswith(f"zoo: error: {CLASH}\n")
    assert zoo("info", "alexnet-small").exit_code == 0
    assert zoo("train", "--backbone", "alexnet-small", "--dataset", "digits", "--print-config").exit_code == 0
    plugins = plugins_json(zoo)
    for name in ("good", "clash"):
        assert plugins[name]["status"] == "conflict" and plugins[name]["error"] == CLASH
    assert plugins["good"]["provides"]["commands"] == ["hello-test"]  # its other things still work
    assert zoo("hello-test", "you").stdout == "hello you\n"


def test_plugin_clashing_with_the_registry_is_refused_by_name(zoo, site):
    write_plugin(site, "zoo-test-clash", "zt_clash", CLASHING.replace("tinynet", "resnet50"), entry_name="clash")
    result = zoo("info", "resnet50")
    assert result.exit_code == 2
    assert "backbone 'resnet50' is defined both in" in result.stderr and "plugin 'clash'" in result.stderr
    assert zoo("info", "resnet101").exit_code == 0
    assert plugins_json(zoo)["clash"]["status"] == "conflict"


HEAVY = '''
    import tensorflow
    from zoo.api import hookimpl
'''


def test_a_plugin_that_imports_tensorflow_is_named_as_what_made_the_command_slow(zoo_process, site):
    write_plugin(site, "zoo-test-heavy", "zt_heavy", HEAVY, entry_name="heavy")
    result = zoo_process("list", "strategies")
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stderr.splitlines() if "heavy" in line)
    assert line.startswith("zoo: warning: plugin 'heavy' imports tensorflow, keras when loaded (")
    assert line.endswith(" s of every zoo command); ask its authors to import it inside functions, or leave it out "
                         "of ZOO_PLUGINS")
    table = zoo_process("plugins").stdout
    assert next(row for row in table.splitlines() if row.startswith("heavy")).split()[2] == "slow"
    listed = json.loads(zoo_process("plugins", "--json").stdout)
    heavy = next(p for p in listed if p["name"] == "heavy")
    assert heavy["heavy_imports"] == ["tensorflow", "keras"] and heavy["import_seconds"] > 0.5


def test_backbone_whose_source_plugin_is_not_loaded_says_so(zoo, monkeypatch):
    monkeypatch.setenv("ZOO_PLUGINS", "keras")
    result = zoo("info", "tfhub-resnet50")
    assert result.exit_code == 2
    assert "needs backbone source 'tfhub', which no loaded plugin provides" in result.stderr


def test_plugin_returning_something_else_than_specs_is_quarantined(zoo, site):
    write_plugin(site, "zoo-test-malformed", "zt_malformed", MALFORMED, entry_name="malformed")
    plugins = plugins_json(zoo)
    assert plugins["malformed"]["status"] == "error"
    assert "zoo_datasets() returned dict" in plugins["malformed"]["error"]
    assert "not a DatasetSpec" in plugins["malformed"]["error"]
    listed = zoo("list", "datasets", "--json")
    assert listed.exit_code == 0 and "not-a-spec" not in listed.stdout


def test_misspelt_hook_is_an_error_not_silence(zoo, site):
    write_plugin(site, "zoo-test-misspelt", "zt_misspelt", MISSPELT_HOOK, entry_name="misspelt")
    plugins = plugins_json(zoo)
    assert plugins["misspelt"]["status"] == "error"
    assert "zoo_backbone" in plugins["misspelt"]["error"]


def test_two_distributions_with_one_plugin_name_are_both_named(zoo, site):
    write_plugin(site, "zoo-test-one", "zt_one", GOOD, entry_name="same")
    write_plugin(site, "zoo-test-two", "zt_two", GOOD.replace("tinynet", "othernet"), entry_name="same")
    plugins = plugins_json(zoo)
    assert plugins["same"]["status"] == "error"
    assert "registered by both distributions 'zoo-test-one' and 'zoo-test-two'" in plugins["same"]["error"]


def test_plugin_cannot_replace_a_core_command(zoo, site):
    write_plugin(site, "zoo-test-takes-train", "zt_takes_train", TAKES_TRAIN, entry_name="takes")
    plugins = plugins_json(zoo)
    assert plugins["takes"]["status"] == "error"
    assert "command 'train' is already provided by zoo itself" in plugins["takes"]["error"]
    assert "--strategy" in zoo("train", "--help").stdout  # still zoo's own


FAILING_INPUT = '''
    from zoo.api import hookimpl

    @hookimpl
    def zoo_commands(cli):
        import click

        @cli.command("read-images-test")
        def read_images():
            """Run a tf.data pipeline over a file that no longer decodes."""
            import numpy as np

            from zoo.api import Split
            from zoo.api import make_tf_dataset

            split = Split(labels=np.zeros(1, dtype=np.int64), files=[click.get_current_context().obj["bad_file"]])
            for _ in make_tf_dataset(split, image_size=8, cache=False):
                pass
'''


def test_a_decode_failure_inside_tensorflow_is_one_line_naming_the_file(zoo, site, tmp_path):
    """TensorFlow wraps the pipeline's own check in its error text; the CLI gives back that one line."""
    write_plugin(site, "zoo-test-input", "zt_input", FAILING_INPUT, entry_name="input")
    bad = tmp_path / "cut.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)  # a PNG signature, nothing decodable after it
    from click.testing import CliRunner

    from zoo.cli.main import build_cli

    result = CliRunner().invoke(build_cli(), ["read-images-test"], obj={"bad_file": str(bad)})
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].startswith(f"zoo: error: TensorFlow cannot decode image {bad} "), result.output
    assert "unexpected" not in result.output and "InvalidArgumentError" not in result.output
