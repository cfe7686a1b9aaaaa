"""Long runs: a killed or interrupted training resumes from its last checkpoint, with
the weights and the optimizer's state (step count and slot variables) of that epoch.
The runs here checkpoint every epoch (``ZOO_CHECKPOINT_INTERVAL=0``), so that a kill
after epoch 2 finds it on disk.

This file is also the worker program of the optimizer test: ``python test_resume.py OUT``
trains the toy model below through ``fit_phase`` and kills itself once epoch 2 is
checkpointed.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zoo.run.folder import read_run_folder

HERE = Path(__file__).resolve()
TRAIN = ["train", "--backbone", "alexnet-small", "--weights", "none", "--dataset", "digits", "--image-size", "32",
         "--strategy", "fine-tuning", "--unfreeze", "all", "--warmup-epochs", "0", "--batch-size", "64"]

# the toy problem of the optimizer test
EXAMPLES, FEATURES, CLASSES, BATCH, EPOCHS, KILLED_AFTER = 90, 6, 3, 20, 4, 2


def ctrl_c_as_in_a_terminal() -> None:
    """For a child that gets SIGINT: a shell's background job (`pytest &`, some CI runners) ignores
    it, the child would inherit that, and a zoo run would rightly train on."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zoo", *args, "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1",
                                                          "ZOO_CHECKPOINT_INTERVAL": "0"},
                            preexec_fn=ctrl_c_as_in_a_terminal)


def phase_folder(out: Path, phase: str) -> Path:
    return out.with_name(out.name + ".partial") / "checkpoints" / phase


def wait_for_epoch(out: Path, phase: str, epoch: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    state = phase_folder(out, phase) / "state.json"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if state.exists() and json.loads(state.read_text())["epoch"] >= epoch:
            return
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared in time")


def optimizer_step(folder: Path) -> tuple[int, int]:
    """(epoch, optimizer step count) of the checkpoint in ``folder``, read while training may go on."""
    for _ in range(50):  # the next epoch's write may replace the checkpoint between the two reads
        state = json.loads((folder / "state.json").read_text())
        try:
            return state["epoch"], int(np.load(folder / state["weights"] / "o0.npy"))  # Keras: variables[0] is the step
        except FileNotFoundError:
            time.sleep(0.05)
    raise AssertionError(f"no stable checkpoint in {folder}")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill", "interrupt"])
def test_resume_after_the_process_dies(tmp_path, how):
    out = tmp_path / "run"
    proc = start([*TRAIN, "--epochs", "12"], out)
    wait_for_epoch(out, "fine-tune", 2, proc)
    proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    if how == "interrupt":
        assert proc.returncode == 130, stderr
        assert f"to continue from the last checkpoint, run the same command with `--out {shlex.quote(str(out))} " \
               f"--resume`" in stderr
    assert not out.exists()  # never half a run
    partial = out.with_name("run.partial")
    done, step = optimizer_step(phase_folder(out, "fine-tune"))
    assert 2 <= done < 12 and step % done == 0
    steps_per_epoch = step // done

    refused = subprocess.run([sys.executable, "-m", "zoo", *TRAIN, "--epochs", "12", "--out", str(out)],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "continue it with --resume" in refused.stderr

    resumed = start([*TRAIN, "--epochs", "12", "--resume"], out)
    wait_for_epoch(out, "fine-tune", done + 1, resumed)
    epoch, step = optimizer_step(phase_folder(out, "fine-tune"))
    assert step == epoch * steps_per_epoch  # counted on from the checkpoint, not from 0
    _, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    assert f"resuming at epoch {done + 1} of 12" in stderr
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 13))
    assert not partial.exists()
    assert read_run_folder(out).metrics()["accuracy"] > 0.8


@pytest.mark.slow
def test_an_interrupt_before_the_first_checkpoint_says_to_start_again(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "zoo", *TRAIN, "--epochs", "500", "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "ZOO_CHECKPOINT_INTERVAL": "inf"},
                            preexec_fn=ctrl_c_as_in_a_terminal)
    for line in proc.stderr:  # training begins right after this line
        if line.startswith("zoo: fine-tuning stages"):
            break
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "zoo: interrupted; nothing was checkpointed yet: run the same command again" in stderr
    assert not out.exists() and not out.with_name("run.partial").exists()


def test_resume_with_other_settings_is_refused(tmp_path, zoo):
    out = tmp_path / "run"
    partial = out.with_name("run.partial")
    partial.mkdir()
    (partial / "stage.json").write_text("{}")
    result = zoo(*TRAIN, "--epochs", "3", "--out", str(out), "--resume")
    assert result.exit_code == 2
    assert "was started with other settings" in result.stderr


