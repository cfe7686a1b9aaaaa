"""Feature extraction: the backbone stays frozen and only a new head is trained.

The head always trains on what the backbone gives in inference mode, whether its
features are cached or recomputed every epoch (with augmentation): the backbone's own
dropout stays off and its BatchNorm uses its moving statistics, while the head's
dropout is on while training. A resumed run whose head phase is already finished
computes no features at all.

On cached features the head is trained to its optimum at a cost that stays small next
to the one backbone pass: standardised features (by the head's first layer, from the
training features; with augmentation, from one pass over the images as they are),
the learning rate ``--head-lr`` (default 3 x ``--lr``), epochs of at least
:data:`~zoo_strategies.features.MIN_STEPS_PER_EPOCH` steps, and the weights of the epoch
with the best validation loss kept at the end (``--early-stopping`` also stops there).
Measured on 3 classes of coloured shapes (30 images each, 64 px, a random-weights AlexNet,
5 epochs): the same validation accuracy as a standardised L-BFGS logistic regression on
the same features (see ``tests/test_head_convergence.py``).
"""

from __future__ import annotations

from zoo.api import KEEP_BEST, TrainJob, TrainOutcome, UsageError, fit_phase, phase_finished
from zoo_strategies.features import (
    choose_mode,
    compute_features,
    compute_split_features,
    feature_dataset,
    standardisation,
    steps_per_epoch,
)
from zoo_strategies.heads import (
    compile_classifier,
    make_head,
    refresh_standardisation,
    set_standardisation,
    standardisation_layer,
)


def train(job: TrainJob) -> TrainOutcome:
    head = make_head(job.backbone.feature_dim, job.num_classes, units=job.options["units"],
                     dropout=job.options["dropout"], standardise=True)
    history = train_head(job, head, epochs=job.epochs, phase="head",
                         cache=job.options.get("feature_cache", "auto"))
    return TrainOutcome(head=head, history=history)


def train_head(job: TrainJob, head, *, epochs: int, phase: str, cache: str = "auto") -> list[dict]:
    """Train ``head`` on a frozen backbone, on cached features unless augmenting."""
    job.backbone.model.trainable = False
    if job.augmenting and cache != "none":
        job.log("augmentation changes the images every epoch, so features are recomputed each epoch")
        cache = "none"
    if cache == "none":
        if phase_finished(job, phase, epochs):  # restore what that phase trained, train nothing
            model = head_on_frozen_backbone(job.backbone.model, head)
            compile_classifier(model, job.lr)
            history = fit_phase(job, phase, model, None, epochs=epochs)
            refresh_standardisation(head)
            return history
        return _train_on_images(job, head, epochs=epochs, phase=phase)
    return _train_on_features(job, head, epochs=epochs, phase=phase, cache=cache)


def head_on_frozen_backbone(backbone, head):
    """Images -> ``head``, the backbone always in inference mode (as when its features are cached).

    A subclassed model, because a functional one cannot keep it there: Keras 3 passes
    ``fit``'s ``training=True`` to every layer of the graph, overriding a
    ``training=False`` written into it (keras-team/keras#20285), which would switch the
    frozen backbone's dropout on.
    """
    import keras

    class HeadOnFrozenBackbone(keras.Model):
        def __init__(self):
            super().__init__(name="head_on_frozen_backbone")
            self.backbone, self.head = backbone, head

        def call(self, images, training=False):
            return self.head(self.backbone(images, training=False), training=training)

    model = HeadOnFrozenBackbone()
    model.build(backbone.input_shape)
    return model


def _train_on_images(job: TrainJob, head, *, epochs: int, phase: str) -> list[dict]:
    if standardisation_layer(head) is not None:  # its statistics: one pass over the images as they are
        dim = job.backbone.feature_dim
        features = compute_features(job.backbone.model, job.make_dataset(job.train), len(job.train), dim,
                                    choose_mode("auto", len(job.train), dim), job.work_dir / "features", "train",
                                    verbose=job.verbose)
        set_standardisation(head, *standardisation(features))
    model = head_on_frozen_backbone(job.backbone.model, head)
    compile_classifier(model, job.lr)
    return fit_phase(job, phase, model, job.make_dataset(job.train, training=True), job.validation_data(),
                     epochs=epochs)


HEAD_LR_FACTOR = 3.0


def head_lr(job: TrainJob) -> float:
    """``--head-lr``, or ``HEAD_LR_FACTOR`` x ``--lr``: standardised features take larger steps than a backbone."""
    given = job.options.get("head_lr")
    if given is None:
        return job.lr * HEAD_LR_FACTOR
    if not given > 0:
        raise UsageError(f"--head-lr must be greater than 0, got {given:g}")
    return given


def _train_on_features(job: TrainJob, head, *, epochs: int, phase: str, cache: str) -> list[dict]:
    """The head on cached features, standardised by its first layer (when it has one).

    An epoch is one call of the training function (``steps_per_execution``): a step on cached
    features is so cheap that a call per step spends most of the epoch in Python and callbacks
    (measured on one machine: 10 epochs of 100 steps of a 2048-wide head took 2.9 s one call a
    step, 1.6 s one call an epoch). So callbacks' batch hooks, and Ctrl-C, act once an epoch
    here; under ``--distribute multi-worker`` zoo's own loop steps one batch a call as before.
    The head is compiled again one step a call before it is returned.
    """
    epoch_steps = steps_per_epoch(len(job.train), job.batch_size)
    compile_classifier(head, head_lr(job), steps_per_execution=epoch_steps)
    if phase_finished(job, phase, epochs):  # restore what that phase trained (statistics included), compute nothing
        history = fit_phase(job, phase, head, None, epochs=epochs)
        refresh_standardisation(head)
        compile_classifier(head, head_lr(job))
        return history
    backbone, dim = job.backbone.model, job.backbone.feature_dim
    splits = [("train", job.train)] + ([("val", job.val)] if job.has_val else [])
    mode = choose_mode(cache, sum(len(split) for _, split in splits), dim)
    job.log(f"computing backbone features once ({len(job.train)} training images, kept in {mode})")
    features = compute_split_features(backbone, [(name, job.make_dataset(split), len(split)) for name, split in splits],
                                      dim, mode, job.work_dir / "features", verbose=job.verbose)
    set_standardisation(head, *standardisation(features[0]))
    train_data = feature_dataset(features[0], job.train.labels, job.batch_size, shuffle=True, seed=job.seed,
                                 repeat=True)
    val_data = None
    if job.has_val:
        val_data = feature_dataset(features[1], job.val.labels, job.batch_size, shuffle=False, seed=job.seed)
    history = fit_phase(job, phase, head, train_data, val_data, epochs=epochs, steps_per_epoch=epoch_steps,
                        early_stopping=KEEP_BEST)
    compile_classifier(head, head_lr(job))  # later predictions on it: one batch a call
    return history
