"""Checkpoints: written in the background, kill-safe on disk, taken only when their cost allows."""

from __future__ import annotations

import json

import numpy as np

from zoo.checkpoints import CheckpointStore, PhaseState


def small_model(seed: int):
    import keras

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(5)(inputs)))
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    return model


def test_round_trip_of_weights_and_optimizer(tmp_path):
    model = small_model(0)
    x, y = np.random.default_rng(1).normal(size=(16, 4)).astype("float32"), np.arange(16) % 3
    model.fit(x, y, epochs=2, verbose=0)  # the optimizer has state worth keeping
    store = CheckpointStore(tmp_path / "checkpoints")
    store.save("head", model, PhaseState(epoch=2, history=[{"epoch": 1}, {"epoch": 2}]))

    fresh = small_model(5)
    state = CheckpointStore(tmp_path / "checkpoints").restore("head", fresh)  # waits for the write in flight
    assert state == PhaseState(epoch=2, done=False, history=[{"epoch": 1}, {"epoch": 2}])
    for a, b in zip(model.get_weights(), fresh.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(model.optimizer.variables, fresh.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_state_names_complete_weights_and_stale_ones_go(tmp_path):
    model = small_model(0)
    store = CheckpointStore(tmp_path)
    folder = tmp_path / "head"
    store.save("head", model, PhaseState(epoch=1), wait=True)
    (folder / ".weights-killed").mkdir()  # what a kill in the middle of a write leaves
    (folder / "weights-0007").mkdir()  # written, but the state never pointed at it
    store.save("head", model, PhaseState(epoch=2), wait=True)
    state = json.loads((folder / "state.json").read_text())
    assert state["epoch"] == 2 and state["weights"] == "weights-0002"
    assert sorted(p.name for p in folder.iterdir()) == ["state.json", "weights-0002"]
    assert len(list((folder / "weights-0002").glob("w*.npy"))) == len(model.get_weights())
    store.save("head", model, PhaseState(epoch=2, done=True), wait=True)
    assert json.loads((folder / "state.json").read_text())["weights"] == "weights-0002-done"
