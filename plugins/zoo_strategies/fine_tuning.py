"""Fine-tuning, the Keras-guide recipe: warm the new head up on a frozen backbone, then
unfreeze the last stages and train them with the head at a lower learning rate.

BatchNormalization layers stay in inference mode throughout by ``trainable = False`` on
each of them: in Keras 3, calling the base with ``training=False`` does not hold once
it is trainable (``fit`` overrides it; keras-team/keras#20285), and letting the moving
statistics drift on a small target set is what ruins fine-tuning.
"""

from __future__ import annotations

from zoo.training import TrainJob, TrainOutcome, fit_phase
from zoo_strategies.feature_extraction import train_head
from zoo_strategies.heads import compile_classifier, make_head


def split_epochs(job: TrainJob, unfreezing: bool) -> tuple[int, int]:
    """(warm-up epochs, fine-tuning epochs); ``--epochs`` is the total."""
    if not unfreezing:
        return job.epochs, 0
    warmup = job.options.get("warmup_epochs")
    warmup = job.epochs // 2 if warmup is None else warmup
    if not 0 <= warmup <= job.epochs:
        from zoo.errors import UsageError

        raise UsageError(f"--warmup-epochs must be between 0 and --epochs ({job.epochs}), got {warmup}")
    return warmup, job.epochs - warmup


def unfreeze(job: TrainJob, value: str) -> list[str]:
    """Make the chosen stages trainable (BatchNorm excepted); returns the stage names."""
    import keras

    from zoo.backbones import resolve_unfreeze, stage_layers

    built = job.backbone
    if not built.spec.stages and str(value).strip().lower() == "all":
        chosen_layers, stages = [built.base], ["all"]
    else:
        stages = resolve_unfreeze(built.spec, value)
        chosen_layers = stage_layers(built, stages) if stages else []
    built.model.trainable = True
    for layer in built.model.layers:
        layer.trainable = layer is built.base
    base_layers = list(getattr(built.base, "layers", []))
    chosen = {id(layer) for layer in chosen_layers}
    if base_layers:
        for layer in base_layers:
            layer.trainable = id(layer) in chosen
    freeze_batchnorm(built.model)
    if not chosen_layers:
        built.model.trainable = False
    return stages


def freeze_batchnorm(model) -> int:
    """``trainable = False`` on every BatchNormalization layer, however deeply nested."""
    import keras

    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            count += 1
    return count


def train(job: TrainJob) -> TrainOutcome:
    import keras

    from zoo.models import compose

    backbone = job.backbone.model
    head = make_head(job.backbone.feature_dim, job.num_classes, units=job.options["units"],
                     dropout=job.options["dropout"])
    value = str(job.options["unfreeze"])
    warmup, tune = split_epochs(job, value.strip().lower() not in ("0", "none", ""))
    history = []
    if warmup:
        history += train_head(job, head, epochs=warmup, phase="head")
    if tune:
        stages = unfreeze(job, value)
        model = compose(backbone, head)
        trainable = sum(int(keras.ops.size(v)) for v in backbone.trainable_weights)
        job.log(f"fine-tuning stages {', '.join(stages)} ({trainable:,} backbone parameters) for {tune} epochs")
        lr = job.options.get("fine_tune_lr") or job.lr / 10
        compile_classifier(model, lr)
        val = job.make_dataset(job.val) if job.val is not None and len(job.val) else None
        history += fit_phase(job, "fine-tune", model, job.make_dataset(job.train, training=True), val, epochs=tune)
    backbone.trainable = False
    return TrainOutcome(head=head, history=history)
