"""The Keras model whose ``train_step`` is one domain-adaptation step, for every method.

Each step sees a source batch (with labels) and a target batch (without). The class
loss uses the source only; the domain term uses both:

``dann``   a domain classifier on the features, behind a gradient-reversal layer
           whose scale follows the DANN lambda schedule (times ``weight``);
``cdan``   the same, but the classifier sees the features conditioned on the predicted
           class probabilities (their outer product), and confident examples weigh more
           (CDAN+E, Long et al. 2018);
``mcc``    no domain classifier: ``weight`` times the Minimum Class Confusion of the
           target's predictions (Jin et al. 2020);
``coral``, ``mmd``  ``weight`` times a statistic between the two feature batches.

Every step also tracks what the target's predictions look like (their entropy and how
many classes they use), the signals :mod:`zoo_strategies.adaptation_signals` reports.
"""

from __future__ import annotations

import math

from zoo_strategies.domain_losses import (
    certainty_weights,
    coral_loss,
    entropy,
    gradient_reversal_layer,
    mcc_loss,
    mmd_loss,
    multilinear_map,
    multilinear_map_size,
)
from zoo_strategies.schedules import dann_lambda

ADVERSARIAL = ("dann", "cdan")
DOMAIN_UNITS = 100


def make_domain_classifier(input_dim: int):
    """Features (or CDAN's conditioned features) -> one logit (target = 1)."""
    import keras

    features = keras.Input((input_dim,), name="features")
    hidden = keras.layers.Dense(DOMAIN_UNITS, activation="relu", name="domain_hidden")(features)
    hidden = keras.layers.Dense(DOMAIN_UNITS, activation="relu", name="domain_hidden_2")(hidden)
    logit = keras.layers.Dense(1, dtype="float32", name="domain_logit")(hidden)
    return keras.Model(features, logit, name="domain_classifier")


def random_projections(feature_dim: int, num_classes: int, seed: int = 0):
    """CDAN's two fixed random matrices when ``d * K`` is too wide to condition on whole (else None)."""
    import numpy as np

    width = multilinear_map_size(feature_dim, num_classes)
    if width == feature_dim * num_classes:
        return None
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((feature_dim, width)).astype("float32"),
            rng.standard_normal((num_classes, width)).astype("float32"))


class ClassesUsed:
    """A Keras metric made on first use: how many classes the target's predictions use, ``exp(H(shares))``.

    ``shares`` are the fractions of the epoch's target images predicted as each class, so
    K when they are spread evenly and 1 when all fall in one class.
    """

    @staticmethod
    def make(num_classes: int):
        import keras
        import tensorflow as tf

        class TargetClasses(keras.metrics.Metric):
            def __init__(self):
                super().__init__(name="target_classes")
                self.counts = self.add_variable(shape=(num_classes,), initializer="zeros", name="counts")

            def update_state(self, probs):
                predicted = tf.one_hot(tf.argmax(probs, axis=1), num_classes, dtype=tf.float32)
                self.counts.assign_add(tf.reduce_sum(predicted, axis=0))

            def result(self):
                shares = self.counts / tf.maximum(tf.reduce_sum(self.counts), 1.0)
                return tf.exp(-tf.reduce_sum(shares * tf.math.log(shares + 1e-12)))

        return TargetClasses()


