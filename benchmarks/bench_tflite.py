"""tflite_vs_keras_predict: per-image latency of the exported TFLite float model against Keras' ``predict``.

A real run (:func:`workloads.make_run`: ResNet50 on random weights, its delta holding every
backbone variable) is exported with ``zoo export --format tflite`` (:func:`zoo.run.export.export_run`,
which checks it in the interpreter first). Both sides then classify the same images one at a
time, as an app classifying one photo does: the LiteRT interpreter (``set_tensor``, ``invoke``,
``get_tensor``; the interpreter's default threads) against ``model.predict(image[None])`` of
the loaded Keras model. Timed in rounds of one pass over the images each, in turns (ABBA);
the ratio is the median over rounds of TFLite's seconds per image / Keras' (below 1: TFLite is
faster). The probabilities are checked to agree (1e-4). Full: 64 images at 96x96, 6 rounds;
--quick: 16 images at 48x48, 2 rounds. No goal yet.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from workloads import make_run, median, turns

BACKBONE = "resnet50"


def run(quick: bool = False) -> tuple[float, dict]:
    from zoo.run.export import export_run
    from zoo.run.export.tflite import interpreter_class, runtime_name
    from zoo.run.load import open_run

    count, size, rounds = (16, 48, 2) if quick else (64, 96, 6)
    work = Path(tempfile.mkdtemp(prefix="zoo-bench-tflite-"))
    try:
        loaded = open_run(str(make_run(work, BACKBONE, size)))
        exported = export_run(loaded, work / "model.tflite", "tflite")
        images = np.random.default_rng(11).uniform(0, 255, (count, size, size, 3)).astype("float32")
        interpreter = interpreter_class()(model_path=str(exported.path))
        interpreter.allocate_tensors()
        given, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]
        model = loaded.model

        def tflite_pass() -> np.ndarray:
            rows = []
            for image in images:
                interpreter.set_tensor(given, image[None])
                interpreter.invoke()
                rows.append(interpreter.get_tensor(out)[0].copy())
            return np.stack(rows)

        def keras_pass() -> np.ndarray:
            return np.concatenate([model.predict(image[None], verbose=0) for image in images])

        np.testing.assert_allclose(tflite_pass(), keras_pass(), atol=1e-4)  # also the warm-up of both
        times: dict[str, list[float]] = {"zoo": [], "keras": []}  # "zoo": the TFLite side
        for side in turns(rounds):
            started = time.perf_counter()
            tflite_pass() if side == "zoo" else keras_pass()
            times[side].append((time.perf_counter() - started) / count)
        file_mb = exported.path.stat().st_size / 1e6
    finally:
        shutil.rmtree(work, ignore_errors=True)
    paired = median([t / k for t, k in zip(times["zoo"], times["keras"])])
    return paired, {
        "backbone": BACKBONE, "images": count, "image_size": size, "rounds": rounds, "runtime": runtime_name(),
        "tflite_ms_per_image": round(1000 * median(times["zoo"]), 2),
        "keras_ms_per_image": round(1000 * median(times["keras"]), 2), "tflite_file_mb": round(file_mb, 1),
        "export_check": exported.check["max_prob_diff"],
        "measures": "median over rounds (ABBA) of seconds per image, batch 1: LiteRT interpreter invoke on the "
                    "exported float TFLite model / Keras model.predict(image[None]), same images",
    }
