"""zoo.testing, the kit plugin authors test with, run on every built-in plugin and on broken ones."""

import pytest
from fakeplugins import activate, write_plugin

from zoo import testing

BUILTIN = {"keras": {"backbone_sources": ["keras", "alexnet"]}, "tfhub": {"backbone_sources": ["tfhub"]},
           "strategies": {"strategies": ["feature-extraction", "fine-tuning", "domain-adaptation"]},
           "datasets": {"datasets": ["folder", "npz", "tfds", "digits", "digits-m"]}, "hf": {"hubs": ["hf"]},
           "demo": {"commands": ["demo"]}}


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_plugin_passes_the_plugin_check(name):
    assert testing.check_plugin(name) == BUILTIN[name]


def test_a_builtin_backbone_passes_the_backbone_check():
    built = testing.check_backbone("alexnet-small")
    assert built.feature_dim == 256 and built.input_size == 29  # its smallest size


@pytest.mark.parametrize("strategy,options", [("feature-extraction", {}),
                                              ("fine-tuning", {"unfreeze": "all", "warmup_epochs": 1}),
                                              ("domain-adaptation", {"method": "coral"})])
def test_every_builtin_strategy_passes_the_strategy_check(strategy, options, tmp_path):
    result = testing.check_strategy(strategy, tmp_path, backbone="alexnet-small", options=options, epochs=2)
    assert result.config["plugins"]["strategy"] == {"plugin": "strategies", "distribution": "zoo",
                                                    "version": __import__("zoo").__version__}
    assert result.config["plugins"]["backbone"]["plugin"] == "keras"


HEAVY = '''
    import tensorflow
    from zoo.api import hookimpl, BackboneSpec

    @hookimpl
    def zoo_backbones():
        return [BackboneSpec(name="heavy-net", source="keras", model="MobileNetV2", input_size=96, feature_dim=1280)]
'''

WRONG_SIZE = '''
    from zoo.api import hookimpl, BackboneSpec

    @hookimpl
    def zoo_backbones():
        return [BackboneSpec(name="wrong-size", source="alexnet", model="alexnet", input_size=32, feature_dim=999,
                             options=(("width", 0.25), ("stem_kernel", 5), ("stem_stride", 2), ("stem_padding", 2),
                                      ("pool_grid", 2), ("fc_units", 256)))]
'''

NO_TRAINER = '''
    from zoo.api import hookimpl, StrategySpec

    @hookimpl
    def zoo_strategies():
        return [StrategySpec(name="ghost", trainer="zt_ghost_missing:train")]
'''


def test_the_kit_fails_a_plugin_that_imports_tensorflow(tmp_path, monkeypatch):
    write_plugin(tmp_path / "site", "zoo-heavy", "zt_heavy", HEAVY, entry_name="heavy")
    activate(tmp_path / "site", monkeypatch)
    with pytest.raises(AssertionError, match="plugin 'heavy' imports keras, tensorflow when loaded"):
        testing.check_plugin("heavy", max_seconds=60)


def test_the_kit_fails_a_missing_plugin_and_a_trainer_that_does_not_import(tmp_path, monkeypatch):
    with pytest.raises(AssertionError, match="no plugin 'nobody' in the 'zoo' entry-point group"):
        testing.check_plugin("nobody")
    write_plugin(tmp_path / "site", "zoo-ghost", "zt_ghost", NO_TRAINER, entry_name="ghost")
    activate(tmp_path / "site", monkeypatch)
    with pytest.raises(AssertionError, match="strategy 'ghost': its trainer 'zt_ghost_missing:train' does not import"):
        testing.check_plugin("ghost")


def test_the_kit_fails_a_backbone_whose_features_are_not_the_declared_size(tmp_path, monkeypatch):
    write_plugin(tmp_path / "site", "zoo-wrong", "zt_wrong", WRONG_SIZE, entry_name="wrong")
    activate(tmp_path / "site", monkeypatch)
    with pytest.raises(AssertionError, match="backbone 'wrong-size' does not build at 32px: .*feature_dim is 999 but the built model gives 256"):
        testing.check_backbone("wrong-size")
