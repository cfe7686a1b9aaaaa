"""One training stage's settings, read from CLI flags or a pipeline TOML file.

Both routes produce the same :class:`StageConfig`, and a config prints back as TOML
(``zoo train ... --print-config``), so a command line can be turned into a file and
the file run again with ``zoo run``.

A pipeline file is either one stage (keys at the top level) or several::

    [[stages]]
    name = "source"
    backbone = "alexnet-small"
    dataset = "digits"
    out = "runs/source"
    [stages.strategy]
    name = "fine-tuning"
    unfreeze = "all"

    [[stages]]
    name = "target"
    from = "source"        # an earlier stage's name, a run folder or hf://repo
    dataset = "digits-m"
    out = "runs/target"
    [stages.strategy]
    name = "feature-extraction"

Unknown keys are errors naming the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import ConfigError, UsageError
from zoo.plugin.specs import OptionSpec, StrategySpec

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")
DISTRIBUTIONS = ("none", "mirrored", "multi-worker")
BAD_IMAGE_POLICIES = ("skip", "fail")
NORMALIZATIONS = ("backbone", "standardize", "unit", "symmetric")
"""backbone: the backbone's own preprocessing (default); standardize: zero mean, unit
variance per channel from the training images; unit: [0, 1]; symmetric: [-1, 1]."""
SCHEDULES = ("constant", "cosine", "step")
"""``--schedule`` (see :mod:`zoo.train.schedules`); ``None`` in a config means constant."""


@dataclass
class StageConfig:
    backbone: str | None = None
    strategy: str = "feature-extraction"
    dataset: str | None = None
    target: str | None = None
    image_size: int | None = None
    epochs: int = 5
    batch_size: int = 32
    lr: float = 1e-3
    weights: str = "default"
    from_run: str | None = None
    out: str | None = None
    seed: int = 0
    val_split: float = 0.2
    shots: int | None = None
    on_bad_image: str = "skip"
    augment: str | None = None
    normalization: str = "backbone"
    precision: str = "float32"
    distribute: str = "none"
    name: str | None = None
    early_stopping: int | None = None
    class_weight: str | None = None
    schedule: str | None = None
    warmup: int | None = None
    strategy_options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The TOML-shaped view: ``from`` for ``from_run``, strategy as a table, no Nones."""
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("strategy", "strategy_options") or value is None:
                continue
            data["from" if f.name == "from_run" else f.name] = value
        data["strategy"] = {"name": self.strategy, **self.strategy_options}
        return data


def default_out(config: StageConfig) -> Path:
    """``runs/BACKBONE-STRATEGY-TIME``: where a run goes when no ``out`` is given."""
    backbone = (config.backbone or "from-run").replace(":", "-").replace("/", "-")[:40]
    return Path("runs") / f"{backbone}-{config.strategy}-{time.strftime('%Y%m%d-%H%M%S')}"


TOP_LEVEL_KEYS = {
    "from" if f.name == "from_run" else f.name
    for f in dataclasses.fields(StageConfig)
    if f.name != "strategy_options"
}
TYPES: dict[str, tuple[type, ...]] = {
    "backbone": (str,), "dataset": (str,), "target": (str,), "weights": (str,), "from": (str,),
    "out": (str,), "augment": (str,), "name": (str,), "image_size": (int,), "epochs": (int,),
    "batch_size": (int,), "seed": (int,), "shots": (int,), "lr": (float, int), "val_split": (float, int),
    "on_bad_image": (str,), "normalization": (str,), "precision": (str,), "distribute": (str,),
    "early_stopping": (int,), "class_weight": (str,), "schedule": (str,), "warmup": (int,),
}
CHOICES = {
    "on_bad_image": BAD_IMAGE_POLICIES,
    "normalization": NORMALIZATIONS,
    "precision": PRECISIONS,
    "distribute": DISTRIBUTIONS,
    "schedule": SCHEDULES,
}


def coerce_option(option: OptionSpec, value: Any, where: str) -> Any:
    """Convert a CLI string or TOML value to the option's type, with a clear error."""
    if value is None:
        return None
    try:
        if option.type == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if option.type == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if option.type == "bool":
            if isinstance(value, bool):
                return value
            lowered = str(value).lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if option.type == "choice":
            if str(value) not in option.choices:
                raise ConfigError(f"{where}: '{option.name}' must be one of {', '.join(option.choices)}, got {value!r}")
            return str(value)
        return str(value)
    except ValueError:
        raise ConfigError(f"{where}: '{option.name}' must be {'an' if option.type == 'int' else 'a'} "
                          f"{option.type}, got {value!r}") from None


def check_bounds(option: OptionSpec, value: Any, where: str) -> Any:
    """A number inside the option's ``min``/``max`` (inclusive, either may be absent), else a ConfigError."""
    if value is None or option.type not in ("int", "float"):
        return value
    low, high = option.min, option.max
    if low is not None and value < low:
        raise ConfigError(f"{where}: '{option.name}' must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{where}: '{option.name}' must be <= {high}, got {value!r}")
    return value


def did_you_mean(name: str, known) -> str:
    """`` (did you mean 'x'?)`` for a near miss among ``known``, else nothing."""
    from zoo.errors import closest_names

    close = closest_names(name, sorted(known))
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


