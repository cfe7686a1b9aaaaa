"""SavedModel for TF Serving: the whole graph, TF Hub modules included; checked through ``tf.saved_model.load``."""

from __future__ import annotations

from pathlib import Path


def write(model, path: Path, *, quantize: str = "none", calibration=None) -> str:
    model.export(str(path), format="tf_saved_model", verbose=False)
    import tensorflow as tf

    return f"TensorFlow {tf.__version__} (tf.saved_model.load, serve endpoint)"


def predict(path: Path, images):
    import numpy as np
    import tensorflow as tf

    served = tf.saved_model.load(str(path))
    return np.concatenate([np.asarray(served.serve(tf.constant(images[i:i + 64])))
                           for i in range(0, len(images), 64)], axis=0)
