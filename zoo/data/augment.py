"""``--augment flip,rotation=0.1,...``: parsed before training, applied as Keras layers on batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from zoo.errors import UsageError

# -- augmentation --------------------------------------------------------------------

FLIP_MODES = {"horizontal": "horizontal", "vertical": "vertical", "both": "horizontal_and_vertical",
              "horizontal_and_vertical": "horizontal_and_vertical"}


@dataclass(frozen=True)
class Augmentation:
    """Random training-time changes; a zero factor (or no flip) leaves that one out.

    ``rotation`` is a fraction of a full turn (0.1: up to +-36 degrees), ``zoom`` a
    fraction of the size (in or out), ``contrast`` the largest relative change, ``invert``
    the chance that an image's values are inverted (255 - x: dark ink on light paper for
    light on dark, a shift of contrast polarity that no normalisation undoes).
    """

    flip: str | None = None
    rotation: float = 0.0
    zoom: float = 0.0
    contrast: float = 0.0
    invert: float = 0.0

    DEFAULTS = {"flip": "horizontal", "rotation": 0.1, "zoom": 0.1, "contrast": 0.2, "invert": 0.5}
    SCALES = ("rotation", "zoom", "contrast", "invert")

    def __post_init__(self) -> None:
        if self.flip is not None and self.flip not in FLIP_MODES:
            raise UsageError(f"flip must be horizontal, vertical or both, not {self.flip!r}")
        for name in self.SCALES:
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
                raise UsageError(f"augmentation {name} must be a number in [0, 1), not {value!r}")

    @property
    def enabled(self) -> bool:
        return bool(self.flip) or any(getattr(self, name) for name in self.SCALES)

    @classmethod
    def parse(cls, text: str | None) -> "Augmentation":
        """``"flip,rotation=0.1,zoom"`` -> an Augmentation; names alone take DEFAULTS.

        ``""``, ``"none"`` or ``"off"`` mean no augmentation, ``"all"`` every kind at its default
        but ``invert`` (which suits drawings and scans, not photographs: ask for it by name).
        """
        text = (text or "").strip()
        if text.lower() in ("", "none", "off", "no", "false"):
            return cls()
        values: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = (s.strip() for s in item.partition("="))
            name = name.lower()
            if name == "all" and not sep:
                values.update({k: v for k, v in cls.DEFAULTS.items() if k != "invert"})
                continue
            if name not in cls.DEFAULTS:
                raise UsageError(f"unknown augmentation {name!r}; choose from {', '.join(cls.DEFAULTS)} "
                                 f"(e.g. --augment flip,rotation=0.1)")
            if not sep:
                values[name] = cls.DEFAULTS[name]
            elif name == "flip":
                values[name] = value.lower()
            else:
                try:
                    values[name] = float(value)
                except ValueError:
                    raise UsageError(f"augmentation {name}={value!r}: expected a number, e.g. {name}=0.1") from None
        return cls(**values)

    def __str__(self) -> str:
        parts = [f"flip={self.flip}"] if self.flip else []
        parts += [f"{name}={getattr(self, name):g}" for name in self.SCALES if getattr(self, name)]
        return ",".join(parts) or "none"

    def layers(self, seed: int = 0) -> list:
        """Keras preprocessing layers doing this augmentation on [0, 255] batches."""
        import keras

        result = []
        if self.flip:
            result.append(keras.layers.RandomFlip(FLIP_MODES[self.flip], seed=seed))
        if self.rotation:
            result.append(keras.layers.RandomRotation(self.rotation, fill_mode="reflect", seed=seed + 1))
        if self.zoom:
            result.append(keras.layers.RandomZoom((-self.zoom, self.zoom), fill_mode="reflect", seed=seed + 2))
        if self.contrast:
            result.append(keras.layers.RandomContrast(self.contrast, value_range=(0, 255), seed=seed + 3))
        if self.invert:  # (p, p): Keras draws the chance itself from [0, p] when given one number
            result.append(keras.layers.RandomInvert((self.invert, self.invert), value_range=(0, 255), seed=seed + 4))
        return result
