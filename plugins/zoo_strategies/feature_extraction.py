"""Feature extraction: the backbone stays frozen and only a new head is trained.

The head always trains on what the backbone gives in inference mode, whether its
features are cached or recomputed every epoch (with augmentation): the backbone's own
dropout stays off and its BatchNorm uses its moving statistics, while the head's
dropout is on while training. A resumed run whose head phase is already finished
computes no features at all.
"""

from __future__ import annotations

from zoo.api import TrainJob, TrainOutcome, fit_phase, phase_finished
from zoo_strategies.features import choose_mode, compute_split_features, feature_dataset
from zoo_strategies.heads import compile_classifier, make_head


def train(job: TrainJob) -> TrainOutcome:
    head = make_head(job.backbone.feature_dim, job.num_classes, units=job.options["units"],
                     dropout=job.options["dropout"])
    history = train_head(job, head, epochs=job.epochs, phase="head",
                         cache=job.options.get("feature_cache", "auto"))
    return TrainOutcome(head=head, history=history)


def train_head(job: TrainJob, head, *, epochs: int, phase: str, cache: str = "auto") -> list[dict]:
    """Train ``head`` on a frozen backbone, on cached features unless augmenting."""
    job.backbone.model.trainable = False
    if job.augmenting and cache != "none":
        job.log("augmentation changes the images every epoch, so features are recomputed each epoch")
        cache = "none"
    if phase_finished(job, phase, epochs):  # restore what that phase trained, train nothing
        model = head_on_frozen_backbone(job.backbone.model, head) if cache == "none" else head
        compile_classifier(model, job.lr)
        return fit_phase(job, phase, model, None, epochs=epochs)
    if cache == "none":
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
    model = head_on_frozen_backbone(job.backbone.model, head)
    compile_classifier(model, job.lr)
    return fit_phase(job, phase, model, job.make_dataset(job.train, training=True), job.validation_data(),
                     epochs=epochs)


def _train_on_features(job: TrainJob, head, *, epochs: int, phase: str, cache: str) -> list[dict]:
    backbone, dim = job.backbone.model, job.backbone.feature_dim
    splits = [("train", job.train)] + ([("val", job.val)] if job.has_val else [])
    mode = choose_mode(cache, sum(len(split) for _, split in splits), dim)
    job.log(f"computing backbone features once ({len(job.train)} training images, kept in {mode})")
    features = compute_split_features(backbone, [(name, job.make_dataset(split), len(split)) for name, split in splits],
                                      dim, mode, job.work_dir / "features", verbose=job.verbose)
    train_data = feature_dataset(features[0], job.train.labels, job.batch_size, shuffle=True, seed=job.seed)
    val_data = None
    if job.has_val:
        val_data = feature_dataset(features[1], job.val.labels, job.batch_size, shuffle=False, seed=job.seed)
    compile_classifier(head, job.lr)
    return fit_phase(job, phase, head, train_data, val_data, epochs=epochs)
