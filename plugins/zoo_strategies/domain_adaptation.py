"""Domain adaptation: labelled source images and unlabelled target images, trained together.

Each step sees a source batch (with labels) and a target batch (without). The class
loss uses the source only; the domain term pulls the two feature distributions
together: DANN through a gradient-reversal layer and a domain classifier, Deep CORAL by
matching feature covariances, MMD by kernel mean embeddings. The target's labels are
never read here: the pipeline blanks them before the data reaches this module.

Training follows Ganin & Lempitsky (2015): SGD with momentum 0.9, the learning rate
annealed as ``lr / (1 + 10 p) ** 0.75`` and, for DANN, the domain weight ramped up as
``2 / (1 + exp(-10 p)) - 1`` over the progress ``p`` (see :mod:`zoo_strategies.schedules`).

BatchNormalization (``batchnorm``), the choice that decides whether this works:

``domain`` (default)  source and target batches go through the backbone separately, so
                      each is normalised with its own batch statistics; once trained,
                      the moving statistics are recomputed on the target images
                      (AdaBN, Li et al. 2016): the adapter is made for the target
                      domain. Removing each domain's first and second moments in
                      every BN layer leaves the domain term the shift that remains.
``mixed``             one forward pass over the concatenated batches: shared
                      statistics of the mixture, kept as they are.
``frozen``            BN in inference mode, as in fine-tuning.

Measured on digits -> digits-m (``zoo demo``'s source models, alexnet-small, 30 epochs
of 32 + 32 images, lr 0.01, 3 seeds), target test accuracy: the same training without a
domain term 0.57; with ``domain`` statistics DANN 0.88, Deep CORAL 0.71, MMD 0.67; DANN
with ``mixed`` statistics 0.22, below the source-only model (0.39). Only the BN layers
of the unfrozen stages (``unfreeze``, all by default) use batch statistics; the others
stay in inference mode.
"""

from __future__ import annotations

import math

from zoo.api import TrainJob, TrainOutcome, UsageError, fit_phase
from zoo_strategies.domain_losses import coral_loss, gradient_reversal_layer, mmd_loss
from zoo_strategies.freezing import recompute_batchnorm_statistics, trainable_parameters, unfreeze_stages
from zoo_strategies.heads import make_head
from zoo_strategies.schedules import annealed_schedule, dann_lambda

DEFAULT_WEIGHTS = {"dann": 1.0, "coral": 300.0, "mmd": 10.0}
"""``da_weight`` when none is given. DANN's is the final lambda of the paper (1). CORAL
and MMD on raw features are orders of magnitude smaller than the class loss (CORAL
about 0.007 on alexnet-small's 256 features at the start); these weights bring them
to the class loss's scale, as Sun & Saenko advise; they were picked on the demo's
domains (CORAL 1, 30, 100, 300; MMD 1, 10) at a time when the target stream was
shuffled like the source and so paired each image with its twin, and are not re-tuned."""
TARGET_SEED_OFFSET = 7919
DOMAIN_UNITS = 100
MOMENTUM = 0.9


def domain_weight(options: dict) -> float:
    value = options.get("da_weight")
    return DEFAULT_WEIGHTS[options["method"]] if value is None else float(value)


def make_domain_classifier(feature_dim: int):
    """Features -> one logit (target = 1); the reversal layer sits in front of it in training."""
    import keras

    features = keras.Input((feature_dim,), name="features")
    hidden = keras.layers.Dense(DOMAIN_UNITS, activation="relu", name="domain_hidden")(features)
    hidden = keras.layers.Dense(DOMAIN_UNITS, activation="relu", name="domain_hidden_2")(hidden)
    logit = keras.layers.Dense(1, dtype="float32", name="domain_logit")(hidden)
    return keras.Model(features, logit, name="domain_classifier")


