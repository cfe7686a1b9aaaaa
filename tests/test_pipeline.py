"""Training pipelines end to end: train, the run folder, TOML, stages, evaluate/predict/export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from fakeplugins import activate, write_plugin
from hubtools import hub, hub_env, make_adapter  # noqa: F401 (fixtures)
from imagegen import SHAPES, make_shapes_folder

from zoo.run.folder import read_run_folder

RUN_FILES = {"config.json", "head.keras", "metrics.json", "history.csv", "curves.png", "confusion.png"}
FAST = ["--backbone", "alexnet-small", "--weights", "none", "--image-size", "32", "--batch-size", "16"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes_folder(tmp_path_factory.mktemp("data") / "shapes", per_class=30, size=40)


@pytest.fixture(scope="module")
def fe_run(shapes, tmp_path_factory):
    """One feature-extraction run shared by the tests that only read it."""
    from click.testing import CliRunner

    from zoo.cli.main import build_cli
    from zoo.plugin.catalog import reset_catalog
    from zoo.plugin.host import reset_host

    reset_host()
    reset_catalog()
    out = tmp_path_factory.mktemp("runs") / "fe"
    result = CliRunner().invoke(build_cli(), ["train", *FAST, "--strategy", "feature-extraction",
                                              "--dataset", f"folder:{shapes}", "--epochs", "15", "--lr", "0.01",
                                              "--out", str(out), "--seed", "1"])
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return out


def test_feature_extraction_learns_the_shapes(fe_run):
    metrics = json.loads((fe_run / "metrics.json").read_text())
    assert metrics["split"] == "val"
    assert metrics["accuracy"] > 0.9, metrics
    assert metrics["n"] == 18  # 20% of 90 images, stratified
    assert set(metrics["per_class_accuracy"]) == set(SHAPES)
    assert metrics["loss"] < 0.5


def test_run_folder_is_complete_and_verified(fe_run):
    assert RUN_FILES <= {p.name for p in fe_run.iterdir()}
    adapter = read_run_folder(fe_run)
    config = adapter.config
    assert config["schema"] == "zoo.adapter/1"
    assert config["class_names"] == sorted(SHAPES)
    assert config["backbone"]["name"] == "alexnet-small" and config["backbone"]["input_size"] == 32
    assert config["strategy"]["name"] == "feature-extraction"
    assert config["strategy"]["options"]["feature_cache"] == "auto"
    assert config["backbone"]["options"]["width"] == 0.25  # the registry entry it was built from
    assert set(config["files"]) >= RUN_FILES - {"config.json"}
    assert {"zoo", "tensorflow", "keras", "python"} <= set(config["versions"])
    rows = list(csv.DictReader((fe_run / "history.csv").open()))
    assert len(rows) == 15 and rows[0]["phase"] == "head"
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert not fe_run.with_name("fe.partial").exists()


def test_random_backbone_is_carried_by_the_adapter(fe_run):
    # weights "none" cannot be fetched again, so every backbone variable is in the delta
    config = read_run_folder(fe_run).config
    assert config["backbone"]["weights"]["name"] == "none"
    assert "backbone.delta.npz" in config["files"]


def test_tampered_run_is_refused(fe_run, tmp_path, zoo):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(fe_run, copy)
    with open(copy / "head.keras", "ab") as handle:
        handle.write(b"x")
    result = zoo("evaluate", str(copy))
    assert result.exit_code == 1
    assert "head.keras: sha256 mismatch" in result.stderr and "refusing to load it" in result.stderr


def test_evaluate_predict_export_match_plain_keras(fe_run, shapes, tmp_path, zoo):
    import keras
    import tensorflow as tf

    from zoo.data.tfdata import load_images

    evaluated = zoo("evaluate", str(fe_run), "--json")
    assert evaluated.exit_code == 0, evaluated
    scores = json.loads(evaluated.stdout)
    recorded = json.loads((fe_run / "metrics.json").read_text())
    assert scores["split"] == "val" and scores["n"] == recorded["n"]
    assert scores["accuracy"] == pytest.approx(recorded["accuracy"])
    assert scores["loss"] == pytest.approx(recorded["loss"], rel=1e-4)

    exported = tmp_path / "model.keras"
    assert zoo("export", str(fe_run), "--format", "keras", "--out", str(exported)).exit_code == 0
    plain = keras.models.load_model(exported, safe_mode=True)  # stock layers only: no zoo needed

    files = sorted(str(p) for p in (shapes / "circle").glob("*.png"))[:4] + [str(shapes / "square")]
    predicted = zoo("predict", str(fe_run), *files, "--top-k", "2", "--json")
    assert predicted.exit_code == 0, predicted
    rows = json.loads(predicted.stdout)
    all_files = files[:4] + sorted(str(p) for p in (shapes / "square").glob("*.png"))
    assert [r["file"] for r in rows] == all_files
    pixels = load_images(all_files, 32)
    expected = plain.predict(pixels, verbose=0)
    for row, probs in zip(rows, expected):
        top = row["predictions"]
        assert len(top) == 2
        assert top[0]["label"] == sorted(SHAPES)[int(np.argmax(probs))]
        assert top[0]["probability"] == pytest.approx(float(probs.max()), abs=1e-5)

    served = tmp_path / "served"
    assert zoo("export", str(fe_run), "--format", "savedmodel", "--out", str(served)).exit_code == 0
    loaded = tf.saved_model.load(str(served))
    out = loaded.serve(tf.constant(pixels))
    np.testing.assert_allclose(np.asarray(out), expected, atol=1e-5)


def test_export_refuses_to_overwrite(fe_run, tmp_path, zoo):
    target = tmp_path / "exists.keras"
    target.write_text("keep me")
    result = zoo("export", str(fe_run), "--out", str(target))
    assert result.exit_code == 2 and "already exists" in result.stderr
    assert target.read_text() == "keep me"


def test_cli_flags_and_toml_give_the_same_config(tmp_path, zoo):
    from zoo.train.config import read_pipeline, stage_from_mapping

    flags = ["--backbone", "resnet50", "--dataset", "folder:data/x", "--epochs", "7", "--lr", "0.0005",
             "--strategy", "fine-tuning", "--unfreeze", "2", "--fine-tune-lr", "1e-5", "--image-size", "96",
             "--augment", "flip,rotation=0.1", "--precision", "mixed_bfloat16", "--out", "runs/x"]
    printed = zoo("train", *flags, "--print-config")
    assert printed.exit_code == 0, printed
    path = tmp_path / "p.toml"
    path.write_text(printed.stdout)
    [from_toml] = read_pipeline(path)
    assert from_toml.backbone == "resnet50" and from_toml.epochs == 7 and from_toml.image_size == 96
    assert from_toml.precision == "mixed_bfloat16" and from_toml.augment == "flip,rotation=0.1"
    assert from_toml.strategy == "fine-tuning"
    assert from_toml.strategy_options["unfreeze"] == "2"
    assert from_toml.strategy_options["fine_tune_lr"] == 1e-5
    assert from_toml.out == "runs/x"
    # printing the TOML's own config again gives the same text: nothing lost either way
    reprinted = stage_from_mapping(from_toml.to_dict(), "again")
    assert reprinted == from_toml


@pytest.mark.parametrize("text, message", [
    ('backbone = "resnet50"\ndataset = "digits"\nepoch = 3\n', "unknown key 'epoch'"),
    ('backbone = "resnet50"\ndataset = "digits"\n[strategy]\nname = "fine-tuning"\nunfreze = 2\n',
     "unknown option 'unfreze' for strategy 'fine-tuning'"),
    ('backbone = "resnet50"\ndataset = "digits"\nepochs = "three"\n', "'epochs' must be int, got 'three'"),
    ('backbone = "resnet50"\ndataset = "digits"\nprecision = "fp8"\n', "'precision' must be one of float32"),
    ('[[stages]]\nbackbone = "resnet50"\n', "'dataset' is required"),
])
def test_bad_pipeline_files_name_the_key(tmp_path, zoo, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = zoo("run", str(path))
    assert result.exit_code == 2, result
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_strategy_option_on_the_command_line(zoo):
    result = zoo("train", "--backbone", "resnet50", "--dataset", "digits", "--method", "coral")
    assert result.exit_code == 2
    assert "unknown option 'method' for strategy 'feature-extraction'" in result.stderr


def test_two_stage_pipeline_source_then_target(tmp_path, zoo):
    path = tmp_path / "two.toml"
    path.write_text(f"""
