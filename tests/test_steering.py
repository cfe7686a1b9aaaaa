"""What a user steers a phase with, through ``fit_phase`` on toy problems trained for real:
early stopping (which survives a real kill and ``--resume``), learning-rate schedules (before and
after a resume), class weights (a minority class's recall).

This file is also the worker program of the kill test: ``python test_steering.py WORK KILL_AT``
trains the early-stopping toy below and kills itself once epoch KILL_AT is checkpointed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zoo.train.checkpoints import CheckpointStore

HERE = Path(__file__).resolve()
PATIENCE, MAX_EPOCHS = 2, 40


def job_for(work: Path, *, epochs: int, early_stopping=None, schedule="constant", warmup=0, class_weight=None):
    from zoo.train.job import TrainJob

    return TrainJob(backbone=None, class_names=["a", "b", "c"], train=None, val=None, options={}, epochs=epochs,
                    batch_size=8, lr=0.1, seed=0, make_dataset=None,
                    checkpoints=CheckpointStore(work / "checkpoints", interval=0), work_dir=work, verbose=0,
                    log=lambda message: None, early_stopping=early_stopping, schedule=schedule, warmup=warmup,
                    class_weight=class_weight)


def overfitting_problem():
    """Separable training points; validation points near them, a third labelled otherwise: the
    validation loss falls, then rises as the model grows sure of itself. No randomness anywhere."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]], "float32")
    y = np.repeat(np.arange(3), 20)
    x = (centres[y] + rng.normal(0, 0.5, (60, 2))).astype("float32")
    y_val = y.copy()
    y_val[::3] = (y_val[::3] + 1) % 3
    x_val = (x + rng.normal(0, 0.3, x.shape)).astype("float32")
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(20)
    val = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(60)
    return train, val


