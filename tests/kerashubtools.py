"""Checkpoints for the kerashub tests, made here in the layouts KerasHub reads.

- :func:`save_keras_preset`: a tiny KerasHub ResNet classifier written by KerasHub's own
  ``save_to_preset`` (backbone, image converter with ImageNet mean/std, 32 px).
- :func:`write_timm_resnet18`: what ``timm`` publishes for ``resnet18``: ``config.json``
  with ``architecture`` and ``pretrained_cfg``, and ``model.safetensors`` holding a
  PyTorch state dict under timm's names (``layer1.0.conv1.weight``, OIHW kernels).
- :func:`write_transformers_vit`: what ``transformers`` publishes for a ViT:
  ``config.json`` (``model_type = "vit"``), ``preprocessor_config.json`` and
  ``model.safetensors`` under its names (``vit.encoder.layer.0.attention.attention.query.weight``).

Weights are random (seeded); the tests check where known values end up.
:func:`publish` commits a folder to the test Hub and returns the commit sha.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def save_keras_preset(folder: Path, seed: int = 0, classes: int = 3) -> Path:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 64],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
        use_pre_activation=False, image_shape=(None, None, 3))
    converter = keras_hub.layers.ResNetImageConverter(
        image_size=(32, 32), scale=[1 / (255 * s) for s in IMAGENET_STD],
        offset=[-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)])
    preprocessor = keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter)
    keras_hub.models.ResNetImageClassifier(backbone=backbone, num_classes=classes,
                                           preprocessor=preprocessor).save_to_preset(str(folder))
    return Path(folder)


def _save_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save_file

    save_file(tensors, str(path), metadata={"format": "pt"})


def _bn(rng, prefix: str, channels: int) -> dict[str, np.ndarray]:
    return {f"{prefix}.weight": rng.uniform(0.5, 1.5, channels).astype("float32"),
            f"{prefix}.bias": rng.normal(0, 0.1, channels).astype("float32"),
            f"{prefix}.running_mean": rng.normal(0, 0.1, channels).astype("float32"),
            f"{prefix}.running_var": rng.uniform(0.5, 1.5, channels).astype("float32"),
            f"{prefix}.num_batches_tracked": np.array(0, dtype="int64")}


def _conv(rng, out: int, inp: int, k: int) -> np.ndarray:
    return (rng.normal(0, 1, (out, inp, k, k)) * np.sqrt(2.0 / (inp * k * k))).astype("float32")


def write_timm_resnet18(folder: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """timm's resnet18 (BasicBlock, [2, 2, 2, 2]) at its real size; returns the state dict."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    state = {"conv1.weight": _conv(rng, 64, 3, 7), **_bn(rng, "bn1", 64)}
    inp = 64
    for layer, width in enumerate([64, 128, 256, 512], start=1):
        for block in range(2):
            p = f"layer{layer}.{block}"
            state[f"{p}.conv1.weight"] = _conv(rng, width, inp if block == 0 else width, 3)
            state.update(_bn(rng, f"{p}.bn1", width))
            state[f"{p}.conv2.weight"] = _conv(rng, width, width, 3)
            state.update(_bn(rng, f"{p}.bn2", width))
            if block == 0 and layer > 1:
                state[f"{p}.downsample.0.weight"] = _conv(rng, width, inp, 1)
                state.update(_bn(rng, f"{p}.downsample.1", width))
        inp = width
    state["fc.weight"] = rng.normal(0, 0.01, (1000, 512)).astype("float32")
    state["fc.bias"] = np.zeros(1000, "float32")
    _save_safetensors(folder / "model.safetensors", state)
    config = {"architecture": "resnet18", "num_classes": 1000, "num_features": 512, "global_pool": "avg",
              "pretrained_cfg": {"tag": "a1_in1k", "custom_load": False, "input_size": [3, 224, 224],
                                 "test_input_size": [3, 288, 288], "fixed_input_size": False,
                                 "interpolation": "bicubic", "crop_pct": 0.95, "test_crop_pct": 1.0,
                                 "crop_mode": "center", "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
                                 "num_classes": 1000, "pool_size": [7, 7], "first_conv": "conv1",
                                 "classifier": "fc", "license": "apache-2.0"}}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "README.md").write_text("---\ntags:\n- image-classification\n- timm\nlibrary_name: timm\n"
                                      "license: apache-2.0\n---\n# resnet18, random weights for tests\n")
    return state


