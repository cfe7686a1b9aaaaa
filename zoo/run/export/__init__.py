"""``zoo export``: a run as one full model (preprocessing, backbone, head) for another runtime.

Every format takes raw RGB pixels (float32, ``[0, 255]``, the run's input size) and gives
class probabilities, as the Keras model does. An export is checked before it is called
done: it is written to a temporary path, run in its own runtime (plain Keras in a process
that cannot import zoo, TensorFlow's SavedModel loader, the LiteRT interpreter,
onnxruntime) on a few of the run's images, and compared with the Keras model. Only then is
it renamed into place, with the agreement beside it (``OUT.check.json``). A float export
that disagrees is refused; a quantized one reports how far it moved.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from zoo.errors import UsageError, ZooError

FORMATS = ("keras", "savedmodel", "tflite", "onnx")
QUANTIZATIONS = ("none", "dynamic", "int8")
QUANTIZABLE = {"tflite": QUANTIZATIONS, "onnx": QUANTIZATIONS}
SUFFIX = {"keras": ".keras", "tflite": ".tflite", "onnx": ".onnx"}
FLOAT_TOLERANCE = 1e-4
"""Largest probability difference a float export may show against the Keras model."""
CHECK_IMAGES = 32
INPUT_RESIZE = ("the whole image to SIZE x SIZE, aspect ratio not kept: tf.image.resize(image, [SIZE, SIZE], "
          "method=\"bilinear\", antialias=True), then clipped to [0, 255]")
"""How zoo turns an image file into model input (zoo.data.tfdata); other resizes give other probabilities."""
CALIBRATION_IMAGES = 100


@dataclass
class Exported:
    path: Path
    check: dict[str, Any]  # what OUT.check.json holds

    def summary(self) -> str:
        c = self.check
        return (f"checked in {c['runtime']} on {c['images']} images ({c['images_from']}): top-1 agreement "
                f"{c['top1_agreement']:.4f}, max probability difference {c['max_prob_diff']:.2e}")


def check_path(out: Path) -> Path:
    """Where the agreement of the export at ``out`` is kept."""
    return out.with_name(out.name + ".check.json")


def check_request(loaded, out: Path, fmt: str, quantize: str) -> None:
    """Everything about the request that can be refused before any work."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format '{fmt}'; use one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZATIONS:
        raise UsageError(f"unknown quantization '{quantize}'; use one of {', '.join(QUANTIZATIONS)}")
    if quantize != "none" and quantize not in QUANTIZABLE.get(fmt, ()):
        raise UsageError(f"--quantize {quantize} applies to tflite and onnx exports, not {fmt}; "
                         "drop --quantize or pick --format tflite|onnx")
    suffix = SUFFIX.get(fmt)
    if suffix and out.suffix != suffix:
        article = "an" if fmt[0] in "aeiou" else "a"
        raise UsageError(f"{article} {fmt} export must be a {suffix} file, got '{out}'")
    for path in (out, check_path(out)):
        if path.exists() or path.is_symlink():
            raise UsageError(f"'{path}' already exists; pass another --out or remove it")
    if fmt == "keras":
        from zoo.run.export.keras_file import plain_keras_obstacle

        reason = plain_keras_obstacle(loaded.model)
        if reason:
            raise UsageError(f"cannot export run '{loaded.run.path}' as a .keras file for plain Keras: {reason}; "
                             "use --format savedmodel, tflite or onnx, which hold the whole graph")


def compare(expected, got) -> dict[str, Any]:
    """Top-1 match rate and largest probability difference between two (N, classes) arrays."""
    import numpy as np

    expected, got = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    if got.shape != expected.shape:
        raise ZooError(f"the exported model gives outputs of shape {got.shape}, the Keras model {expected.shape}")
    return {"images": int(len(expected)),
            "top1_agreement": float(np.mean(np.argmax(got, -1) == np.argmax(expected, -1))),
            "max_prob_diff": float(np.max(np.abs(got - expected)))}


def export_run(loaded, out: str | os.PathLike, fmt: str, *, quantize: str = "none", calibration: str | None = None,
               catalog=None, log: Callable[[str], None] | None = None) -> Exported:
    """Write the run's full model as ``fmt``, checked in its own runtime first (see the module doc)."""
    out = Path(out)
    check_request(loaded, out, fmt, quantize)
    return write_checked(loaded, out, fmt, quantize=quantize, calibration=calibration, catalog=catalog, log=log)


def write_checked(loaded, out: Path, fmt: str, *, quantize: str = "none", calibration: str | None = None,
                  catalog=None, log: Callable[[str], None] | None = None) -> Exported:
    """The writing and checking of :func:`export_run`, for any writer in ``formats.WRITERS`` (the Keras
    folder that ``zoo push`` uploads among them), once the request is known to be sound."""
    from zoo.run.export import formats
    from zoo.run.export.samples import export_samples
    from zoo.util.files import atomic_write_text

    samples = export_samples(loaded, calibration, calibrate=quantize == "int8", catalog=catalog,
                             check=CHECK_IMAGES, calibration_count=CALIBRATION_IMAGES)
    if samples.note and log:
        log(samples.note)
    import numpy as np

    expected = np.asarray(loaded.model.predict(samples.check, verbose=0))
    writer = formats.WRITERS[fmt]
    with formats.staged(out, directory=fmt in formats.DIRECTORIES) as tmp:
        runtime = writer.write(loaded.model, tmp, quantize=quantize, calibration=samples.calibration)
        agreement = compare(expected, writer.predict(tmp, samples.check))
        if quantize == "none" and (agreement["top1_agreement"] < 1.0 or agreement["max_prob_diff"] > FLOAT_TOLERANCE):
            raise ZooError(f"the {fmt} export of '{loaded.run.path}' disagrees with the Keras model in {runtime} "
                           f"(top-1 agreement {agreement['top1_agreement']:.4f}, max probability difference "
                           f"{agreement['max_prob_diff']:.2e}, allowed {FLOAT_TOLERANCE:g}); nothing was written")
    check = {"format": fmt, "quantize": quantize, "runtime": runtime, **agreement, "images_from": samples.source,
             "calibration": samples.calibration_source if quantize == "int8" else None,
             "input": input_contract(loaded)}
    atomic_write_text(check_path(out), json.dumps(check, indent=2) + "\n")
    return Exported(path=out, check=check)


def input_contract(loaded) -> dict[str, Any]:
    """What every export takes: the same pixels zoo's own pipeline makes (see zoo.data.tfdata)."""
    size = int(loaded.backbone.input_size)
    return {"name": "image", "shape": [None, size, size, int(loaded.backbone.spec.channels)], "dtype": "float32",
            "range": [0, 255], "color": "RGB" if loaded.backbone.spec.channels == 3 else "grayscale",
            "resize": INPUT_RESIZE}
