"""The model card pushed with an adapter, rendered from config.json and metrics.json alone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pytest
from zoo_hf.card import KERAS_PREPROCESSING, keras_applications_module, render


def base_config(**overrides):
    config = {
        "schema": "zoo.adapter/1",
        "name": "digits-da",
        "backbone": {"name": "resnet50v2", "source": "keras", "model": "ResNet50V2", "input_size": 64, "channels": 3,
                     "preprocessing": "tf", "feature_dim": 2048, "weights": {"name": "imagenet"},
                     "normalization": {"mode": "backbone"}, "options": {}},
        "strategy": {"name": "dann", "options": {"lambda_max": 1.0}},
        "training": {"epochs": 5, "batch_size": 32, "lr": 1e-05, "seed": 0, "dataset": "digits", "target": "digits-m"},
        "class_names": [str(i) for i in range(10)],
        "files": {"head.keras": "a" * 64, "metrics.json": "b" * 64},
    }
    config.update(overrides)
    return config


def parse(card: str):
    from huggingface_hub import ModelCard

    return ModelCard(card)


def test_domain_adaptation_card_reports_source_and_target():
    card = parse(render(base_config(), {"accuracy": 0.97, "target_accuracy": 0.61, "source_accuracy": 0.97},
                        "bob/digits-da", "experiment"))
    results = {(r.dataset_type, r.metric_value) for r in card.data.eval_results}
    assert results == {("digits", 0.97), ("digits-m", 0.61)}
    assert card.data.datasets is None  # built-in domains are not Hub datasets: no link to one that does not exist
    assert {"dann", "resnet50v2"} <= set(card.data.tags)
    assert "unlabelled target domain `digits-m`" in card.text
    assert "lr=1e-05" in card.text  # small learning rates stay readable
    assert "zoo pull hf://bob/digits-da@experiment" in card.text
    snippet = re.search(r"```python\n(.*?)```", card.text, flags=re.S).group(1)
    ast.parse(snippet)
    assert 'hf_hub_download("bob/digits-da", "head.keras", revision="experiment")' in snippet
    assert "keras.applications.resnet_v2.preprocess_input" in snippet and "input_shape=(64, 64, 3)" in snippet


def test_backbone_changes_need_zoo():
    config = base_config(files={"head.keras": "a" * 64, "backbone.delta.npz": "c" * 64})
    card = parse(render(config, {"accuracy": 0.5}, "bob/ft", None))
    assert "```python" not in card.text
    assert "changes backbone layers (`backbone.delta.npz`), so rebuilding it needs zoo" in card.text


def test_non_keras_backbone_needs_zoo_and_minimal_config_renders():
    config = {"schema": "zoo.adapter/1", "backbone": {"name": "alexnet", "source": "alexnet"},
              "strategy": {"name": "fine-tuning"}, "class_names": ["a", "b|c"], "files": {}}
    card = parse(render(config, {}, "bob/minimal", None))
    assert card.data.library_name == "keras" and not card.data.eval_results
    assert "built by zoo's `alexnet` source, so loading this adapter needs zoo" in card.text
    assert "No metrics were recorded" in card.text


def test_keras_application_modules():
    assert [keras_applications_module(m) for m in ("VGG16", "VGG19", "ResNet101", "ResNet152V2", "EfficientNetB3",
                                                   "MobileNetV2", "Made-Up")] == [
        "vgg16", "vgg19", "resnet", "resnet_v2", "efficientnet", "mobilenet_v2", None]


def with_backbone(**changes):
    config = base_config()
    config["backbone"] = {**config["backbone"], **changes}
    return config


@pytest.mark.parametrize("changes, reason", [
    ({"options": {"pooling": "max"}}, "Its backbone pools features with `max` pooling, not the average, so loading this "
                                      "adapter needs zoo."),
    ({"preprocessing": "caffe"}, "Its backbone's `caffe` preprocessing is not what "
                                 "`keras.applications.resnet_v2.preprocess_input` does (`tf`), so loading this adapter "
                                 "needs zoo."),
    ({"normalization": {"mode": "standardize", "mean": [1, 2, 3], "variance": [1, 1, 1]}},
     "Its input scaling (`--normalization standardize`) replaces the backbone's own, so loading this adapter needs zoo."),
    ({"weights": {"name": "none"}}, "Its backbone started from random weights that no file holds, so loading this "
                                    "adapter needs zoo."),
    ({"options": None}, "The run does not record how its backbone pools features, so loading this adapter needs zoo."),
])
def test_no_plain_keras_snippet_unless_it_rebuilds_the_same_model(changes, reason):
    """The snippet means average pooling and the module's preprocess_input: anything else needs zoo."""
    config = with_backbone(**changes)
    if changes.get("options", {}) is None:
        del config["backbone"]["options"]
    card = parse(render(config, {"accuracy": 0.5}, "bob/other", None))
    assert "```python" not in card.text and "keras.applications." not in card.text.replace(reason, "")
    assert reason in card.text
    assert "zoo pull hf://bob/other" in card.text and "zoo predict hf://bob/other IMAGES..." in card.text


def test_registry_pooling_option_average_is_the_snippet():
    card = parse(render(with_backbone(options={"pooling": "avg"}), {}, "bob/avg", None))
    assert 'pooling="avg"' in card.text and "keras.applications.resnet_v2.preprocess_input(images)" in card.text