def resolve_strategy_options(spec: StrategySpec, given: dict[str, Any], where: str) -> dict[str, Any]:
    """The strategy's options with defaults filled in; unknown names and values out of bounds are errors."""
    known = {o.name: o for o in spec.options}
    for key in given:
        if key not in known:
            names = ", ".join(sorted(known)) or "none"
            raise ConfigError(f"{where}: unknown option '{key}' for strategy '{spec.name}'{did_you_mean(key, known)} "
                              f"(its options: {names})")
    return {name: check_bounds(o, coerce_option(o, given[name], where), where) if name in given else o.default
            for name, o in known.items()}


def stage_from_mapping(data: dict[str, Any], where: str) -> StageConfig:
    """Build a stage from a TOML table (or the CLI's equivalent)."""
    config = StageConfig()
    for key, value in data.items():
        if key == "strategy":
            continue
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(f"{where}: unknown key '{key}'{did_you_mean(key, TOP_LEVEL_KEYS)} "
                              f"(known keys: {', '.join(sorted(TOP_LEVEL_KEYS))})")
        kinds = TYPES[key]
        if not isinstance(value, kinds) or isinstance(value, bool):
            raise ConfigError(f"{where}: '{key}' must be {' or '.join(k.__name__ for k in kinds)}, got {value!r}")
        if key in CHOICES and value not in CHOICES[key]:
            raise ConfigError(f"{where}: '{key}' must be one of {', '.join(CHOICES[key])}, got {value!r}")
        setattr(config, "from_run" if key == "from" else key, float(value) if float in kinds else value)
    strategy = data.get("strategy", {})
    if isinstance(strategy, str):
        strategy = {"name": strategy}
    if not isinstance(strategy, dict):
        raise ConfigError(f"{where}: 'strategy' must be a name or a table with 'name' and its options")
    strategy = dict(strategy)
    config.strategy = strategy.pop("name", config.strategy)
    config.strategy_options = strategy
    check_stage(config, where)
    return config


def check_stage(config: StageConfig, where: str) -> None:
    for key in ("epochs", "batch_size"):
        if getattr(config, key) < 1:
            raise ConfigError(f"{where}: '{key}' must be >= 1, got {getattr(config, key)}")
    if config.early_stopping is not None and config.early_stopping < 1:
        raise ConfigError(f"{where}: 'early_stopping' is a patience in epochs and must be >= 1, "
                          f"got {config.early_stopping} (leave it out to train every epoch)")
    if config.warmup is not None and config.warmup < 0:
        raise ConfigError(f"{where}: 'warmup' must be >= 0 epochs, got {config.warmup}")
    if config.shots is not None and config.shots < 1:
        raise ConfigError(f"{where}: 'shots' must be >= 1, got {config.shots}")
    if config.image_size is not None and config.image_size < 1:
        raise ConfigError(f"{where}: 'image_size' must be >= 1, got {config.image_size}")
    if config.lr <= 0:
        raise ConfigError(f"{where}: 'lr' must be > 0, got {config.lr}")
    if not 0 <= config.val_split < 1:
        raise ConfigError(f"{where}: 'val_split' must be in [0, 1), got {config.val_split}")
    from zoo.train.class_weights import check_class_weight

    check_class_weight(config.class_weight, where)
    if config.dataset is None:
        raise ConfigError(f"{where}: 'dataset' is required (e.g. dataset = \"folder:data/pets\")")
    if config.backbone is None and config.from_run is None:
        raise ConfigError(f"{where}: give a 'backbone', or 'from' to start from an earlier run")


def read_pipeline(path: str | Path) -> list[StageConfig]:
    """The stages of a pipeline TOML file, in order, each checked."""
    from zoo.registry.layers import read_toml

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"pipeline file '{path}' does not exist")
    doc = read_toml(path, "pipeline")
    if "stages" in doc:
        extra = sorted(set(doc) - {"stages"})
        if extra:
            raise ConfigError(f"{path}: unknown key '{extra[0]}' beside [[stages]]; put settings inside each stage")
        if not isinstance(doc["stages"], list) or not doc["stages"]:
            raise ConfigError(f"{path}: 'stages' must be a non-empty array of tables ([[stages]])")
        for i, table in enumerate(doc["stages"]):
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: stage {i + 1} must be a table of settings ([[stages]] followed by "
                                  f"key = value lines), got {table!r}")
        stages = [stage_from_mapping(s, f"{path}: stage {stage_label(s, i)}") for i, s in enumerate(doc["stages"])]
    else:
        stages = [stage_from_mapping(doc, str(path))]
    names = [s.name for s in stages if s.name]
    if len(names) != len(set(names)):
        raise ConfigError(f"{path}: stage names must be unique, got {names}")
    for i, stage in enumerate(stages):
        if stage.out is None:
            stage.out = str(Path("runs") / (stage.name or f"{path.stem}-{i + 1}"))
    return stages


def stage_label(stage: StageConfig | dict[str, Any], index: int) -> str:
    """How every message names a stage of a pipeline file: its ``name``, else its position from 1."""
    name = stage.get("name") if isinstance(stage, dict) else stage.name
    return name if isinstance(name, str) and name else str(index + 1)


def stage_to_toml(config: StageConfig) -> str:
    import tomli_w

    return tomli_w.dumps(config.to_dict())
