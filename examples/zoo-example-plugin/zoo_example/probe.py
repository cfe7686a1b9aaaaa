"""The ``linear-probe`` strategy: a strategy from scratch, trained through ``fit_phase``.

A frozen backbone with a new softmax layer on top, trained end to end on images (so
augmentation applies), with L2 regularisation and label smoothing as options. Because
every epoch goes through :func:`zoo.api.fit_phase`, the run checkpoints and resumes
with ``--resume`` without any code here.
"""

from __future__ import annotations

from zoo.api import TrainJob, TrainOutcome, compose, fit_phase


def train(job: TrainJob) -> TrainOutcome:
    import keras

    job.backbone.model.trainable = False  # the backbone arrives as its source built it
    inputs = keras.Input((job.backbone.feature_dim,), name="features")
    outputs = keras.layers.Dense(job.num_classes, activation="softmax", dtype="float32", name="probabilities",
                                 kernel_regularizer=keras.regularizers.L2(job.options["l2"]))(inputs)
    head = keras.Model(inputs, outputs, name="head")
    model = compose(job.backbone.model, head)  # raw pixels in, probabilities out
    model.compile(optimizer=keras.optimizers.Adam(job.lr), metrics=["accuracy"],
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=job.options["label_smoothing"]))
    def with_one_hot(batches):
        import tensorflow as tf

        return batches.map(lambda images, labels: (images, tf.one_hot(labels, job.num_classes)))

    validation = job.validation_data()
    history = fit_phase(job, "probe", model, with_one_hot(job.make_dataset(job.train, training=True)),
                        with_one_hot(validation) if validation is not None else None)
    return TrainOutcome(head=head, history=history)
