"""fit_phase's data handling: one iterator for every epoch, with epochs exactly as plain ``fit`` has them."""

from __future__ import annotations

import numpy as np

from zoo.train.checkpoints import CheckpointStore


def batches(count: int = 10, batch: int = 4, shuffle: bool = True):
    import tensorflow as tf

    x = np.arange(count * 2, dtype="float32").reshape(count, 2)
    y = np.arange(count) % 3
    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        data = data.shuffle(count, seed=5, reshuffle_each_iteration=True)
    return data.batch(batch)


def dense_model():
    import keras

    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    return model


def test_a_finite_dataset_becomes_one_stream_with_the_steps_of_a_pass():
    import tensorflow as tf

    from zoo.train.fit import one_stream

    data = batches()
    stream, steps = one_stream(data, None)
    assert steps == 3  # 10 examples in batches of 4: the last one partial
    assert int(stream.cardinality()) == int(tf.data.INFINITE_CARDINALITY)
    unknown = data.filter(lambda x, y: True)
    for given, steps_given, per_call in [(unknown, None, 1), (data, 7, 1), (data.repeat(), None, 1), (data, None, 2),
                                         (np.zeros((4, 2)), None, 1)]:
        out, out_steps = one_stream(given, steps_given, per_call)
        assert out is given and out_steps == steps_given


def test_fit_phase_trains_the_epochs_plain_fit_trains(tmp_path):
    """The batches of one pass an epoch, the partial last one included: unshuffled, the very
    weights of ``fit`` with a new iterator each epoch. (Shuffled, each pass is a new order,
    as each new iterator's is: test_strategies checks the orders.)"""
    import keras

    from zoo.train.fit import fit_phase
    from zoo.train.job import TrainJob

    steps: list[int] = []

    class Steps(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            steps.append(0)

        def on_train_batch_end(self, batch, logs=None):
            steps[-1] += 1

    job = TrainJob(backbone=None, class_names=["a", "b", "c"], train=None, val=None, options={}, epochs=3,
                   batch_size=4, lr=0.1, seed=0, make_dataset=None,
                   checkpoints=CheckpointStore(tmp_path / "checkpoints", interval=0), work_dir=tmp_path, verbose=0,
                   log=lambda message: None)
    ours = dense_model()
    history = fit_phase(job, "head", ours, batches(shuffle=False), extra_callbacks=[Steps()])
    assert [row["epoch"] for row in history] == [1, 2, 3] and steps == [3, 3, 3]

    plain = dense_model()
    plain.fit(batches(shuffle=False), epochs=3, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert ours.optimizer.iterations.numpy() == 9


def test_several_steps_a_call_keep_plain_epochs(tmp_path):
    from zoo.train.fit import fit_phase
    from zoo.train.job import TrainJob

    job = TrainJob(backbone=None, class_names=["a", "b", "c"], train=None, val=None, options={}, epochs=2,
                   batch_size=4, lr=0.1, seed=0, make_dataset=None,
                   checkpoints=CheckpointStore(tmp_path / "checkpoints", interval=0), work_dir=tmp_path, verbose=0,
                   log=lambda message: None)
    model = dense_model()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", steps_per_execution=2)
    fit_phase(job, "head", model, batches())
    assert model.optimizer.iterations.numpy() == 6  # 3 batches an epoch, as fit counts them
