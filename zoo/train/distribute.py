"""``--distribute``: the ``tf.distribute`` strategy a run trains under, and the loop that
multi-worker training needs.

``mirrored`` uses every local device with plain ``model.fit``. ``multi-worker`` joins
the cluster that ``TF_CONFIG`` describes. Keras 3's ``model.fit`` does not run under
``MultiWorkerMirroredStrategy`` (keras-team/keras#20585), so :func:`fit_across_workers`
trains with ``strategy.run`` over a distributed dataset instead: the loss is averaged
over the *global* batch (Keras' optimizer sums the replicas' gradients), and the
epoch's loss and accuracy are summed across every replica before they are reported.
Prediction (``model.predict``) works under the strategy as it is: Keras gathers the
workers' outputs back into order. Every worker runs the same ``zoo train`` command
(same ``--out``); only the chief writes the run folder (:func:`scratch_name`).
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

from zoo.errors import UsageError, ZooError

TF_CONFIG = "TF_CONFIG"
_multi_worker: dict[str, Any] = {}  # TF_CONFIG -> the one strategy this process may create


def make_strategy(name: str):
    """``None`` for ``none``, else a ``tf.distribute.Strategy``.

    Call this before any other TensorFlow work in the process: ``multi-worker`` sets
    up TensorFlow's collective ops, which can only be done at start-up. The
    multi-worker strategy is made once per process and reused by later stages.
    """
    if name == "none":
        return None
    if name == "mirrored":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy()
    if name != "multi-worker":
        raise UsageError(f"unknown --distribute {name!r}; use none, mirrored or multi-worker")
    raw = read_tf_config()
    if raw in _multi_worker:
        return _multi_worker[raw]
    if _multi_worker:
        raise UsageError("this process already joined a multi-worker cluster with another TF_CONFIG; "
                         "run each cluster's stages in their own processes")
    import tensorflow as tf

    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:
        if "startup" not in str(error):
            raise
        raise ZooError("--distribute multi-worker must start before any other TensorFlow work in the process; "
                       "run each worker as its own `zoo train` or `zoo run` process") from None
    _multi_worker[raw] = strategy
    return strategy


def read_tf_config() -> str:
    """``TF_CONFIG`` as given, after checking that it names a cluster and this worker's place in it."""
    raw = os.environ.get(TF_CONFIG, "").strip()
    example = '\'{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}\''
    if not raw:
        raise UsageError(f"--distribute multi-worker needs TF_CONFIG set to the cluster and this worker's task, "
                         f"e.g. TF_CONFIG={example}")
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise UsageError(f"TF_CONFIG is not valid JSON ({error}); expected e.g. {example}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not cluster or not all(isinstance(v, list) and v for v in cluster.values()):
        raise UsageError(f"TF_CONFIG needs a \"cluster\" mapping each job to its addresses, e.g. {example}")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise UsageError(f"TF_CONFIG's \"task\" must name one of the cluster's jobs ({', '.join(cluster)}) "
                         f"and this process's index in it")
    index, members = task.get("index"), cluster[task["type"]]
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(members):
        raise UsageError(f"TF_CONFIG's task index {index!r} is not a position in its job "
                         f"'{task['type']}' (0 to {len(members) - 1})")
    return raw


def scratch_name(distribute: str) -> str | None:
    """``None`` for a process that writes the run folder, else ``worker-N`` (its scratch folder's suffix).

    Under ``multi-worker`` only the chief writes ``OUT``: the task of type ``chief``, or
    worker 0 when the cluster has no chief. Every other worker trains the same model
    (its collective ops need it) but keeps its files in ``OUT.worker-N``, so no two
    processes ever write one folder.
    """
    if distribute != "multi-worker":
        return None
    config = json.loads(read_tf_config())
    task, cluster = config["task"], config["cluster"]
    chief = task["type"] == "chief" or (task["type"] == "worker" and task["index"] == 0 and "chief" not in cluster)
    return None if chief else f"{task['type']}-{task['index']}"


def is_multi_worker(strategy) -> bool:
    if strategy is None:
        return False
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def check_trainable_across_workers(model, phase: str) -> None:
    """Refuse, in one line, what the multi-worker loop cannot train faithfully."""
    import keras

    if type(model).train_step is not keras.Model.train_step:
        raise UsageError(f"--distribute multi-worker is not supported for phase '{phase}': its model "
                         f"'{model.name}' trains with its own train_step; use --distribute none or mirrored")
    if getattr(model, "optimizer", None) is None or getattr(model, "loss", None) is None:
        raise UsageError(f"--distribute multi-worker: the model of phase '{phase}' must be compiled with an "
                         "optimizer and one loss")
    if isinstance(model.loss, (dict, list, tuple)):
        raise UsageError(f"--distribute multi-worker: the model of phase '{phase}' has several losses; "
                         "the multi-worker loop trains one output with one loss")


def per_example_loss(model) -> Callable:
    """The compiled loss, unreduced: one value per example."""
    import keras

    loss = model.loss
    if isinstance(loss, keras.losses.Loss):
        return loss.call
    return keras.losses.get(loss)


def fit_across_workers(strategy, model, train_data, val_data=None, *, epochs: int, initial_epoch: int = 0,
                       steps_per_epoch: int | None = None, callbacks: list | None = None, verbose: int = 1) -> None:
    """``model.fit`` for ``MultiWorkerMirroredStrategy``: same epochs, callbacks and logs.

    ``model`` must be built and compiled under ``strategy.scope()``. Each worker passes
    the same ``train_data`` (the same global batches, in the same order): the batches
    are split across the workers' replicas. Logs are ``loss`` and ``accuracy`` (with
    ``val_`` twins), over every example of every worker.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    loss_fn = per_example_loss(model)
    optimizer = model.optimizer
    if not optimizer.built:
        with strategy.scope():
            optimizer.build(model.trainable_variables)
    replicas = strategy.num_replicas_in_sync

    def sums(per_example, probs, labels):
        """(loss sum, correct predictions, examples) of this replica's batch."""
        count = tf.cast(tf.shape(per_example)[0], tf.float32)
        correct = tf.constant(0.0)
        if probs.shape.rank == 2:
            predicted = tf.argmax(probs, axis=-1, output_type=tf.int64)
            correct = tf.reduce_sum(tf.cast(tf.equal(predicted, tf.reshape(tf.cast(labels, tf.int64), [-1])),
                                            tf.float32))
        return tf.reduce_sum(tf.cast(per_example, tf.float32)), correct, count

    def replica_train(images, labels):
        context = tf.distribute.get_replica_context()
        global_count = context.all_reduce("SUM", tf.cast(tf.shape(labels)[0], tf.float32))
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            probs = model(images, training=True)
            per_example = loss_fn(labels, probs)
            loss = tf.reduce_sum(tf.cast(per_example, tf.float32)) / tf.maximum(global_count, 1.0)
            if model.losses:  # regularisers: each replica adds its share, the optimizer sums them
                loss += tf.add_n([tf.cast(extra, tf.float32) for extra in model.losses]) / replicas
            scaled = optimizer.scale_loss(loss)
        optimizer.apply(tape.gradient(scaled, variables), variables)
        return sums(per_example, probs, labels)

    def replica_test(images, labels):
        probs = model(images, training=False)
        return sums(loss_fn(labels, probs), probs, labels)

    def reduced(step):
        @tf.function
        def run(batch):
            images, labels = batch[0], batch[1]
            outputs = strategy.run(step, args=(images, labels))
            return tf.stack([strategy.reduce("SUM", value, axis=None) for value in outputs])

        return run

    train_step, test_step = reduced(replica_train), reduced(replica_test)

    def logs_of(totals, prefix: str = "") -> dict[str, float]:
        seen = max(float(totals[2]), 1.0)
        return {f"{prefix}loss": float(totals[0]) / seen, f"{prefix}accuracy": float(totals[1]) / seen}

    train_batches = strategy.experimental_distribute_dataset(shard_by_data(train_data))
    val_batches = strategy.experimental_distribute_dataset(shard_by_data(val_data)) if val_data is not None else None
    steps = steps_per_epoch or known_length(train_data)
    hooks = keras.callbacks.CallbackList(callbacks or [], add_history=False, add_progbar=verbose != 0, model=model,
                                         verbose=verbose, epochs=epochs, steps=steps)
    model.stop_training = False
    running = iter(train_batches) if steps_per_epoch else None

    def epoch_batches():
        """A pass over the data, or with ``steps_per_epoch`` the next steps of one stream (as fit does)."""
        nonlocal running
        if not steps_per_epoch:
            yield from train_batches
            return
        for _ in range(steps_per_epoch):
            try:
                yield next(running)
            except StopIteration:
                running = iter(train_batches)
                yield next(running)

    logs: dict[str, float] = {}
    hooks.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        hooks.on_epoch_begin(epoch)
        totals = np.zeros(3)
        for step, batch in enumerate(epoch_batches()):
            hooks.on_train_batch_begin(step)
            totals += train_step(batch).numpy()
            hooks.on_train_batch_end(step, logs_of(totals))
        logs = logs_of(totals)
        if val_batches is not None:
            val_totals = np.zeros(3)
            for batch in val_batches:
                val_totals += test_step(batch).numpy()
            logs.update(logs_of(val_totals, "val_"))
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end(logs)


def shard_by_data(dataset):
    """Each worker takes its share of every global batch (the data are not files to split)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def known_length(dataset) -> int | None:
    import tensorflow as tf

    length = int(dataset.cardinality())
    return length if length >= 0 and length != tf.data.INFINITE_CARDINALITY else None
