"""Watching a run: a plugin's ``zoo_callbacks`` see every epoch of every phase, TensorBoard logs
under ``RUN/logs/`` (read back with TensorBoard's own reader), the per-class figures in
``metrics.json``, and ``zoo evaluate`` scoring the held-out images the run was scored on, even
from a copy of the dataset elsewhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from imagegen import make_shapes_folder

from zoo import hookimpl


class EpochRecorder:
    """A plugin, registered in-process, whose callbacks record each phase's epochs."""

    def __init__(self):
        self.seen: list[tuple[str, int, float]] = []

    @hookimpl
    def zoo_callbacks(self, job, phase):
        import keras

        seen = self.seen

        class Record(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                seen.append((phase, epoch + 1, float(logs["learning_rate"])))

        return [Record()]


@pytest.fixture(scope="module")
def watched_run(tmp_path_factory):
    from zoo.plugin.host import get_host, reset_host
    from zoo.train.config import StageConfig
    from zoo.train.stage import run_stage

    root = tmp_path_factory.mktemp("watched")
    data = make_shapes_folder(root / "shapes", per_class=20, size=32)
    reset_host()
    recorder = EpochRecorder()
    get_host().register(recorder, name="epoch-recorder")
    config = StageConfig(backbone="alexnet-small", weights="none", dataset=f"folder:{data}", image_size=32,
                         strategy="fine-tuning", epochs=4, batch_size=16, out=str(root / "run"), val_split=0.25,
                         schedule="step", strategy_options={"unfreeze": "all"})
    result = run_stage(config, verbose=0, log=lambda message: None)
    reset_host()
    return root, data, result, recorder.seen


def test_a_plugins_callbacks_run_in_every_phase(watched_run):
    _, _, result, seen = watched_run
    # 4 epochs: 2 of head warm-up, 2 of fine-tuning; the step schedule over each phase's two epochs
    assert [(phase, epoch) for phase, epoch, _ in seen] == [("head", 1), ("head", 2), ("fine-tune", 1),
                                                            ("fine-tune", 2)]
    rates = [rate for _, _, rate in seen]
    assert rates[1] == pytest.approx(rates[0] * 0.1) and rates[3] == pytest.approx(rates[2] * 0.1)
    assert rates[2] == pytest.approx(1e-4)  # fine-tuning's lr: --lr / 10


def test_tensorboard_logs_hold_the_epoch_scalars_and_the_confusion_matrix(watched_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, _, result, _ = watched_run
    logs = Path(result.out) / "logs"
    for phase in ("head", "fine-tune"):
        for side, prefix in (("train", ""), ("validation", "val_")):
            events = EventAccumulator(str(logs / phase / side), size_guidance={"tensors": 0})
            events.Reload()
            tags = events.Tags()["tensors"]
            assert "epoch_loss" in tags and "epoch_accuracy" in tags, (phase, side, tags)
            assert [e.step for e in events.Tensors("epoch_loss")] == [0, 1]
        train = EventAccumulator(str(logs / phase / "train"), size_guidance={"tensors": 0})
        train.Reload()
        assert "epoch_learning_rate" in train.Tags()["tensors"]
    rows = [r for r in (Path(result.out) / "history.csv").read_text().splitlines()[1:]]
    assert len(rows) == 4
    evaluation = EventAccumulator(str(logs / "evaluation"), size_guidance={"tensors": 0, "images": 0})
    evaluation.Reload()
    image_tags = [t for t in evaluation.Tags()["tensors"] if t.startswith("confusion_matrix/")]
    assert image_tags == ["confusion_matrix/val"]
    # logs are for watching: not recorded, so never part of a pushed adapter
    config = json.loads((Path(result.out) / "config.json").read_text())
    assert not any(name.startswith("logs/") for name in config["files"])


def test_metrics_hold_per_class_figures_and_the_split_scored(watched_run):
    _, _, result, _ = watched_run
    metrics = json.loads((Path(result.out) / "metrics.json").read_text())
    assert metrics["split"] == "val" and metrics["n"] == 15
    assert set(metrics["per_class"]) == {"circle", "square", "triangle"}
    for figures in metrics["per_class"].values():
        assert set(figures) == {"precision", "recall", "f1", "support"} and figures["support"] == 5
    assert 0 <= metrics["macro_f1"] <= 1 and metrics["top_k"] == 3 and metrics["top_k_accuracy"] == 1.0
    config = json.loads((Path(result.out) / "config.json").read_text())
    record = config["training"]["evaluated_split"]
    assert record["split"] == "val" and record["images"] == 15 and record["val_split"] == 0.25


def test_evaluate_scores_the_held_out_images_even_from_a_copy_of_the_dataset(watched_run, tmp_path):
    from zoo.run.inference import evaluate_run
    from zoo.run.load import open_run

    root, data, result, _ = watched_run
    said: list[str] = []
    own = evaluate_run(open_run(str(result.out)), log=said.append)
    assert own["split"] == "val" and own["n"] == 15 and own["same_split_as_run"]
    assert own["accuracy"] == pytest.approx(result.metrics["accuracy"])
    copy = shutil.copytree(data, tmp_path / "elsewhere" / "shapes-copy")
    moved = evaluate_run(open_run(str(result.out)), dataset=f"folder:{copy}", log=said.append)
    assert (moved["split"], moved["n"], moved["same_split_as_run"]) == ("val", 15, True)
    assert moved["accuracy"] == pytest.approx(own["accuracy"])
    assert said[-1] == (f"scored 15 images: the 'val' split of 'folder:{copy}', the held-out images the run "
                        "was scored on")
    other = make_shapes_folder(tmp_path / "other", per_class=20, size=32, seed=7)
    foreign = evaluate_run(open_run(str(result.out)), dataset=f"folder:{other}")
    assert (foreign["split"], foreign["n"], foreign["same_split_as_run"]) == ("train", 60, False)
