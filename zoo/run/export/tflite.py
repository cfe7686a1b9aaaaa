"""TFLite (LiteRT) through ``tf.lite.TFLiteConverter``, checked in the LiteRT interpreter.

The converter reads a SavedModel of the full model, so whatever a SavedModel holds
(TF Hub modules included) converts. ``dynamic`` stores weights as int8; ``int8`` also
quantizes activations, calibrated on the run's training images, with float32 input and
output kept so the model still takes raw pixels and gives probabilities.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from zoo.errors import ZooError


def write(model, path: Path, *, quantize: str = "none", calibration=None) -> str:
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="zoo-tflite-") as work:
        saved = Path(work) / "saved_model"
        model.export(str(saved), format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        if quantize in ("dynamic", "int8"):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "int8":
            def representative():
                for image in calibration:
                    yield [image[None].astype("float32")]

            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        try:
            flatbuffer = converter.convert()
        except Exception as exc:  # the converter reports unsupported ops with its own exception types
            raise ZooError(f"the TFLite converter could not convert this model ({quantize} quantization): "
                           f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}") from None
    path.write_bytes(flatbuffer)
    return runtime_name()


def interpreter_class():
    """LiteRT's interpreter (``ai-edge-litert``, the supported one), else TensorFlow's deprecated ``tf.lite`` one."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter
    return Interpreter


def runtime_name() -> str:
    cls = interpreter_class()
    if cls.__module__.startswith("ai_edge_litert"):
        from importlib.metadata import version

        return f"LiteRT interpreter (ai-edge-litert {version('ai-edge-litert')})"
    import tensorflow as tf

    return f"TensorFlow Lite interpreter (tensorflow {tf.__version__})"


class Runner:
    """One image at a time through the interpreter, as a phone runs it."""

    def __init__(self, path: Path):
        self.interpreter = interpreter_class()(model_path=str(path), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    def __call__(self, image):
        self.interpreter.set_tensor(self.input, image[None].astype("float32"))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)[0]


def predict(path: Path, images):
    import numpy as np

    run = Runner(path)
    return np.stack([run(image) for image in images])
