"""What a run adds to its TensorBoard logs besides Keras' per-epoch scalars: the evaluation.

``logs/evaluation/`` gets the confusion matrix of the split the run was scored on, as an
image (the same picture as ``confusion.png``), and its accuracy, macro-F1 and loss as
scalars, written with TensorFlow's own summary writer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def log_evaluation(logs_dir: Path, metrics: dict[str, Any], class_names: list[str]) -> None:
    import tensorflow as tf

    from zoo.run.plots import confusion_png

    if not metrics.get("confusion"):
        return
    split = metrics.get("split", "evaluation")
    png = confusion_png(metrics["confusion"], class_names,
                        title=f"{split}: accuracy {metrics.get('accuracy') or 0:.3f} ({metrics.get('n', 0)} images)")
    writer = tf.summary.create_file_writer(str(Path(logs_dir) / "evaluation"))
    with writer.as_default():
        tf.summary.image(f"confusion_matrix/{split}", tf.expand_dims(tf.io.decode_png(png, channels=4), 0), step=0)
        for key in ("accuracy", "macro_f1", "loss", "top_k_accuracy"):
            if metrics.get(key) is not None:
                tf.summary.scalar(f"{split}/{key}", float(metrics[key]), step=0)
    writer.close()
