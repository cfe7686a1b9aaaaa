"""ONNX through ``tf2onnx``, checked in onnxruntime.

The model's inference function is frozen (variables and captured constants become graph
constants) and that graph converted: Keras' own ``export(format="onnx")`` leaves the
constants of a ``Normalization`` layer (our ``torch`` preprocessing) as unfed graph
inputs with tf2onnx 1.17, and onnxruntime then refuses to run the model.

``dynamic`` and ``int8`` are onnxruntime's quantizers: weights only, or weights and
activations calibrated on the run's training images (QDQ format); input and output stay
float32 pixels and probabilities.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

from zoo.errors import UsageError, ZooError


def _needs(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"ONNX export needs the '{module.split('.')[0]}' package: pip install 'zoo[export]'") from None


def convert(model, path: Path) -> None:
    import tensorflow as tf
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="image")
    frozen = convert_variables_to_constants_v2(tf.function(lambda x: model(x, training=False)).get_concrete_function(spec))
    tf2onnx.convert.from_graph_def(frozen.graph.as_graph_def(), input_names=[t.name for t in frozen.inputs],
                                   output_names=[t.name for t in frozen.outputs], output_path=str(path))


def write(model, path: Path, *, quantize: str = "none", calibration=None) -> str:
    _needs("tf2onnx")
    ort = _needs("onnxruntime")
    with tempfile.TemporaryDirectory(prefix="zoo-onnx-") as work:
        plain = Path(work) / "model.onnx" if quantize != "none" else path
        try:
            convert(model, plain)
        except Exception as exc:  # tf2onnx raises whatever the graph's unsupported op gives it
            raise ZooError(f"tf2onnx could not convert this model: {type(exc).__name__}: "
                           f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}") from None
        with _quiet_root_logger():  # onnxruntime's quantizers warn through the root logger on every call
            _quantize(ort, plain, path, quantize, calibration)
    return f"onnxruntime {ort.__version__} (CPUExecutionProvider)"


@contextlib.contextmanager
def _quiet_root_logger():
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _quantize(ort, plain: Path, path: Path, quantize: str, calibration) -> None:
    """onnxruntime's quantizers, from the float model at ``plain`` to ``path`` (nothing to do for "none")."""
    if quantize == "dynamic":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(plain), str(path), weight_type=QuantType.QInt8)
    elif quantize == "int8":
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        name = ort.InferenceSession(str(plain), providers=["CPUExecutionProvider"]).get_inputs()[0].name

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.images = iter(calibration)

            def get_next(self):
                image = next(self.images, None)
                return None if image is None else {name: image[None].astype("float32")}

        quantize_static(str(plain), str(path), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def predict(path: Path, images):
    import numpy as np

    ort = _needs("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.concatenate([session.run(None, {name: images[i:i + 64]})[0] for i in range(0, len(images), 64)], axis=0)
