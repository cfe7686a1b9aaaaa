"""Feature extraction: the backbone stays frozen and only a new head is trained."""

from __future__ import annotations

from zoo.training import TrainJob, TrainOutcome, fit_phase
from zoo_strategies.features import choose_mode, compute_features, feature_dataset
from zoo_strategies.heads import compile_classifier, make_head


def train(job: TrainJob) -> TrainOutcome:
    head = make_head(job.backbone.feature_dim, job.num_classes, units=job.options["units"],
                     dropout=job.options["dropout"])
    history = train_head(job, head, epochs=job.epochs, phase="head",
                         cache=job.options.get("feature_cache", "auto"))
    return TrainOutcome(head=head, history=history)


def train_head(job: TrainJob, head, *, epochs: int, phase: str, cache: str = "auto") -> list[dict]:
    """Train ``head`` on a frozen backbone, on cached features unless augmenting."""
    backbone = job.backbone.model
    backbone.trainable = False
    has_val = job.val is not None and len(job.val) > 0
    if job.augmenting and cache != "none":
        job.log("augmentation changes the images every epoch, so features are recomputed each epoch")
        cache = "none"
    if cache == "none":
        from zoo.models import compose

        model = compose(backbone, head)
        compile_classifier(model, job.lr)
        val = job.make_dataset(job.val) if has_val else None
        return fit_phase(job, phase, model, job.make_dataset(job.train, training=True), val, epochs=epochs)

    mode = choose_mode(cache, len(job.train), job.backbone.feature_dim)
    job.log(f"computing backbone features once ({len(job.train)} training images, kept in {mode})")
    folder = job.work_dir / "features"
    dim = job.backbone.feature_dim
    train_x = compute_features(backbone, job.make_dataset(job.train), len(job.train), dim, mode, folder, "train",
                               verbose=job.verbose)
    train_data = feature_dataset(train_x, job.train.labels, job.batch_size, shuffle=True, seed=job.seed)
    val_data = None
    if has_val:
        val_x = compute_features(backbone, job.make_dataset(job.val), len(job.val), dim, mode, folder, "val",
                                 verbose=job.verbose)
        val_data = feature_dataset(val_x, job.val.labels, job.batch_size, shuffle=False, seed=job.seed)
    compile_classifier(head, job.lr)
    return fit_phase(job, phase, head, train_data, val_data, epochs=epochs)