def build_adaptation_model(backbone, head, method: str, weight: float, total_steps: int,
                           batchnorm: str = "domain"):
    """A Keras model whose ``train_step`` does one adaptation step; returns (model, domain classifier)."""
    import keras
    import tensorflow as tf

    feature_dim = backbone.output_shape[-1]
    num_classes = head.output_shape[-1]
    projections = random_projections(feature_dim, num_classes) if method == "cdan" else None
    classifier_input = multilinear_map_size(feature_dim, num_classes) if method == "cdan" else feature_dim
    domain_classifier = make_domain_classifier(classifier_input) if method in ADVERSARIAL else None
    reversal = gradient_reversal_layer()(0.0, name="gradient_reversal") if method in ADVERSARIAL else None
    separate = batchnorm == "domain"
    max_entropy = math.log(max(num_classes, 2))

    class DomainAdaptation(keras.Model):
        """backbone -> head for prediction; the domain term only while training."""

        def __init__(self):
            super().__init__(name="domain_adaptation")
            self.backbone, self.head = backbone, head
            self.domain_classifier, self.reversal = domain_classifier, reversal
            self.projections = projections
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.class_loss_tracker = keras.metrics.Mean(name="class_loss")
            self.domain_loss_tracker = keras.metrics.Mean(name="domain_loss")
            self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
            self.domain_accuracy = keras.metrics.BinaryAccuracy(name="domain_accuracy", threshold=0.0)
            self.domain_weight = keras.metrics.Mean(name="domain_weight")
            self.target_entropy = keras.metrics.Mean(name="target_entropy")
            self.target_classes = ClassesUsed.make(num_classes)
            self.classification = keras.losses.SparseCategoricalCrossentropy()
            self.domain_loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)
            # Every part is built already. Saying so keeps Keras from building this model
            # symbolically under a tf.distribute strategy, by calling it on a training batch
            # ((source images, labels), target images), which is not what ``call`` takes.
            self.built = True

        def call(self, images, training=False):
            return self.head(self.backbone(images, training=training), training=training)

        @property
        def metrics(self):
            tracked = [self.loss_tracker, self.class_loss_tracker, self.domain_loss_tracker, self.accuracy,
                       self.domain_weight, self.target_entropy, self.target_classes]
            return tracked + ([self.domain_accuracy] if domain_classifier is not None else [])

        def features(self, source_x, target_x):
            if separate:  # each domain normalised by its own batch statistics
                return self.backbone(source_x, training=True), self.backbone(target_x, training=True)
            n = tf.shape(source_x)[0]
            both = self.backbone(tf.concat([source_x, target_x], axis=0), training=True)
            return both[:n], both[n:]

        def conditioned(self, features, probs):
            """What the domain classifier sees: the features, or CDAN's map of features and predictions."""
            if method != "cdan":
                return features
            return multilinear_map(features, tf.stop_gradient(probs), self.projections)

        def domain_term(self, source_f, target_f, source_p, target_p, progress):
            """``(loss to add, domain loss to report, scale, (labels, logits) or None)``."""
            if method in ADVERSARIAL:
                scale = weight * dann_lambda(progress)
                self.reversal.scale.assign(scale)
                joined_f = tf.concat([source_f, target_f], axis=0)
                joined_p = tf.concat([source_p, target_p], axis=0)
                logits = self.domain_classifier(self.reversal(self.conditioned(joined_f, joined_p)), training=True)
                domains = tf.concat([tf.zeros((tf.shape(source_f)[0], 1)), tf.ones((tf.shape(target_f)[0], 1))],
                                    axis=0)
                certainty = certainty_weights(joined_p) if method == "cdan" else None
                domain_loss = self.domain_loss_fn(domains, logits, sample_weight=certainty)
                return domain_loss, domain_loss, scale, (domains, logits)  # the reversal carries the weight
            scale = tf.constant(weight, tf.float32)
            if method == "mcc":
                domain_loss = per_replica(mcc_loss(target_p))
            else:
                # Keras' Loss objects (the class loss, DANN's) are already divided by the
                # replicas that sum their gradients; the plain functions are not.
                domain_loss = per_replica((coral_loss if method == "coral" else mmd_loss)(source_f, target_f))
            return scale * domain_loss, domain_loss, scale, None

        def train_step(self, data):
            (source_x, source_y), target_x = data
            progress = tf.cast(self.optimizer.iterations, tf.float32) / float(max(total_steps, 1))
            with tf.GradientTape() as tape:
                source_f, target_f = self.features(source_x, target_x)
                probs = self.head(source_f, training=True)
                target_p = self.head(target_f, training=True)
                class_loss = self.classification(source_y, probs)
                added, domain_loss, scale, adversary = self.domain_term(source_f, target_f, probs, target_p, progress)
                loss = class_loss + added
                scaled = self.optimizer.scale_loss(loss)  # mixed_float16: loss scaling; otherwise unchanged
            variables = self.trainable_variables
            self.optimizer.apply(tape.gradient(scaled, variables), variables)
            self.loss_tracker.update_state(whole(loss))
            self.class_loss_tracker.update_state(whole(class_loss))
            self.domain_loss_tracker.update_state(whole(domain_loss))
            self.domain_weight.update_state(scale)
            self.accuracy.update_state(source_y, probs)
            self.target_entropy.update_state(entropy(target_p) / max_entropy)  # 0: one-hot, 1: uniform
            self.target_classes.update_state(target_p)
            if adversary is not None:
                self.domain_accuracy.update_state(*adversary)
            return {m.name: m.result() for m in self.metrics}

        def test_step(self, data):
            images, labels = data
            probs = self(images, training=False)
            loss = self.classification(labels, probs)
            self.loss_tracker.update_state(whole(loss))
            self.accuracy.update_state(labels, probs)
            return {"loss": self.loss_tracker.result(), "accuracy": self.accuracy.result()}

    return DomainAdaptation(), domain_classifier


def replicas() -> int:
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def per_replica(loss):
    """``loss`` divided by the replicas whose gradients are summed (as Keras' Loss objects do)."""
    return loss / float(replicas()) if replicas() > 1 else loss


def whole(loss):
    """Undo :func:`per_replica` for reporting: the loss of the whole step."""
    return loss * float(replicas()) if replicas() > 1 else loss
