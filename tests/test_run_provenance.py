"""A run remembers which plugins made it, and says which one to install when it is missing."""

import importlib
import json
import sys

from fakeplugins import activate, write_plugin
from imagegen import make_shapes_folder

PLUGIN_BACKBONE = '''
    from zoo.api import BackboneSpec, hookimpl

    @hookimpl
    def zoo_backbones():
        return [BackboneSpec(name="tinynet-pv", source="alexnet", model="alexnet", input_size=32, feature_dim=256,
                             options=(("width", 0.25), ("stem_kernel", 5), ("stem_stride", 2), ("stem_padding", 2),
                                      ("pool_grid", 2), ("fc_units", 256)), stages=(("all", ("conv",)),))]
'''


def test_a_run_records_its_plugins_and_names_the_missing_one(zoo, tmp_path, monkeypatch):
    site = tmp_path / "site"
    write_plugin(site, "zoo-tinynet", "zt_tinynet", PLUGIN_BACKBONE, entry_name="tinynet", version="0.3.1")
    activate(site, monkeypatch)
    data = make_shapes_folder(tmp_path / "shapes", per_class=8, size=32)
    run = tmp_path / "run"
    trained = zoo("train", "--backbone", "tinynet-pv", "--weights", "none", "--dataset", f"folder:{data}",
                  "--epochs", "1", "--out", str(run))
    assert trained.exit_code == 0, trained
    plugins = json.loads((run / "config.json").read_text())["plugins"]
    assert plugins["backbone"] == {"plugin": "tinynet", "distribution": "zoo-tinynet", "version": "0.3.1"}
    assert plugins["strategy"]["plugin"] == "strategies" and plugins["strategy"]["distribution"] == "zoo"
    assert zoo("evaluate", str(run)).exit_code == 0

    sys.path.remove(str(site))  # the plugin is uninstalled
    importlib.invalidate_caches()
    sys.modules.pop("zt_tinynet", None)
    result = zoo("evaluate", str(run))
    assert result.exit_code == 2, result
    assert result.stderr == (f"zoo: error: run '{run}' needs backbone 'tinynet-pv' from plugin 'zoo-tinynet' 0.3.1, "
                             "which is not installed (zoo install zoo-tinynet)\n")
