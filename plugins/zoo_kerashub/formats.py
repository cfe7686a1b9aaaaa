"""What a preset folder's JSON files say: its format, input size, pixel scaling, stages.

Three formats share ``config.json`` (the test KerasHub itself uses): a KerasHub preset
(``registered_name``), a timm checkpoint (``architecture`` and ``pretrained_cfg``) and a
transformers one (``model_type``, with ``preprocessor_config.json`` beside it). Reading
them is plain JSON: no KerasHub, no TensorFlow. The stages name layers of the model
KerasHub builds (``stack0_...`` for ResNets, ``transformer_block_N`` for ViT, ``layers_N``
for DINOv2); a ``$`` ends a name matched exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.api import UsageError

# pixel scaling on the [0, 1] scale -> zoo's preprocessing modes (see zoo.api.PREPROCESSING_MODES)
KNOWN_SCALINGS = {
    "torch": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "tf": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "unit": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "none": ((0.0, 0.0, 0.0), (1 / 255, 1 / 255, 1 / 255)),
}
TOLERANCE = 2e-3
FIXED_SIZE_ARCHITECTURES = ("vit", "deit")
"""KerasHub backbones whose learnt position embeddings fix the input size they were saved with."""


@dataclass(frozen=True)
class PresetFacts:
    """What the files tell; ``None`` where they do not say."""

    kind: str  # keras | timm | transformers
    architecture: str
    input_size: int | None
    fixed_size: bool
    min_input_size: int | None
    preprocessing: str | None
    stages: tuple[tuple[str, tuple[str, ...]], ...]
    pooling: str  # avg (feature maps) | token (the class token)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"KerasHub preset file {path} is not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"KerasHub preset file {path} is not a JSON object")
    return data


def scaling_mode(mean, std, where: str) -> str:
    """The preprocessing mode whose per-channel mean and std (on [0, 1]) these are."""
    mean3 = [float(m) for m in (mean if isinstance(mean, (list, tuple)) else [mean] * 3)]
    std3 = [float(s) for s in (std if isinstance(std, (list, tuple)) else [std] * 3)]
    for mode, (want_mean, want_std) in KNOWN_SCALINGS.items():
        if len(mean3) == 3 and len(std3) == 3 and all(abs(a - b) < TOLERANCE for a, b in zip(mean3, want_mean)) \
                and all(abs(a - b) <= TOLERANCE * b for a, b in zip(std3, want_std)):
            return mode
    raise UsageError(f"{where}: mean {mean3} and std {std3} match none of zoo's preprocessing modes "
                     "(torch, tf, unit, none); add a registry entry for it with the preprocessing to use")


def _converter_mode(converter: dict[str, Any], where: str) -> str:
    """A KerasHub ImageConverter's ``x * scale + offset`` (x in [0, 255]) as a mode."""
    scale, offset = converter.get("scale"), converter.get("offset")
    if scale is None and offset is None:
        return "none"
    scale = scale if isinstance(scale, list) else [1.0 if scale is None else scale] * 3
    offset = offset if isinstance(offset, list) else [0.0 if offset is None else offset] * 3
    std = [1.0 / (255.0 * s) for s in scale]
    mean = [-o / (255.0 * s) for o, s in zip(offset, scale)]
    return scaling_mode(mean, std, where)


def resnet_stages(num_stacks: int, pre_activation: bool = False) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """KerasHub's ResNet: the stem, one stage per stack; ResNet v2's final BatchNorm goes with the last."""
    stacks = [(f"stack{i}", (f"stack{i}_",)) for i in range(num_stacks)]
    if pre_activation and stacks:
        stacks[-1] = (stacks[-1][0], (*stacks[-1][1], "post_"))
    return (("stem", ("conv1_", "pool1_")), *stacks)


def block_stages(embed: tuple[str, ...], blocks: list[str], final: tuple[str, ...]) -> tuple:
    """Embedding, then one stage per block (exact names), the last one with the final norm."""
    stages = [("embed", embed)]
    for i, block in enumerate(blocks):
        last = i == len(blocks) - 1
        stages.append((f"block{i + 1}", (f"{block}$", *(final if last else ()))))
    return tuple(stages)


def vit_stages(layers: int) -> tuple:
    return block_stages(("vit_patching_and_embedding$", "patch_embedding$", "position_embedding$"),
                        [f"transformer_block_{i + 1}" for i in range(layers)], ("ln$",))