[[stages]]
name = "source"
backbone = "alexnet-small"
weights = "none"
dataset = "digits"
normalization = "standardize"
epochs = 6
batch_size = 64
lr = 0.003
out = "{tmp_path / 'source'}"
[stages.strategy]
name = "fine-tuning"
unfreeze = "all"
warmup_epochs = 0

[[stages]]
name = "target"
from = "source"
dataset = "digits-m"
epochs = 4
batch_size = 64
out = "{tmp_path / 'target'}"
[stages.strategy]
name = "feature-extraction"
""")
    result = zoo("run", str(path))
    assert result.exit_code == 0, result
    source, target = read_run_folder(tmp_path / "source"), read_run_folder(tmp_path / "target")
    assert source.metrics()["accuracy"] > 0.8  # digits test split, trained from scratch
    assert target.config["parent"]["ref"] == str(tmp_path / "source")
    assert target.config["backbone"]["name"] == "alexnet-small"
    # the target run carries the source-trained backbone: equal to the source's delta
    from zoo.run.delta import load_delta

    source_delta = load_delta(source.file("backbone.delta.npz"))
    target_delta = load_delta(target.file("backbone.delta.npz"))
    assert source_delta.keys() == target_delta.keys()
    for key in source_delta:
        np.testing.assert_array_equal(source_delta[key], target_delta[key])
    # rerunning with --resume skips finished stages
    again = zoo("run", str(path), "--resume")
    assert again.exit_code == 0 and again.stderr.count("already complete") == 2


def test_tfhub_module_as_backbone_end_to_end(shapes, tmp_path, zoo):
    """An ad-hoc `tfhub:FOLDER` backbone: feature extraction, then fine-tuning the whole module."""
    from test_tfhub import export_hub_style

    module = export_hub_style(tmp_path / "module")
    common = ["--backbone", f"tfhub:{module}", "--image-size", "32", "--dataset", f"folder:{shapes}",
              "--batch-size", "16", "--lr", "0.01"]
    fe = zoo("train", *common, "--epochs", "3", "--out", str(tmp_path / "fe"))
    assert fe.exit_code == 0, fe
    fe_config = read_run_folder(tmp_path / "fe").config
    assert fe_config["backbone"]["source"] == "tfhub" and fe_config["backbone"]["feature_dim"] == 5
    assert "backbone.delta.npz" not in fe_config["files"]  # the module carries its weights

    ft = zoo("train", *common, "--strategy", "fine-tuning", "--unfreeze", "all", "--epochs", "4",
             "--warmup-epochs", "1", "--out", str(tmp_path / "ft"))
    assert ft.exit_code == 0, ft
    adapter = read_run_folder(tmp_path / "ft")
    from zoo.run.delta import load_delta

    delta = load_delta(adapter.file("backbone.delta.npz"))
    assert delta and all(np.isfinite(v).all() for v in delta.values())
    # the module's weights trained, its BatchNorm-like moving mean did not (fine-tuning keeps BN frozen)
    assert any("kernel" in path for path in delta)
    assert not any("moving_mean" in path for path in delta), sorted(delta)
    scores = json.loads(zoo("evaluate", str(tmp_path / "ft"), "--json").stdout)
    assert scores["accuracy"] == pytest.approx(adapter.metrics()["accuracy"])
    assert scores["loss"] == pytest.approx(adapter.metrics()["loss"], rel=1e-4)


# -- what a strategy sees of the target --------------------------------------------------------

LABEL_SPY = '''
    from zoo.api import hookimpl
    from zoo.api import DatasetSpec, StrategySpec

    @hookimpl
    def zoo_strategies():
        return [StrategySpec(name="label-spy", trainer="zt_spy:train", needs_target=True)]

    @hookimpl
    def zoo_datasets():
        return [DatasetSpec(name="streamed-digits-m", loader="zt_spy:load_streamed"),
                DatasetSpec(name="test-only-digits-m", loader="zt_spy:load_test_only")]

    def load_test_only(argument=None, *, seed=0):
        from zoo.api import LoadedDataset
        from zoo_datasets.digits import load_digits_m

        loaded = load_digits_m(seed=seed)
        return LoadedDataset(loaded.ref, loaded.class_names, {"test": loaded.splits["test"]})

    def load_streamed(argument=None, *, seed=0):
        """digits-m with every split streamed through tf.data, the way TFDS splits come."""
        from zoo.api import LoadedDataset, Split
        from zoo_datasets.digits import load_digits_m

        loaded = load_digits_m(seed=seed)

        def streamed(split):
            def make():
                import tensorflow as tf
                return tf.data.Dataset.from_tensor_slices((split.images, split.labels))
            return Split(labels=split.labels, make_tf_dataset=make)

        return LoadedDataset(loaded.ref, loaded.class_names, {k: streamed(v) for k, v in loaded.splits.items()})

    def train(job):
        """Records every label it can read of the target, then trains a head like feature extraction."""
        import dataclasses
        import numpy as np
        from zoo_strategies.feature_extraction import train as train_head

        seen = {}
        for name in ("target", "target_eval"):
            split = getattr(job, name)
            batches = [labels.numpy() for _, labels in job.make_dataset(split)]
            streamed = np.concatenate(batches)
            seen[name] = {"kind": split.kind, "count": int(len(streamed)),
                          "labels": sorted({int(v) for v in streamed} | {int(v) for v in split.labels})}
        outcome = train_head(dataclasses.replace(job, options={"units": 0, "dropout": 0.0, "feature_cache": "memory"}))
        outcome.metrics["seen"] = seen
        return outcome
'''


@pytest.fixture
def spy(tmp_path, monkeypatch):
    """The test plugin above, installed (a real distribution with a ``zoo`` entry point)."""
    site = tmp_path / "site"
    write_plugin(site, "zoo-test-spy", "zt_spy", LABEL_SPY, entry_name="spy")
    activate(site, monkeypatch)
    return site


def test_the_strategy_never_reads_target_labels_even_streamed(tmp_path, zoo, spy):
    out = tmp_path / "spy"
    result = zoo("train", *FAST, "--dataset", "digits", "--shots", "5", "--epochs", "1", "--strategy", "label-spy",
                 "--target", "streamed-digits-m", "--out", str(out))
    assert result.exit_code == 0, result
    metrics = read_run_folder(out).metrics()
    seen = metrics["seen"]
    assert seen["target"] == {"kind": "stream", "count": 1438, "labels": [-1]}
    assert seen["target_eval"] == {"kind": "stream", "count": 359, "labels": [-1]}
    # the pipeline itself scored the target's labelled test split
    assert metrics["target"]["n"] == 359 and 0.0 <= metrics["target_accuracy"] <= 1.0


# -- checks before any training --------------------------------------------------------------


def test_strategy_options_outside_their_bounds_are_refused():
    from zoo.errors import ConfigError
    from zoo.plugin.specs import OptionSpec, StrategySpec
    from zoo.train.config import resolve_strategy_options

    spec = StrategySpec(name="bounded", trainer="x:y", options=(
        OptionSpec("dropout", "float", 0.2, min=0.0, max=0.9), OptionSpec("units", "int", 0, min=0),
        OptionSpec("name")))
    assert resolve_strategy_options(spec, {"dropout": "0.9", "units": "0"}, "here") == {
        "dropout": 0.9, "units": 0, "name": None}
    with pytest.raises(ConfigError) as high:
        resolve_strategy_options(spec, {"dropout": "1.5"}, "pipeline.toml: stage 2")
    assert str(high.value) == "pipeline.toml: stage 2: 'dropout' must be <= 0.9, got 1.5"
    with pytest.raises(ConfigError) as low:
        resolve_strategy_options(spec, {"units": -3}, "command line")
    assert str(low.value) == "command line: 'units' must be >= 0, got -3"


def write_npz(path: Path, **arrays) -> str:
    rng = np.random.default_rng(0)
    images = {key: rng.integers(0, 255, size=(12, 32, 32, 3), dtype=np.uint8) for key in arrays.pop("images")}
    np.savez(path, class_names=np.array(["a", "b", "c"]), **images, **arrays)
    return f"npz:{path}"


def test_bad_stage_inputs_are_refused_before_anything_is_written(shapes, tmp_path, zoo, spy):
    unlabelled_source = write_npz(tmp_path / "unlabelled.npz", images=["x"])
    cases = [
        (["--dataset", unlabelled_source], f"dataset '{unlabelled_source}' has unlabelled training examples"),
        (["--dataset", "digits", "--strategy", "domain-adaptation", "--target", "test-only-digits-m"],
         "target 'test-only-digits-m' has no training images (it has: test)"),
        (["--dataset", "digits", "--strategy", "domain-adaptation", "--target", "digits-m", "--batch-size", "1"],
         "command line: strategy 'domain-adaptation' compares the statistics of source and target batches, which "
         "needs a batch size of at least 2, got 1"),
        (["--dataset", f"folder:{shapes}", "--shots", "25"],
         f"--shots 25: class 'circle' of 'folder:{shapes}' has only 24 training images; use fewer shots"),
        (["--dataset", "digits", "--weights", str(tmp_path / "missing.weights.h5")],
         f"weights file '{tmp_path / 'missing.weights.h5'}' not found"),
    ]
    out = tmp_path / "run"
    for args, message in cases:
        result = zoo("train", "--backbone", "alexnet-small", "--image-size", "32", *args, "--out", str(out))
        assert result.exit_code == 2, (args, result)
        assert result.stderr.startswith(f"zoo: error: {message}") and result.stderr.count("\n") == 1, result
        assert not out.exists() and not out.with_name("run.partial").exists()


def test_a_stage_failing_before_its_first_checkpoint_leaves_no_partial(tmp_path, zoo, monkeypatch):
    monkeypatch.setenv("ZOO_OFFLINE", "1")  # imagenet weights are not cached here: building the backbone fails
    out = tmp_path / "run"
    args = ["train", "--backbone", "resnet50", "--weights", "imagenet", "--image-size", "32", "--dataset", "digits",
            "--out", str(out)]
    first = zoo(*args)
    assert first.exit_code == 1 and "resnet50" in first.stderr, first
    assert not out.exists() and not out.with_name("run.partial").exists()
    again = zoo(*args)  # the same error, not "an interrupted run is at ...; continue it with --resume"
    assert again.stderr == first.stderr


PIPELINE_STAGE_ONE = """
[[stages]]
name = "source"
backbone = "alexnet-small"
dataset = "digits"
out = "{root}/source"
"""


@pytest.mark.parametrize("stage_two, message", [
    ('name = "target"\nbackbone = "resnt50"\ndataset = "digits-m"\nout = "{root}/target"\n',
     "{path}: stage target: no backbone 'resnt50'; did you mean resnet50?"),
    ('name = "target"\nfrom = "source"\ndataset = "digits-m"\nout = "{root}/target"\n'
     '[stages.strategy]\nname = "fine-tuning"\nunfreze = "all"\n',
     "{path}: stage target: unknown option 'unfreze' for strategy 'fine-tuning'"),
    ('name = "target"\nfrom = "source"\ndataset = "digits-n"\nout = "{root}/target"\n',
     "{path}: stage target: no dataset 'digits-n'; did you mean"),
    ('name = "target"\nfrom = "source"\ndataset = "digits-m"\nout = "{root}/source"\n',
     "{path}: stage target: out '{root}/source' is also stage source's; give each stage its own"),
    ('name = "target"\nfrom = "sorce"\ndataset = "digits-m"\nout = "{root}/target"\n',
     '{path}: stage target: from = "sorce" is not an earlier stage (earlier stages: source), a run folder'),
    ('name = "target"\nfrom = "source"\ndataset = "digits"\ntarget = "digits-m"\nout = "{root}/target"\n'
     '[stages.strategy]\nname = "domain-adaptation"\n',
     None),  # a valid plan: the check below uses it with a taken out folder
])
def test_every_stage_is_checked_before_the_first_trains(tmp_path, zoo, stage_two, message):
    root = tmp_path / "runs"
    path = tmp_path / "two.toml"
    path.write_text(PIPELINE_STAGE_ONE.format(root=root) + "\n[[stages]]\n" + stage_two.format(root=root))
    if message is None:  # the second stage's out is taken
        (root / "target").mkdir(parents=True)
        message = f"{path}: stage target: output directory '{root / 'target'}' already exists"
    result = zoo("run", str(path))
    assert result.exit_code == 2, result
    assert message.format(path=path, root=root) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (root / "source").exists() and not (root / "source.partial").exists()


def test_a_stage_may_only_start_from_an_earlier_one(tmp_path, zoo):
    path = tmp_path / "order.toml"
    path.write_text('[[stages]]\nname = "first"\nfrom = "second"\ndataset = "digits"\nout = "a"\n\n'
                    '[[stages]]\nname = "second"\nbackbone = "alexnet-small"\ndataset = "digits"\nout = "b"\n')
    result = zoo("run", str(path))
    assert result.exit_code == 2
    assert f'{path}: stage first: from = "second" names a later stage' in result.stderr


def test_example_pipelines_pass_every_check(tmp_path, monkeypatch):
    from zoo.plugin.catalog import get_catalog
    from zoo.train.plan import plan_pipeline

    examples = sorted((Path(__file__).resolve().parent.parent / "examples" / "pipelines").glob("*.toml"))
    assert len(examples) >= 3
    make_shapes_folder(Path("data/my-images"), per_class=2, size=32)  # the user's images, where the examples look
    for path in examples:
        stages = plan_pipeline(path, get_catalog(), resume=False)
        assert all(stage.out and stage.dataset for stage in stages)
        for stage in stages:
            if stage.name == "target":  # `from = "source"` became the source stage's run folder
                assert stage.from_run == "runs/digits-source"


# -- starting from an earlier run ----------------------------------------------------------


def test_child_of_a_run_trained_on_a_weights_file(tmp_path, zoo):
    """The parent's base was a file the child cannot fetch by name: the child starts from
    random weights plus the parent's delta, which holds every backbone variable."""
    import os

    import keras

    from zoo.backbone.build import build_backbone
    from zoo.plugin.catalog import get_catalog
    from zoo.run.delta import load_delta

    keras.utils.set_random_seed(5)
    built = build_backbone(get_catalog().backbone("alexnet-small"), weights="none", input_size=32)
    weights = tmp_path / "mine" / "alexnet.weights.h5"
    weights.parent.mkdir()
    built.base.save_weights(weights)
    parent, child = tmp_path / "parent", tmp_path / "child"
    trained = zoo("train", "--backbone", "alexnet-small", "--weights", str(weights), "--image-size", "32",
                  "--dataset", "digits", "--shots", "5", "--epochs", "1", "--out", str(parent))
    assert trained.exit_code == 0, trained
    assert read_run_folder(parent).config["backbone"]["weights"]["name"] == "alexnet.weights.h5"
    os.remove(weights)  # nothing of it is needed any more
    result = zoo("train", "--from", str(parent), "--dataset", "digits-m", "--shots", "5", "--epochs", "1",
                 "--out", str(child))
    assert result.exit_code == 0, result
    config = read_run_folder(child).config
    assert config["backbone"]["weights"]["name"] == "none"
    parent_delta = load_delta(read_run_folder(parent).file("backbone.delta.npz"))
    child_delta = load_delta(read_run_folder(child).file("backbone.delta.npz"))
    assert parent_delta.keys() == child_delta.keys() == set(v.path for v in built.model.weights)
    for key, value in parent_delta.items():  # feature extraction: the backbone is the parent's, exactly
        np.testing.assert_array_equal(child_delta[key], value, err_msg=key)