def toy_model(lr: float = 0.1, optimizer: str = "sgd"):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile(optimizer=keras.optimizers.SGD(lr) if optimizer == "sgd" else keras.optimizers.Adam(lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def train_overfitting(work: Path, extra_callbacks=None):
    from zoo.train.fit import fit_phase

    model = toy_model()
    train, val = overfitting_problem()
    history = fit_phase(job_for(work, epochs=MAX_EPOCHS, early_stopping=PATIENCE), "head", model, train, val,
                        extra_callbacks=extra_callbacks)
    return model, history


def test_early_stopping_stops_on_validation_loss_and_keeps_the_best_weights(tmp_path):
    model, history = train_overfitting(tmp_path)
    losses = [row["val_loss"] for row in history]
    best = int(np.argmin(losses))
    assert 2 <= len(history) < MAX_EPOCHS  # it stopped
    assert len(history) == best + 1 + PATIENCE  # PATIENCE epochs without a better validation loss
    _, val = overfitting_problem()
    assert model.evaluate(val, verbose=0)[0] == pytest.approx(losses[best], rel=1e-5)  # the best epoch's weights
    state = json.loads((tmp_path / "checkpoints" / "head" / "state.json").read_text())
    assert state["done"] and state["tracking"]["best_epoch"] == best + 1


def test_early_stopping_survives_a_kill_and_resume(tmp_path):
    from zoo.train.fit import fit_phase

    reference, expected = train_overfitting(tmp_path / "reference")
    best_epoch = int(np.argmin([row["val_loss"] for row in expected])) + 1
    kill_at = best_epoch + 1  # one epoch of patience used up, and the best weights behind the current ones
    assert kill_at < len(expected)
    work = tmp_path / "killed"
    done = subprocess.run([sys.executable, str(HERE), str(work), str(kill_at)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    state = json.loads((work / "checkpoints" / "head" / "state.json").read_text())
    assert state["epoch"] == kill_at and not state["done"]
    assert state["tracking"]["wait"] == 1 and state["tracking"]["best_epoch"] == best_epoch

    model = toy_model()
    train, val = overfitting_problem()
    resumed = fit_phase(job_for(work, epochs=MAX_EPOCHS, early_stopping=PATIENCE), "head", model, train, val)
    assert [row["epoch"] for row in resumed] == [row["epoch"] for row in expected]  # stopped at the same epoch
    for ours, theirs in zip(resumed, expected):
        assert ours["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-5)
    for ours, theirs in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)  # the best weights, from before the kill


def scheduled_run(work: Path, epochs: int, interrupt_after: int | None = None):
    import keras

    from zoo.train.fit import fit_phase

    class Interrupt(keras.callbacks.Callback):  # Ctrl-C in the middle of the phase
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == interrupt_after:
                raise KeyboardInterrupt

    train, val = overfitting_problem()
    return fit_phase(job_for(work, epochs=epochs, schedule="cosine", warmup=2), "head", toy_model(0.08, "adam"),
                     train, val, extra_callbacks=[Interrupt()] if interrupt_after else None)


def test_schedules_give_the_rates_they_promise_before_and_after_a_resume(tmp_path):
    from zoo.train.schedules import scheduled_rate

    promised = [scheduled_rate(0.08, "cosine", 2, 8, e) for e in range(8)]
    assert promised[:3] == pytest.approx([0.08 / 3, 0.16 / 3, 0.08]) and promised[-1] < 0.01
    assert [scheduled_rate(1.0, "step", 0, 9, e) for e in range(9)] == pytest.approx([1] * 3 + [0.1] * 3 + [0.01] * 3)
    whole = scheduled_run(tmp_path / "whole", 8)
    assert [row["learning_rate"] for row in whole] == pytest.approx(promised, rel=1e-6)

    with pytest.raises(KeyboardInterrupt):
        scheduled_run(tmp_path / "interrupted", 8, interrupt_after=3)
    resumed = scheduled_run(tmp_path / "interrupted", 8)
    assert [row["epoch"] for row in resumed] == list(range(1, 9))
    assert [row["learning_rate"] for row in resumed] == pytest.approx(promised, rel=1e-6)
    for ours, theirs in zip(resumed, whole):
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=1e-4)  # the same training, resumed or not


def test_a_strategy_with_its_own_schedule_refuses_another(tmp_path):
    import keras

    from zoo.errors import UsageError
    from zoo.train.fit import fit_phase

    model = toy_model()
    model.compile(optimizer=keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)),
                  loss="sparse_categorical_crossentropy")
    train, val = overfitting_problem()
    with pytest.raises(UsageError, match="^phase 'adapt' schedules its own learning rate; leave out --schedule"):
        fit_phase(job_for(tmp_path, epochs=2, schedule="step"), "adapt", model, train, val)


def skewed_problem():
    """Two overlapping classes and a third, their minority (1 in 10), overlapping both."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    counts = (200, 200, 40)
    centres = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.8]], "float32")
    y = np.concatenate([np.full(n, c) for c, n in enumerate(counts)])
    x = (centres[y] + rng.normal(0, 0.9, (len(y), 2))).astype("float32")
    order = rng.permutation(len(y))
    return x[order], y[order], tf.data.Dataset.from_tensor_slices((x[order], y[order])).batch(32)


def test_auto_class_weights_raise_the_minority_recall(tmp_path):
    from zoo.train.class_weights import resolve_class_weight
    from zoo.train.evaluation import score
    from zoo.train.fit import fit_phase

    x, y, data = skewed_problem()
    weights = resolve_class_weight("auto", y, ["a", "b", "c"], "test")
    assert weights == pytest.approx({0: 440 / 600, 1: 440 / 600, 2: 440 / 120})
    recall = {}
    for name, class_weight in (("none", None), ("auto", weights)):
        model = toy_model(0.05, "adam")
        fit_phase(job_for(tmp_path / name, epochs=30, class_weight=class_weight), "head", model, data)
        recall[name] = score(model.predict(x, verbose=0), y, ["a", "b", "c"])["per_class"]["c"]["recall"]
    assert recall["none"] < 0.3 and recall["auto"] > recall["none"] + 0.3, recall


def test_class_weights_refuse_a_file_with_an_unknown_class(tmp_path):
    from zoo.errors import ConfigError, UsageError
    from zoo.train.class_weights import check_class_weight, resolve_class_weight

    (tmp_path / "w.json").write_text('{"cat": 2, "dgo": 1}')
    with pytest.raises(UsageError, match="names class 'dgo', which the dataset does not have"):
        resolve_class_weight(str(tmp_path / "w.json"), np.array([0, 1]), ["cat", "dog"], "command line")
    (tmp_path / "bad.json").write_text('{"cat": -1}')
    with pytest.raises(ConfigError, match="the weight of class 'cat' must be a number greater than 0"):
        check_class_weight(str(tmp_path / "bad.json"), "command line")
    with pytest.raises(UsageError, match="--class-weight must be auto, none or a JSON file"):
        check_class_weight("autom", "command line")
    assert resolve_class_weight(str(tmp_path / "w.json"), np.array([0]),
                                ["cat", "dog", "dgo"], "x") == {0: 2.0, 1: 1.0, 2: 1.0}


@pytest.mark.parametrize("flags, message", [
    (["--early-stopping", "0"], "'early_stopping' is a patience in epochs and must be >= 1, got 0"),
    (["--warmup", "-1"], "'warmup' must be >= 0 epochs, got -1"),
    (["--schedule", "linear"], "Invalid value for '--schedule'"),
    (["--class-weight", "weights.json"], "--class-weight must be auto, none or a JSON file of class weights; "
                                         "'weights.json' is not a file"),
])
def test_bad_steering_flags_are_one_line_usage_errors(zoo, flags, message):
    result = zoo("train", "--backbone", "alexnet-small", "--dataset", "digits", *flags, "--print-config")
    assert result.exit_code == 2, result
    assert message in result.stderr and "Traceback" not in result.stderr


def test_steering_flags_print_as_their_toml_twins(zoo):
    result = zoo("train", "--backbone", "alexnet-small", "--dataset", "digits", "--early-stopping", "3",
                 "--schedule", "cosine", "--warmup", "1", "--class-weight", "auto", "--print-config")
    assert result.exit_code == 0, result
    for line in ('early_stopping = 3', 'schedule = "cosine"', 'warmup = 1', 'class_weight = "auto"'):
        assert line in result.stdout


if __name__ == "__main__":  # the worker of test_early_stopping_survives_a_kill_and_resume
    import keras

    work, kill_at = Path(sys.argv[1]), int(sys.argv[2])
    store = CheckpointStore(work / "checkpoints", interval=0)

    class KillAfterCheckpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == kill_at:
                store.state("head")  # waits for the epoch's checkpoint to be on disk
                os.kill(os.getpid(), signal.SIGKILL)

    train_overfitting(work, extra_callbacks=[KillAfterCheckpoint()])