def dinov2_stages(layers: int) -> tuple:
    return block_stages(("embeddings$", "patch_embeddings$", "projection$"),
                        [f"layers_{i}" for i in range(layers)], ("layernorm$",))


def _stages_for(architecture: str, config: dict[str, Any]) -> tuple:
    arch = architecture.lower()
    if "resnet" in arch:
        stacks = len(config.get("stackwise_num_filters") or [64, 128, 256, 512])
        return resnet_stages(stacks, bool(config.get("use_pre_activation")))
    if arch.startswith(("vit", "deit")):
        return vit_stages(int(config.get("num_layers") or config.get("num_hidden_layers") or 0))
    if "dinov2" in arch:
        return dinov2_stages(int(config.get("num_layers") or config.get("num_hidden_layers") or 0))
    return ()


def describe_folder(folder: Path, where: str) -> PresetFacts:
    """The facts of the preset in ``folder`` (its config.json decides the format)."""
    config = read_json(folder / "config.json")
    if "registered_name" in config:
        return _keras(folder, config, where)
    if "architecture" in config:
        return _timm(config, where)
    if "model_type" in config:
        return _transformers(folder, config, where)
    raise UsageError(f"{where}: config.json is neither a KerasHub preset, a timm nor a transformers config")


def _keras(folder: Path, config: dict[str, Any], where: str) -> PresetFacts:
    name = str(config.get("registered_name") or config.get("class_name"))
    body = config.get("config") or {}
    shape = body.get("image_shape") or [None, None, 3]
    arch = name.split(">")[-1].replace("Backbone", "").lower()
    # a saved size binds only a model whose position embeddings cannot be resized (ViT, DeiT);
    # convolutional backbones and DINOv2 (interpolated) / DINOv3 (rotary) are rebuilt at any size
    fixed = shape[0] is not None and arch in FIXED_SIZE_ARCHITECTURES
    converter = None
    if (folder / "image_converter.json").is_file():
        converter = read_json(folder / "image_converter.json").get("config")
    elif (folder / "preprocessor.json").is_file():
        pre = read_json(folder / "preprocessor.json").get("config") or {}
        converter = (pre.get("image_converter") or {}).get("config")
    mode = _converter_mode(converter, where) if converter else "none"
    size = int(shape[0]) if shape[0] is not None else None
    if converter and converter.get("image_size") and not fixed:  # a fixed size is the one saved
        size = int(converter["image_size"][0])
    pooling = "token" if arch.startswith(("vit", "dinov2", "dinov3", "deit")) else "avg"
    return PresetFacts("keras", name, size, fixed, None if fixed else 32, mode, _stages_for(arch, body), pooling)


def _timm(config: dict[str, Any], where: str) -> PresetFacts:
    arch = str(config["architecture"])
    pre = config.get("pretrained_cfg") or {}
    size = pre.get("input_size")
    mode = scaling_mode(pre["mean"], pre["std"], where) if "mean" in pre and "std" in pre else None
    stages = resnet_stages(4, arch.startswith("resnetv2")) if arch.startswith("resnet") else ()
    return PresetFacts("timm", arch, int(size[-1]) if size else None, False, 32, mode, stages, "avg")


def _transformers(folder: Path, config: dict[str, Any], where: str) -> PresetFacts:
    model_type = str(config["model_type"])
    if model_type not in ("vit", "deit", "dinov2", "dinov2_with_registers", "dinov3_vit"):
        raise UsageError(f"{where}: transformers model type '{model_type}' is not an image backbone zoo knows "
                         "(vit, deit, dinov2, dinov3_vit)")
    pre = read_json(folder / "preprocessor_config.json") if (folder / "preprocessor_config.json").is_file() else {}
    mode = None
    if pre.get("do_normalize", True) and "image_mean" in pre:
        mode = scaling_mode(pre["image_mean"], pre["image_std"], where)
    elif pre and not pre.get("do_normalize", True):
        mode = "unit" if pre.get("do_rescale", True) else "none"
    crop = pre.get("crop_size") if pre.get("do_center_crop") else None
    size = (crop or {}).get("height") if isinstance(crop, dict) else crop
    size = size or config.get("image_size")
    layers = int(config.get("num_hidden_layers") or 0)
    fixed = model_type in ("vit", "deit")
    stages = vit_stages(layers) if fixed else (dinov2_stages(layers) if model_type.startswith("dinov2") else ())
    patch = int(config.get("patch_size") or 16)
    return PresetFacts("transformers", model_type, int(size) if size else None, fixed,
                       None if fixed else patch * 2, mode, stages, "token")