# -- the optimizer's state across a kill, exactly ------------------------------------------------


def toy_data():
    import tensorflow as tf

    rng = np.random.default_rng(7)
    x = rng.normal(size=(EXAMPLES, FEATURES)).astype("float32")
    y = np.argmax(x @ rng.normal(size=(FEATURES, CLASSES)), axis=1).astype("int64")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)  # the same batches in the same order every epoch


def toy_model():
    """Fixed initial weights and Adam: its step count and both slots shape every update."""
    import keras

    inputs = keras.Input((FEATURES,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax")(hidden))
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy")
    return model


def toy_job(out: Path, messages: list[str]):
    from zoo.train.checkpoints import CheckpointStore
    from zoo.train.job import TrainJob

    return TrainJob(backbone=None, class_names=["a", "b", "c"], train=None, val=None, options={}, epochs=EPOCHS,
                    batch_size=BATCH, lr=0.05, seed=0, make_dataset=None,
                    checkpoints=CheckpointStore(out / "checkpoints", interval=0), work_dir=out, verbose=0,
                    log=messages.append)


def worker_main(out: Path) -> None:
    """Train the toy model through fit_phase; die by SIGKILL once epoch KILLED_AFTER is on disk."""
    import keras

    from zoo.train.fit import fit_phase

    job = toy_job(out, [])

    class KillAfterCheckpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == KILLED_AFTER:
                job.checkpoints.state("toy")  # waits for the epoch's checkpoint write
                os.kill(os.getpid(), signal.SIGKILL)

    fit_phase(job, "toy", toy_model(), toy_data(), extra_callbacks=[KillAfterCheckpoint()])


def test_optimizer_state_survives_a_kill(tmp_path):
    import keras

    from zoo.train.fit import fit_phase

    out = tmp_path / "toy"
    killed = subprocess.run([sys.executable, str(HERE), str(out)], capture_output=True, text=True, timeout=240)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    saved = json.loads((out / "checkpoints" / "toy" / "state.json").read_text())
    assert saved["epoch"] == KILLED_AFTER
    folder = out / "checkpoints" / "toy" / saved["weights"]
    saved_optimizer = [np.load(folder / f"o{i}.npy") for i in range(len(list(folder.glob("o*.npy"))))]

    restored: list[np.ndarray] = []

    class Restored(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            restored.extend(np.array(v.numpy()) for v in self.model.optimizer.variables)

    messages: list[str] = []
    model = toy_model()  # as a new process would: fresh weights and optimizer, then the checkpoint
    fit_phase(toy_job(out, messages), "toy", model, toy_data(), extra_callbacks=[Restored()])
    assert f"toy: resuming at epoch {KILLED_AFTER + 1} of {EPOCHS}" in messages
    steps = -(-EXAMPLES // BATCH)
    assert int(restored[0]) == KILLED_AFTER * steps
    assert len(restored) == len(saved_optimizer) == 2 + 2 * 4  # step, learning rate, two slots per variable
    for got, expected in zip(restored, saved_optimizer):
        np.testing.assert_array_equal(got, expected)
    assert any(np.abs(slot).max() > 0 for slot in restored[2:])

    reference = toy_model()  # never interrupted
    reference.fit(toy_data(), epochs=EPOCHS, shuffle=False, verbose=0)
    for got, expected in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)



class SignalsWhenCollected:
    """Sends this process SIGINT from its finalizer, where CPython prints the KeyboardInterrupt
    as "Exception ignored" and drops it; TensorFlow runs many finalizers while it trains."""

    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100_000):  # Python's handler runs here, inside the finalizer
            pass


def test_a_ctrl_c_swallowed_by_a_finalizer_still_stops_training(tmp_path, monkeypatch):
    import keras

    from zoo.train.fit import fit_phase
    from zoo.util.interrupt import watching_interrupts

    batches: list[int] = []
    swallowed: list[type] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: swallowed.append(unraisable.exc_type))

    class InterruptInAFinalizer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            batches.append(batch)
            if len(batches) == 2:
                SignalsWhenCollected()  # collected at once

    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own, as in a terminal
    try:
        with watching_interrupts(), pytest.raises(KeyboardInterrupt):
            fit_phase(toy_job(tmp_path / "toy", []), "toy", toy_model(), toy_data(),
                      extra_callbacks=[InterruptInAFinalizer()])
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, inherited)
    assert swallowed == [KeyboardInterrupt]  # it was dropped where it landed
    assert len(batches) == 2  # raised again at the end of the next batch (before this callback saw it)

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    worker_main(Path(sys.argv[1]))