def test_a_downloaded_parent_may_name_registry_backbones_only(tmp_path, zoo, hub_env, monkeypatch):
    """Building a `tfhub:URL` backbone means fetching and running a graph: only for the user's own runs."""
    monkeypatch.setenv("HF_TOKEN", hub_env.tokens["alice"])
    adhoc = "tfhub:https://example.invalid/model.tar.gz"
    run = make_adapter(tmp_path / "adhoc", backbone=adhoc, classes=[str(i) for i in range(10)])
    pushed = zoo("push", "--no-full-model", str(run), "alice/adhoc-parent")
    assert pushed.exit_code == 0, pushed
    out = tmp_path / "child"
    result = zoo("train", "--from", "hf://alice/adhoc-parent", "--dataset", "digits", "--out", str(out))
    assert result.exit_code == 1, result
    assert f"names the ad-hoc backbone '{adhoc}'; zoo builds only registry backbones" in result.stderr
    assert not out.exists() and not out.with_name("child.partial").exists()


def test_an_unlabelled_test_split_is_not_scored_as_the_source_accuracy(tmp_path, zoo):
    """npz may hold test images without labels; the run reports on a labelled split instead (the
    validation split carved from the training images)."""
    labels = np.arange(12) % 3
    dataset = write_npz(tmp_path / "d.npz", images=["x", "x_test"], y=labels)
    out = tmp_path / "run"
    result = zoo("train", "--backbone", "alexnet-small", "--weights", "none", "--image-size", "32", "--dataset",
                 dataset, "--epochs", "1", "--batch-size", "4", "--out", str(out))
    assert result.exit_code == 0, result
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "val" and 0.0 <= metrics["accuracy"] <= 1.0
    assert not out.with_name("run.partial").exists()
