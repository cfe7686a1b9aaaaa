"""Checkpoints: written in the background, kill-safe on disk, and refused when they do not fit the model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from zoo.errors import ZooError
from zoo.train.checkpoints import CheckpointStore, PhaseState


def small_model(seed: int, frozen_first: bool = False, hidden: int = 5):
    import keras

    inputs = keras.Input((4,))
    first = keras.layers.Dense(hidden)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(first(inputs)))
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    first.trainable = not frozen_first
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def trained_model(seed: int = 0):
    """A model whose optimizer has state worth keeping (two epochs of Adam)."""
    model = small_model(seed)
    x, y = np.random.default_rng(1).normal(size=(16, 4)).astype("float32"), np.arange(16) % 3
    model.fit(x, y, epochs=2, verbose=0)
    return model


def values(variables) -> list[np.ndarray]:
    return [np.array(v.numpy() if hasattr(v, "numpy") else v) for v in variables]


def test_round_trip_of_weights_and_optimizer(tmp_path):
    model = trained_model()
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save("head", model, PhaseState(epoch=2, history=[{"epoch": 1}, {"epoch": 2}]))

    fresh = small_model(5)
    state = CheckpointStore(tmp_path / "checkpoints").restore("head", fresh)  # waits for the write in flight
    assert state == PhaseState(epoch=2, done=False, history=[{"epoch": 1}, {"epoch": 2}])
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(fresh.optimizer.variables) == len(model.optimizer.variables)
    for a, b in zip(model.optimizer.variables, fresh.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert int(fresh.optimizer.iterations.numpy()) == 2  # 16 examples, batch 32: one step per epoch


def test_each_save_replaces_the_last_and_stale_folders_go(tmp_path):
    model = small_model(0)
    store = CheckpointStore(tmp_path)
    folder = tmp_path / "head"
    store.save("head", model, PhaseState(epoch=1), wait=True)
    (folder / ".weights-killed").mkdir()  # what a kill in the middle of a write leaves
    (folder / "weights-0007").mkdir()  # written, but the state never pointed at it
    store.save("head", model, PhaseState(epoch=2), wait=True)
    state = json.loads((folder / "state.json").read_text())
    assert state["epoch"] == 2 and state["weights"] == "weights-0002" and state["done"] is False
    assert sorted(p.name for p in folder.iterdir()) == ["state.json", "weights-0002"]
    assert len(list((folder / "weights-0002").glob("w*.npy"))) == len(model.get_weights())


def test_marking_a_phase_done_rewrites_the_state_alone(tmp_path):
    model = trained_model()
    store = CheckpointStore(tmp_path)
    folder = tmp_path / "head"
    store.save("head", model, PhaseState(epoch=2, history=[{"epoch": 1}, {"epoch": 2}]))
    store.state("head")  # the background write has landed
    files = sorted((folder / "weights-0002").iterdir())
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}

    model.set_weights([w + 1 for w in model.get_weights()])  # a done mark must not take these
    store.mark_done("head", model, [{"epoch": 1}, {"epoch": 2}])
    assert sorted(p.name for p in folder.iterdir()) == ["state.json", "weights-0002"]
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files} == before
    assert json.loads((folder / "state.json").read_text()) == {
        "epoch": 2, "done": True, "weights": "weights-0002", "history": [{"epoch": 1}, {"epoch": 2}]}
    fresh = small_model(5)
    assert store.restore("head", fresh) == PhaseState(epoch=2, done=True, history=[{"epoch": 1}, {"epoch": 2}])
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a + 1, b)


def test_a_checkpoint_of_another_optimizer_is_refused_untouched(tmp_path):
    """Same weights, but another set trains (a changed option): the optimizer has other variables."""
    store = CheckpointStore(tmp_path / "run.partial" / "checkpoints")
    store.save("head", trained_model(), PhaseState(epoch=2), wait=True)
    other = small_model(5, frozen_first=True)
    other.optimizer.build(other.trainable_variables)
    weights, slots = values(other.weights), values(other.optimizer.variables)
    assert len(slots) == 6  # iterations, learning rate, and Adam's two slots for each of 2 variables

    with pytest.raises(ZooError) as refused:
        store.restore("head", other)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"the checkpoint of phase 'head' in '{tmp_path / 'run.partial' / 'checkpoints' / 'head'}'"
                              " does not fit this run (it holds 10 optimizer variables, this run has 6)")
    assert f"start afresh by deleting '{tmp_path / 'run.partial'}'" in message
    for before, after in zip(weights + slots, values(other.weights) + values(other.optimizer.variables)):
        np.testing.assert_array_equal(before, after)  # nothing half restored


def test_an_unbuilt_optimizer_of_another_count_is_refused(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save("head", trained_model(), PhaseState(epoch=2), wait=True)
    other = small_model(5, frozen_first=True)  # as a resumed run has it: compiled, never stepped
    weights = values(other.weights)
    with pytest.raises(ZooError, match=r"it holds 10 optimizer variables, this run has 6\)"):
        store.restore("head", other)
    for before, after in zip(weights, values(other.weights)):
        np.testing.assert_array_equal(before, after)


def test_weights_of_another_shape_are_refused(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save("head", small_model(0), PhaseState(epoch=1), wait=True)
    with pytest.raises(ZooError, match=r"\(its weights #0 has shape \(4, 5\), this run's \(4, 6\)\)"):
        store.restore("head", small_model(0, hidden=6))


def test_fit_phase_refuses_to_resume_into_another_trainable_set(tmp_path):
    """What a resumed run meets when an option changed what trains: one line, not a Keras traceback."""
    import keras
    import tensorflow as tf

    from zoo.train.fit import fit_phase
    from zoo.train.job import TrainJob

    x, y = np.random.default_rng(1).normal(size=(16, 4)).astype("float32"), np.arange(16) % 3
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    job = TrainJob(backbone=None, class_names=["a", "b", "c"], train=None, val=None, options={}, epochs=3,
                   batch_size=8, lr=0.01, seed=0, make_dataset=None,
                   checkpoints=CheckpointStore(tmp_path / "checkpoints", interval=0), work_dir=tmp_path, verbose=0,
                   log=lambda message: None)

    class StopAfterOne(Exception):
        pass

    class Stop(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise StopAfterOne

    with pytest.raises(StopAfterOne):
        fit_phase(job, "head", small_model(0), data, extra_callbacks=[Stop()])
    assert job.checkpoints.state("head").epoch == 1
    with pytest.raises(ZooError, match="does not fit this run .it holds 10 optimizer variables, this run has 6"):
        fit_phase(job, "head", small_model(0, frozen_first=True), data)
    history = fit_phase(job, "head", small_model(0), data)  # the same model resumes
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert job.checkpoints.state("head") == PhaseState(epoch=3, done=True, history=history)


@pytest.mark.parametrize("interval, pause, kept", [
    (0, 0, [1, 2, 3]),  # every epoch
    (3600, 0, [None, None, None]),  # only the last, once the phase is done
    (2, 2.2, [1, 1, 1]),  # the first epoch ends after the interval, the next two within it
])
def test_the_interval_spaces_checkpoints_and_the_last_epoch_is_always_kept(tmp_path, interval, pause, kept):
    import time

    import keras
    import tensorflow as tf

    from zoo.train.fit import fit_phase
    from zoo.train.job import TrainJob

    x, y = np.random.default_rng(1).normal(size=(16, 4)).astype("float32"), np.arange(16) % 3
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    job = TrainJob(backbone=None, class_names=["a", "b", "c"], train=None, val=None, options={}, epochs=3,
                   batch_size=8, lr=0.01, seed=0, make_dataset=None,
                   checkpoints=CheckpointStore(tmp_path / "checkpoints", interval=interval), work_dir=tmp_path,
                   verbose=0, log=lambda message: None)
    seen: list[int | None] = []

    class Watch(keras.callbacks.Callback):  # runs after the checkpoint callback, at each of its moments
        def on_train_begin(self, logs=None):
            time.sleep(pause)

        def on_epoch_end(self, epoch, logs=None):
            state = job.checkpoints.state("head")  # waits for a write in flight
            seen.append(None if state is None else state.epoch)

    model = small_model(0)
    history = fit_phase(job, "head", model, data, extra_callbacks=[Watch()])
    assert seen == kept
    assert job.checkpoints.state("head") == PhaseState(epoch=3, done=True, history=history)
    fresh = small_model(5)
    resumed = fit_phase(job, "head", fresh, data)  # a resumed run: restored, not trained
    assert resumed == history
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)  # the last epoch, whether or not the interval had passed


def test_marking_done_writes_an_epoch_the_interval_left_out(tmp_path):
    model = trained_model()
    store = CheckpointStore(tmp_path, interval=3600)
    store.save("head", model, PhaseState(epoch=1, history=[{"epoch": 1}]), wait=True)
    model.set_weights([w + 1 for w in model.get_weights()])  # epoch 2, never checkpointed
    store.mark_done("head", model, [{"epoch": 1}, {"epoch": 2}])
    folder = tmp_path / "head"
    assert sorted(p.name for p in folder.iterdir()) == ["state.json", "weights-0002"]
    assert not list((folder / "weights-0002").glob("o*.npy"))  # a finished phase never steps again
    fresh = small_model(5)
    assert store.restore("head", fresh) == PhaseState(epoch=2, done=True, history=[{"epoch": 1}, {"epoch": 2}])
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "-inf"])
def test_a_bad_interval_is_one_line_before_anything_is_written(zoo, monkeypatch, tmp_path, value):
    monkeypatch.setenv("ZOO_CHECKPOINT_INTERVAL", value)
    result = zoo("train", "--backbone", "alexnet-small", "--weights", "none", "--dataset", "digits",
                 "--image-size", "32", "--out", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert result.stderr == (f"zoo: error: ZOO_CHECKPOINT_INTERVAL must be a number of seconds, 0 or more "
                             f"(0: every epoch, inf: only after each phase's last epoch), got {value!r}\n")
    assert list(tmp_path.iterdir()) == []


def test_a_finished_phase_keeps_its_last_epoch_whatever_later_callbacks_do(tmp_path):
    """As ``EarlyStopping(restore_best_weights=True)`` does: a callback changes the model when training ends."""
    import keras
    import tensorflow as tf

    from zoo.train.fit import fit_phase
    from zoo.train.job import TrainJob

    x, y = np.random.default_rng(1).normal(size=(16, 4)).astype("float32"), np.arange(16) % 3
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    job = TrainJob(backbone=None, class_names=["a", "b", "c"], train=None, val=None, options={}, epochs=2,
                   batch_size=8, lr=0.01, seed=0, make_dataset=None,
                   checkpoints=CheckpointStore(tmp_path / "checkpoints", interval=3600), work_dir=tmp_path,
                   verbose=0, log=lambda message: None)
    last: list[np.ndarray] = []

    class ChangeAtTheEnd(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            last.extend(self.model.get_weights())
            self.model.set_weights([w + 1 for w in last])

    fit_phase(job, "head", small_model(0), data, extra_callbacks=[ChangeAtTheEnd()])
    fresh = small_model(5)
    fit_phase(job, "head", fresh, data)  # restored, as a resumed run is
    for a, b in zip(fresh.get_weights(), last):
        np.testing.assert_array_equal(a, b)