def test_keras_preprocessing_table_is_what_keras_does():
    """Each module's preprocess_input, run on the same pixels, is the zoo mode the card pairs it with."""
    import keras

    from zoo.backbone.preprocessing import preprocess

    pixels = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    for module, mode in KERAS_PREPROCESSING.items():
        theirs = np.asarray(getattr(keras.applications, module).preprocess_input(pixels.copy()))
        np.testing.assert_allclose(theirs, preprocess(pixels.copy(), mode), rtol=1e-5, atol=1e-4, err_msg=module)


def test_licence_base_model_and_hub_datasets_come_from_recorded_keys_only():
    config = with_backbone(weights={"name": "imagenet", "license": "mit"}, hub={"repo": "keras/resnet50", "revision": "r"})
    config["training"] = {**config["training"], "dataset": "hf:someone/pets", "target": "folder:/home/me/dark"}
    metrics = {"accuracy": 0.8, "split": "test", "n": 40, "target_accuracy": 0.5,
               "target": {"accuracy": 0.5, "n": 25, "split": "val"}}
    card = parse(render(config, metrics, "bob/pets", None))
    assert (card.data.license, card.data.base_model, card.data.datasets) == ("mit", "keras/resnet50", ["someone/pets"])
    source, target = card.data.eval_results
    assert (source.dataset_type, source.dataset_split, source.dataset_name) == ("someone/pets", "test",
                                                                                "someone/pets (test split, 40 images)")
    assert (target.dataset_type, target.dataset_split, target.dataset_name) == ("dark", "val",
                                                                                "dark (target domain) (val split, 25 images)")
    assert "/home/me" not in str(card)
    overridden = parse(render({**config, "backbone": {**config["backbone"], "license": "cc-by-4.0",
                                                      "base_model": "someone/base"}}, {}, "bob/x", None,
                              license="apache-2.0"))
    assert (overridden.data.license, overridden.data.base_model) == ("apache-2.0", "someone/base")
    unknown = parse(render(base_config(), {}, "bob/y", None))
    assert unknown.data.license is None and unknown.data.base_model is None and unknown.data.pipeline_tag == "image-classification"


def test_input_contract_and_pinned_usage():
    card = parse(render(base_config(), {"accuracy": 0.5}, "bob/da", "main", commit="c" * 40,
                        resize="the whole image to SIZE x SIZE"))
    assert "RGB images as float32 arrays of shape `(64, 64, 3)`" in card.text and "`[0, 255]`" in card.text
    assert "zoo resizes the whole image to 64 x 64" in card.text
    assert f"zoo pull hf://bob/da@{'c' * 40}" in card.text
    assert f'hf_hub_download("bob/da", "head.keras", revision="{"c" * 40}")' in card.text


def test_full_model_usage_on_a_branch_and_without_a_full_model():
    """With the full model: hf:// as Keras reads it (main, no revision) and the same files pinned; on a
    branch the card says that hf:// reads main. Without it (TF Hub runs, --no-full-model): why, and hf:// is
    said not to work."""
    from zoo_hf import card as card_module

    from zoo.api import FULL_MODEL_FILES, HUB_RECORD, FullModel

    assert (card_module.FULL_MODEL_FILES, card_module.RECORD) == (FULL_MODEL_FILES, HUB_RECORD)  # the core's names
    pushed = FullModel(path=Path("/tmp/keras-model"),
                       check={"images": 8, "images_from": "seeded random pixels", "top1_agreement": 1.0,
                              "max_prob_diff": 0.0})
    text = parse(render(base_config(), {}, "bob/da", "experiment", commit="c" * 40, full_model=pushed)).text
    literal, pinned, *_ = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert 'model = keras.saving.load_model("hf://bob/da")' in literal
    assert ('snapshot_download("bob/da", revision="' + "c" * 40 + '", allow_patterns=["config.json", '
            '"metadata.json", "model.weights.h5"])') in pinned
    ast.parse(literal), ast.parse(pinned)
    assert "This push went to the `experiment` branch, so `main` may hold another model or none." in text
    assert "on 8 images (seeded random pixels): top-1 agreement 1.0000" in text
    assert "The full model for plain Keras (`config.json`, `metadata.json`, `model.weights.h5`) is not among" in text

    on_main = parse(render(base_config(), {}, "bob/da", "main", commit="c" * 40, full_model=pushed)).text
    assert "branch, so `main`" not in on_main

    tfhub = FullModel(reason="no full model for plain Keras: its layer 'hub' is HubModule from zoo_tfhub.layer, "
                             "which plain Keras cannot rebuild without that package")
    text = parse(render(base_config(), {}, "bob/hub", "main", commit="c" * 40, full_model=tfhub)).text
    assert ("This push has no full model for plain Keras (its layer 'hub' is HubModule from zoo_tfhub.layer, which "
            'plain Keras cannot rebuild without that package), so `keras.saving.load_model("hf://bob/hub")` cannot '
            "load it; `zoo export RUN --format savedmodel|tflite|onnx`") in text
    assert "snapshot_download" not in text
    alone = parse(render(base_config(), {}, "bob/fe", "main", commit="c" * 40)).text
    assert "(it was pushed with `zoo push --no-full-model`), so `keras.saving.load_model(\"hf://bob/fe\")`" in alone