def build_adaptation_model(backbone, head, method: str, weight: float, total_steps: int,
                           batchnorm: str = "domain"):
    """A Keras model whose ``train_step`` does one adaptation step; returns (model, domain classifier)."""
    import keras
    import tensorflow as tf

    domain_classifier = make_domain_classifier(backbone.output_shape[-1]) if method == "dann" else None
    reversal = gradient_reversal_layer()(0.0, name="gradient_reversal") if method == "dann" else None
    separate = batchnorm == "domain"

    class DomainAdaptation(keras.Model):
        """backbone -> head for prediction; the domain term only while training."""

        def __init__(self):
            super().__init__(name="domain_adaptation")
            self.backbone, self.head = backbone, head
            self.domain_classifier, self.reversal = domain_classifier, reversal
            self.loss_tracker = keras.metrics.Mean(name="loss")
            self.class_loss_tracker = keras.metrics.Mean(name="class_loss")
            self.domain_loss_tracker = keras.metrics.Mean(name="domain_loss")
            self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
            self.domain_accuracy = keras.metrics.BinaryAccuracy(name="domain_accuracy", threshold=0.0)
            self.domain_weight = keras.metrics.Mean(name="domain_weight")
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
                       self.domain_weight]
            return tracked + ([self.domain_accuracy] if domain_classifier is not None else [])

        def features(self, source_x, target_x):
            if separate:  # each domain normalised by its own batch statistics
                return self.backbone(source_x, training=True), self.backbone(target_x, training=True)
            n = tf.shape(source_x)[0]
            both = self.backbone(tf.concat([source_x, target_x], axis=0), training=True)
            return both[:n], both[n:]

        def train_step(self, data):
            (source_x, source_y), target_x = data
            progress = tf.cast(self.optimizer.iterations, tf.float32) / float(max(total_steps, 1))
            with tf.GradientTape() as tape:
                source_f, target_f = self.features(source_x, target_x)
                probs = self.head(source_f, training=True)
                class_loss = self.classification(source_y, probs)
                if method == "dann":
                    scale = weight * dann_lambda(progress)
                    self.reversal.scale.assign(scale)
                    joined = tf.concat([source_f, target_f], axis=0)
                    logits = self.domain_classifier(self.reversal(joined), training=True)
                    domains = tf.concat([tf.zeros((tf.shape(source_f)[0], 1)), tf.ones((tf.shape(target_f)[0], 1))],
                                        axis=0)
                    domain_loss = self.domain_loss_fn(domains, logits)
                    loss = class_loss + domain_loss  # the reversal layer carries the weight
                else:
                    scale = tf.constant(weight, tf.float32)
                    # Keras' Loss objects (the class loss, DANN's) are already divided by the
                    # replicas that sum their gradients; the plain functions are not.
                    domain_loss = per_replica((coral_loss if method == "coral" else mmd_loss)(source_f, target_f))
                    loss = class_loss + scale * domain_loss
                scaled = self.optimizer.scale_loss(loss)  # mixed_float16: loss scaling; otherwise unchanged
            variables = self.trainable_variables
            self.optimizer.apply(tape.gradient(scaled, variables), variables)
            self.loss_tracker.update_state(whole(loss))
            self.class_loss_tracker.update_state(whole(class_loss))
            self.domain_loss_tracker.update_state(whole(domain_loss))
            self.domain_weight.update_state(scale)
            self.accuracy.update_state(source_y, probs)
            if method == "dann":
                self.domain_accuracy.update_state(domains, logits)
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


def images_only(dataset):
    return dataset.map(lambda images, labels: images)


def train(job: TrainJob) -> TrainOutcome:
    import keras
    import tensorflow as tf

    method, batchnorm = job.options["method"], job.options["batchnorm"]
    weight = domain_weight(job.options)
    if job.target is None or not len(job.target):
        raise UsageError("domain adaptation needs target images: --target DATASET with a training split")
    head = make_head(job.backbone.feature_dim, job.num_classes, units=job.options["units"],
                     dropout=job.options["dropout"])
    stages = unfreeze_stages(job.backbone, str(job.options["unfreeze"]),
                             batchnorm="frozen" if batchnorm == "frozen" else "train")
    backbone = job.backbone.model
    job.log(f"domain adaptation ({method}, weight {weight:g}, batchnorm {batchnorm}), "
            f"training backbone stages: {', '.join(stages) or 'none'}")
    steps = math.ceil(len(job.train) / job.batch_size)
    total_steps = steps * job.epochs
    source = job.make_dataset(job.train, training=True, repeat=True)
    # The target stream is shuffled apart from the source: built from the same images
    # (digits and digits-m are), two streams shuffled alike would pair every source image
    # with its own target twin, and so leak the target's labels into the domain term.
    target = images_only(job.make_dataset(job.target, training=True, repeat=True, seed=job.seed + TARGET_SEED_OFFSET))
    model, domain_classifier = build_adaptation_model(backbone, head, method, weight, total_steps, batchnorm)
    model.compile(optimizer=keras.optimizers.SGD(annealed_schedule(job.lr, total_steps), momentum=MOMENTUM))
    history = fit_phase(job, f"adapt-{method}", model, tf.data.Dataset.zip((source, target)), job.validation_data(),
                        steps_per_epoch=steps)
    if batchnorm == "domain":
        batches = recompute_batchnorm_statistics(backbone, images_only(job.make_dataset(job.target)))
        if batches:
            job.log(f"BatchNorm statistics set from the target images ({batches} batches)")
        else:
            job.log("warning: batchnorm 'domain' found no trainable BatchNorm layer to set from the target "
                    "images (a TF Hub module keeps its own out of reach); the moving statistics stay as trained")
    metrics = {"method": method, "da_weight": weight, "batchnorm": batchnorm,
               "trainable_backbone_parameters": trainable_parameters(backbone)}
    if domain_classifier is not None:
        metrics["domain_classifier_accuracy"] = domain_accuracy(job, domain_classifier)
    backbone.trainable = False
    return TrainOutcome(head=head, history=history, metrics=metrics)


def domain_accuracy(job: TrainJob, domain_classifier) -> float:
    """How well the domain classifier tells held-out source from target with the final model (0.5: not at all).

    Uses images only: the target's evaluation split if it has one, else its training images.
    """
    import numpy as np

    source_split = job.val if job.has_val else job.train
    target_split = job.target_eval if job.target_eval is not None and len(job.target_eval) else job.target
    correct, total = 0, 0
    for split, domain in ((source_split, 0), (target_split, 1)):
        features = job.backbone.model.predict(images_only(job.make_dataset(split)), verbose=0)
        logits = np.asarray(domain_classifier.predict(features, verbose=0)).ravel()
        correct += int(((logits > 0).astype(int) == domain).sum())
        total += len(logits)
    return correct / max(total, 1)
