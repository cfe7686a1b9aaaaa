"""Domain adaptation: labelled source images and unlabelled target images, trained together.

Each step sees a source batch (with labels) and a target batch (without). The class
loss uses the source only; the domain term pulls the two feature distributions
together: DANN through a gradient-reversal layer and a domain classifier, Deep CORAL by
matching feature covariances, MMD by kernel mean embeddings. The target's labels are
never read here: the pipeline maps them away before the data reaches this module.
"""

from __future__ import annotations

import math

from zoo.training import TrainJob, TrainOutcome, fit_phase
from zoo_strategies.domain_losses import coral_loss, dann_lambda, gradient_reversal_layer, mmd_loss
from zoo_strategies.fine_tuning import unfreeze
from zoo_strategies.heads import make_head

DOMAIN_UNITS = 100


def build_adaptation_model(backbone, head, method: str, da_weight: float, total_steps: int):
    import keras
    import tensorflow as tf

    domain_classifier = None
    reversal = None
    if method == "dann":
        reversal = gradient_reversal_layer()(0.0, name="gradient_reversal")
        features = keras.Input((backbone.output_shape[-1],), name="features")
        hidden = keras.layers.Dense(DOMAIN_UNITS, activation="relu", name="domain_hidden")(reversal(features))
        hidden = keras.layers.Dense(DOMAIN_UNITS, activation="relu", name="domain_hidden_2")(hidden)
        logit = keras.layers.Dense(1, dtype="float32", name="domain_logit")(hidden)
        domain_classifier = keras.Model(features, logit, name="domain_classifier")

    class DomainAdaptation(keras.Model):
        """backbone -> head for prediction; the domain term only while training."""

        def __init__(self):
            super().__init__(name="domain_adaptation")
            self.backbone, self.head, self.domain_classifier = backbone, head, domain_classifier
            self.step_counter = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                                name="step_counter", dtype="float32")
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.class_loss_tracker = keras.metrics.Mean(name="class_loss")
            self.domain_loss_tracker = keras.metrics.Mean(name="domain_loss")
            self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
            self.domain_accuracy = keras.metrics.BinaryAccuracy(name="domain_accuracy", threshold=0.0)
            self.classification = keras.losses.SparseCategoricalCrossentropy()
            self.domain_loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

        def call(self, images, training=False):
            return self.head(self.backbone(images, training=training), training=training)

        @property
        def metrics(self):
            tracked = [self.loss_tracker, self.class_loss_tracker, self.domain_loss_tracker, self.accuracy]
            return tracked + ([self.domain_accuracy] if domain_classifier is not None else [])

        def train_step(self, data):
            (source_x, source_y), target_x = data
            n = tf.shape(source_x)[0]
            progress = self.step_counter / float(max(total_steps, 1))
            with tf.GradientTape() as tape:
                features = self.backbone(tf.concat([source_x, target_x], axis=0), training=True)
                source_f, target_f = features[:n], features[n:]
                probs = self.head(source_f, training=True)
                class_loss = self.classification(source_y, probs)
                if method == "dann":
                    reversal.scale.assign(da_weight * dann_lambda(progress))
                    logits = self.domain_classifier(features, training=True)
                    domains = tf.concat([tf.zeros((n, 1)), tf.ones((tf.shape(target_x)[0], 1))], axis=0)
                    domain_loss = self.domain_loss_fn(domains, logits)
                    loss = class_loss + domain_loss  # the reversal layer carries the weight
                elif method == "coral":
                    domain_loss = coral_loss(source_f, target_f)
                    loss = class_loss + da_weight * domain_loss
                else:
                    domain_loss = mmd_loss(source_f, target_f)
                    loss = class_loss + da_weight * domain_loss
            variables = self.trainable_variables
            self.optimizer.apply(tape.gradient(loss, variables), variables)
            self.step_counter.assign_add(1.0)
            self.loss_tracker.update_state(loss)
            self.class_loss_tracker.update_state(class_loss)
            self.domain_loss_tracker.update_state(domain_loss)
            self.accuracy.update_state(source_y, probs)
            if method == "dann":
                self.domain_accuracy.update_state(domains, logits)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            images, labels = data
            probs = self(images, training=False)
            loss = self.classification(labels, probs)
            self.loss_tracker.update_state(loss)
            self.class_loss_tracker.update_state(loss)
            self.accuracy.update_state(labels, probs)
            return {"loss": self.loss_tracker.result(), "accuracy": self.accuracy.result()}

    return DomainAdaptation(), domain_classifier


def images_only(dataset):
    return dataset.map(lambda images, labels: images)


def train(job: TrainJob) -> TrainOutcome:
    import keras
    import numpy as np
    import tensorflow as tf

    method, da_weight = job.options["method"], float(job.options["da_weight"])
    head = make_head(job.backbone.feature_dim, job.num_classes, units=job.options["units"],
                     dropout=job.options["dropout"])
    stages = unfreeze(job, str(job.options["unfreeze"]))
    job.log(f"domain adaptation ({method}), training backbone stages: {', '.join(stages) or 'none'}")
    steps = math.ceil(len(job.train) / job.batch_size)
    source = job.make_dataset(job.train, training=True, repeat=True)
    target = images_only(job.make_dataset(job.target, training=True, repeat=True))
    model, domain_classifier = build_adaptation_model(job.backbone.model, head, method, da_weight,
                                                      total_steps=steps * job.epochs)
    model.compile(optimizer=keras.optimizers.Adam(job.lr))
    val = job.make_dataset(job.val) if job.val is not None and len(job.val) else None
    history = fit_phase(job, f"adapt-{method}", model, tf.data.Dataset.zip((source, target)), val,
                        steps_per_epoch=steps)
    metrics = {"method": method}
    if domain_classifier is not None:
        metrics["domain_classifier_accuracy"] = domain_accuracy(job, domain_classifier)
    job.backbone.model.trainable = False
    return TrainOutcome(head=head, history=history, metrics=metrics)


def domain_accuracy(job: TrainJob, domain_classifier) -> float:
    """How well the domain classifier still tells held-out source from target (0.5: not at all)."""
    import numpy as np

    source_split = job.val if job.val is not None and len(job.val) else job.train
    target_split = job.target_eval if job.target_eval is not None else job.target
    correct, total = 0, 0
    for split, domain in ((source_split, 0), (target_split, 1)):
        features = job.backbone.model.predict(images_only(job.make_dataset(split)), verbose=0)
        logits = np.asarray(domain_classifier.predict(features, verbose=0)).ravel()
        correct += int(((logits > 0).astype(int) == domain).sum())
        total += len(logits)
    return correct / max(total, 1)
