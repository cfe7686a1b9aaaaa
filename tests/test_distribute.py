"""--distribute: mirrored on this machine's one device, and multi-worker with real worker
processes on 127.0.0.1 (one --out for all; only the chief writes it), trained by zoo's own loop.

This file is also the worker program of the loop test: ``python test_distribute.py OUT``
(with TF_CONFIG set) trains the toy model below through ``fit_phase``.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from zoo.run.folder import read_run_folder

HERE = Path(__file__).resolve()
DIGITS = ["--backbone", "alexnet-small", "--weights", "none", "--dataset", "digits", "--image-size", "32",
          "--batch-size", "64", "--lr", "0.01"]

# the toy problem of the loop test: 85 examples in batches of 20, so the last global batch is partial
EXAMPLES, FEATURES, CLASSES, BATCH, EPOCHS = 85, 6, 3, 20, 3


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def run_workers(commands: list[list[str]], timeout: float = 300) -> list[tuple[int, str]]:
    """Start one process per command as the workers of one cluster; (exit code, stderr) of each."""
    ports = free_ports(len(commands))
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "TF_CONFIG": tf_config(ports, i), "PYTHONUNBUFFERED": "1"})
             for i, command in enumerate(commands)]
    results = []
    try:
        for proc in procs:
            _, stderr = proc.communicate(timeout=timeout)
            results.append((proc.returncode, stderr))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return results


# -- the toy problem, shared by the workers and the plain-Keras reference ------------------------


def toy_data():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(EXAMPLES, FEATURES)).astype("float32")
    y = np.argmax(x @ rng.normal(size=(FEATURES, CLASSES)), axis=1).astype("int64")
    return x, y


def toy_datasets():
    import tensorflow as tf

    x, y = toy_data()
    return (tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH),
            tf.data.Dataset.from_tensor_slices((x[:45], y[:45])).batch(BATCH))


def toy_model():
    """Fixed initial weights and SGD with momentum: a gradient off by any factor shows."""
    import keras

    inputs = keras.Input((FEATURES,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(CLASSES, activation="softmax")(hidden))
    rng = np.random.default_rng(3)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.SGD(0.2, momentum=0.5), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class Interrupted(Exception):
    pass


def worker_main(out: Path) -> None:
    """Train the toy model through fit_phase, interrupted after epoch 2, then resumed from its checkpoint."""
    import keras

    from zoo.train.checkpoints import CheckpointStore
    from zoo.train.distribute import make_strategy
    from zoo.train.fit import fit_phase
    from zoo.train.job import TrainJob

    strategy = make_strategy("multi-worker")
    messages: list[str] = []
    job = TrainJob(backbone=None, class_names=["a", "b", "c"], train=None, val=None, options={}, epochs=EPOCHS,
                   batch_size=BATCH, lr=0.2, seed=0, make_dataset=None, checkpoints=CheckpointStore(out / "checkpoints"),
                   work_dir=out, distribution=strategy, verbose=0, log=messages.append)

    class StopAfterTwo(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 == 2:
                raise Interrupted

    train, val = toy_datasets()
    with strategy.scope():
        model = toy_model()
    try:
        fit_phase(job, "toy", model, train, val, extra_callbacks=[StopAfterTwo()])
        raise SystemExit("the interruption did not happen")
    except Interrupted:
        pass
    with strategy.scope():
        model = toy_model()  # as a new process would: fresh weights, then the checkpoint
    history = fit_phase(job, "toy", model, train, val)
    np.savez(out / "weights.npz", *model.get_weights())
    (out / "result.json").write_text(json.dumps({"history": history, "log": messages,
                                                 "replicas": strategy.num_replicas_in_sync}))


# -- tests ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_loop_across_two_workers_matches_keras_fit_and_resumes(tmp_path):
    outs = [tmp_path / "w0", tmp_path / "w1"]
    for out in outs:
        out.mkdir()
    results = run_workers([[sys.executable, str(HERE), str(out)] for out in outs], timeout=240)
    for code, stderr in results:
        assert code == 0, stderr[-3000:]

    reference = toy_model()  # plain Keras, one process, the same global batches
    train, val = toy_datasets()
    expected = reference.fit(train, validation_data=val, epochs=EPOCHS, shuffle=False, verbose=0).history
    weights = []
    for out in outs:
        result = json.loads((out / "result.json").read_text())
        assert result["replicas"] == 2
        assert "toy: resuming at epoch 3 of 3" in result["log"]
        rows = result["history"]
        assert [r["epoch"] for r in rows] == [1, 2, 3]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):  # over every example of both workers
            np.testing.assert_allclose([r[key] for r in rows], expected[key], rtol=1e-4, atol=1e-5, err_msg=key)
        with np.load(out / "weights.npz") as saved:
            weights.append([saved[f"arr_{i}"] for i in range(len(saved.files))])
    for got in weights:  # the loss is averaged over the global batch: same steps as one process
        for a, b in zip(got, reference.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for a, b in zip(*weights):
        assert np.max(np.abs(a - b)) <= 1e-6


@pytest.mark.slow
def test_two_workers_share_one_out_and_only_the_chief_writes_it(tmp_path):
    """The same command on every worker: worker 1 keeps its files in OUT.worker-1, removed at the end.

    Were both to write OUT, the second rename onto it would fail (nothing is overwritten).
    """
    out = tmp_path / "run"
    command = [sys.executable, "-m", "zoo", "train", *DIGITS, "--strategy", "fine-tuning", "--unfreeze", "all",
               "--warmup-epochs", "1", "--epochs", "4", "--distribute", "multi-worker", "--out", str(out)]
    results = run_workers([command, command])
    for code, stderr in results:
        assert code == 0, stderr[-3000:]
    assert f"wrote {out}" in results[0][1]
    assert f"finished; the chief worker writes {out}" in results[1][1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no .partial, no .worker-1 left
    adapter = read_run_folder(out)
    assert adapter.config["training"]["distribute"] == "multi-worker"
    # it learned (chance is 0.1); 0.78 to over 0.8 in the runs seen, from one run to the next
    assert adapter.metrics()["accuracy"] > 0.6, adapter.metrics()
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [(r["phase"], int(r["epoch"])) for r in rows] == [("head", 1), ("fine-tune", 1), ("fine-tune", 2),
                                                              ("fine-tune", 3)]
    assert float(rows[-1]["loss"]) < float(rows[1]["loss"])


@pytest.mark.parametrize("cluster, task, scratch", [
    ({"worker": ["a:1", "b:2"]}, {"type": "worker", "index": 0}, None),
    ({"worker": ["a:1", "b:2"]}, {"type": "worker", "index": 1}, "runs/x.worker-1"),
    ({"chief": ["c:0"], "worker": ["a:1"]}, {"type": "chief", "index": 0}, None),
    ({"chief": ["c:0"], "worker": ["a:1"]}, {"type": "worker", "index": 0}, "runs/x.worker-0"),
])
def test_only_the_chief_writes_the_run_folder(monkeypatch, cluster, task, scratch):
    from zoo.train.plan import stage_paths

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    paths = stage_paths(Path("runs/x"), "multi-worker")
    if scratch is None:
        assert (paths.own, paths.work, paths.scratch) == (Path("runs/x"), Path("runs/x.partial"), None)
    else:
        assert paths.scratch == Path(scratch)
        assert (paths.own, paths.work) == (Path(scratch) / "x", Path(scratch) / "x.partial")
    assert paths.out == Path("runs/x")


def test_mirrored_trains_on_the_one_local_device(zoo, tmp_path):
    out = tmp_path / "mirrored"
    result = zoo("train", *DIGITS, "--strategy", "fine-tuning", "--unfreeze", "all", "--warmup-epochs", "1",
                 "--epochs", "3", "--distribute", "mirrored", "--out", str(out))
    assert result.exit_code == 0, result
    adapter = read_run_folder(out)
    assert adapter.config["training"]["distribute"] == "mirrored"
    assert adapter.metrics()["accuracy"] > 0.7, adapter.metrics()


@pytest.mark.parametrize("value, message", [
    (None, "--distribute multi-worker needs TF_CONFIG set to the cluster and this worker's task"),
    ("{cluster", "TF_CONFIG is not valid JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}}', "TF_CONFIG's \"task\" must name one of the cluster's jobs (worker)"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}',
     "TF_CONFIG's task index 3 is not a position in its job 'worker' (0 to 0)"),
])
def test_bad_tf_config_is_one_clear_line(zoo, monkeypatch, tmp_path, value, message):
    if value is not None:
        monkeypatch.setenv("TF_CONFIG", value)
    result = zoo("train", *DIGITS, "--distribute", "multi-worker", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run.partial").exists()


def test_multi_worker_after_other_tensorflow_work_says_so(zoo, monkeypatch, tmp_path):
    import tensorflow as tf

    tf.constant(1.0).numpy()  # this process has started TensorFlow: collective ops can no longer be set up
    monkeypatch.setenv("TF_CONFIG", tf_config(free_ports(2), 0))
    result = zoo("train", *DIGITS, "--distribute", "multi-worker", "--out", str(tmp_path / "run"))
    assert result.exit_code == 1
    assert "--distribute multi-worker must start before any other TensorFlow work in the process" in result.stderr


def test_model_with_its_own_train_step_is_refused(tmp_path):
    import keras
    import tensorflow as tf
    from zoo_strategies.domain_adaptation import build_adaptation_model
    from zoo_strategies.heads import make_head

    from zoo.errors import UsageError
    from zoo.train.checkpoints import CheckpointStore
    from zoo.train.fit import fit_phase
    from zoo.train.job import TrainJob

    strategy = tf.distribute.MultiWorkerMirroredStrategy()  # no TF_CONFIG: this process alone
    with strategy.scope():
        inputs = keras.Input((8, 8, 3))
        backbone = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
        model, _ = build_adaptation_model(backbone, make_head(3, 2), "coral", 1.0, total_steps=4)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    job = TrainJob(backbone=None, class_names=["a", "b"], train=None, val=None, options={}, epochs=1, batch_size=4,
                   lr=1e-3, seed=0, make_dataset=None, checkpoints=CheckpointStore(tmp_path / "checkpoints"),
                   work_dir=tmp_path, distribution=strategy, verbose=0)
    source = tf.data.Dataset.from_tensor_slices((np.zeros((4, 8, 8, 3), "float32"), np.zeros(4, "int64"))).batch(4)
    data = tf.data.Dataset.zip((source, source.map(lambda x, y: x)))
    with pytest.raises(UsageError) as refused:
        fit_phase(job, "adapt-coral", model, data)
    assert str(refused.value) == ("--distribute multi-worker is not supported for phase 'adapt-coral': its model "
                                  "'domain_adaptation' trains with its own train_step; use --distribute none or "
                                  "mirrored")
    assert not (tmp_path / "checkpoints").exists()


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    worker_main(Path(sys.argv[1]))


@pytest.mark.slow
def test_resuming_a_finished_pipeline_on_two_workers_skips_every_stage_on_both(tmp_path):
    """The workers follow the chief's verdict: none trains alone (and waits for ever) after the chief skips."""
    pipeline = tmp_path / "p.toml"
    pipeline.write_text(f"""
[[stages]]
name = "one"
backbone = "alexnet-small"
weights = "none"
dataset = "digits"
image_size = 32
epochs = 1
distribute = "multi-worker"
out = "{tmp_path}/one"
""")
    command = [sys.executable, "-m", "zoo", "run", str(pipeline)]
    for code, stderr in run_workers([command, command], timeout=300):
        assert code == 0, stderr[-3000:]
    started = time.monotonic()
    resumed = run_workers([[*command, "--resume"]] * 2, timeout=120)
    for code, stderr in resumed:
        assert code == 0, stderr[-3000:]
        assert f"stage one: already complete at {tmp_path / 'one'}; skipping" in stderr
    assert time.monotonic() - started < 120
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "p.toml"]