def write_transformers_vit(folder: Path, seed: int = 0, *, size: int = 32, patch: int = 8, hidden: int = 16,
                           layers: int = 2, heads: int = 2, mlp: int = 32, classes: int = 3) -> dict[str, np.ndarray]:
    """A tiny ``ViTForImageClassification`` checkpoint; returns the state dict."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    def w(*shape):
        return rng.normal(0, 0.2, shape).astype("float32")

    tokens = (size // patch) ** 2 + 1
    state = {"vit.embeddings.cls_token": w(1, 1, hidden), "vit.embeddings.position_embeddings": w(1, tokens, hidden),
             "vit.embeddings.patch_embeddings.projection.weight": w(hidden, 3, patch, patch),
             "vit.embeddings.patch_embeddings.projection.bias": w(hidden)}
    for i in range(layers):
        p = f"vit.encoder.layer.{i}"
        for part in ("query", "key", "value"):
            state[f"{p}.attention.attention.{part}.weight"] = w(hidden, hidden)
            state[f"{p}.attention.attention.{part}.bias"] = w(hidden)
        state[f"{p}.attention.output.dense.weight"] = w(hidden, hidden)
        state[f"{p}.attention.output.dense.bias"] = w(hidden)
        for norm in ("layernorm_before", "layernorm_after"):
            state[f"{p}.{norm}.weight"] = 1 + w(hidden) * 0.1
            state[f"{p}.{norm}.bias"] = w(hidden) * 0.1
        state[f"{p}.intermediate.dense.weight"] = w(mlp, hidden)
        state[f"{p}.intermediate.dense.bias"] = w(mlp)
        state[f"{p}.output.dense.weight"] = w(hidden, mlp)
        state[f"{p}.output.dense.bias"] = w(hidden)
    state["vit.layernorm.weight"] = 1 + w(hidden) * 0.1
    state["vit.layernorm.bias"] = w(hidden) * 0.1
    state["classifier.weight"] = w(classes, hidden)
    state["classifier.bias"] = w(classes)
    _save_safetensors(folder / "model.safetensors", state)
    config = {"architectures": ["ViTForImageClassification"], "model_type": "vit", "image_size": size,
              "patch_size": patch, "num_channels": 3, "hidden_size": hidden, "num_hidden_layers": layers,
              "num_attention_heads": heads, "intermediate_size": mlp, "hidden_act": "gelu",
              "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02,
              "layer_norm_eps": 1e-12, "qkv_bias": True, "encoder_stride": 16,
              "id2label": {str(i): f"class{i}" for i in range(classes)},
              "label2id": {f"class{i}": i for i in range(classes)}, "transformers_version": "4.46.0"}
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (folder / "preprocessor_config.json").write_text(json.dumps({
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5], "image_processor_type": "ViTImageProcessor", "resample": 2,
        "rescale_factor": 1 / 255, "size": {"height": size, "width": size}}, indent=2))
    (folder / "pytorch_model.bin").write_bytes(b"a pickle zoo must never fetch")
    return state


def publish(hub, repo_id: str, folder: Path, message: str = "upload") -> str:
    """Commit every file of ``folder`` to ``repo_id`` on the test Hub (created if missing); the commit sha."""
    store = hub.server.store
    owner = repo_id.split("/")[0]
    if not store.exists(repo_id):
        store.create(repo_id, owner, private=False)
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}
    return store.commit(repo_id, "main", owner, files, [], message, "")
