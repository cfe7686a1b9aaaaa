"""Fine-tuning, the Keras-guide recipe: warm the new head up on a frozen backbone, then
unfreeze the last stages and train them with the head at a lower learning rate.

BatchNormalization layers stay in inference mode throughout by ``trainable = False`` on
each of them (see :mod:`zoo_strategies.freezing`): in Keras 3, calling the base with
``training=False`` does not hold once it is trainable (``fit`` overrides it;
keras-team/keras#20285), and letting the moving statistics drift on a small target set
is what ruins fine-tuning. The adapter then holds the head and only the variables that
changed: the unfrozen layers' kernels and biases, never a frozen layer or a BN statistic.

After a warm-up the backbone runs in inference mode as the guide's
``base_model(x, training=False)`` has it, its own dropout off as well (through the model
of :func:`~zoo_strategies.feature_extraction.head_on_frozen_backbone`, which Keras 3
cannot override): the head was warmed up on features computed that way, and with the
backbone's dropout on, the first fine-tuning epoch threw away what the warm-up learnt
(alexnet-small on digits, 1 warm-up and 2 fine-tuning epochs: validation accuracy 0.88
after the warm-up, then 0.36 and 0.33 with the backbone's dropout on; 0.82 and 0.90 with it off).
Without a warm-up (``--warmup-epochs 0``: training from scratch, as the demo's source
model does) there is no such head to keep, and the backbone's dropout regularises as usual.
"""

from __future__ import annotations

from zoo.api import TrainJob, TrainOutcome, UsageError, fit_phase
from zoo_strategies.feature_extraction import head_on_frozen_backbone, train_head
from zoo_strategies.freezing import freeze_batchnorm, trainable_parameters, unfreeze_stages
from zoo_strategies.heads import compile_classifier, make_head

__all__ = ["fine_tune_lr", "freeze_batchnorm", "split_epochs", "train", "unfreeze"]


def unfreeze(job: TrainJob, value: str) -> list[str]:
    """Fine-tuning's unfreezing: the chosen stages become trainable, every BN layer stays frozen."""
    return unfreeze_stages(job.backbone, value, batchnorm="frozen")


def split_epochs(job: TrainJob, unfreezing: bool) -> tuple[int, int]:
    """(warm-up epochs, fine-tuning epochs); ``--epochs`` is the total."""
    if not unfreezing:
        return job.epochs, 0
    warmup = job.options.get("warmup_epochs")
    warmup = job.epochs // 2 if warmup is None else warmup
    if not 0 <= warmup <= job.epochs:
        raise UsageError(f"--warmup-epochs must be between 0 and --epochs ({job.epochs}), got {warmup}")
    return warmup, job.epochs - warmup


def fine_tune_lr(job: TrainJob) -> float:
    """``--fine-tune-lr``, or ``--lr`` / 10 when it is not given; 0 or less is refused, not replaced."""
    lr = job.options.get("fine_tune_lr")
    if lr is None:
        return job.lr / 10
    if not lr > 0:
        raise UsageError(f"--fine-tune-lr must be greater than 0, got {lr:g}")
    return lr


def train(job: TrainJob) -> TrainOutcome:
    from zoo.api import compose

    backbone = job.backbone.model
    head = make_head(job.backbone.feature_dim, job.num_classes, units=job.options["units"],
                     dropout=job.options["dropout"], standardise=True)
    value = str(job.options["unfreeze"])
    warmup, tune = split_epochs(job, value.strip().lower() not in ("0", "none", ""))
    tune_lr = fine_tune_lr(job) if tune else None  # refused before any training
    history = []
    trained = 0
    if warmup:
        history += train_head(job, head, epochs=warmup, phase="head")
    if tune:
        stages = unfreeze(job, value)
        trained = trainable_parameters(backbone)
        # after a warm-up the backbone's dropout stays off, as when the head's features were computed;
        # without one (training from scratch) it regularises as usual
        model = head_on_frozen_backbone(backbone, head) if warmup else compose(backbone, head)
        job.log(f"fine-tuning stages {', '.join(stages)} ({trained:,} backbone parameters) for {tune} epochs")
        compile_classifier(model, tune_lr)
        history += fit_phase(job, "fine-tune", model, job.make_dataset(job.train, training=True), job.validation_data(),
                             epochs=tune)
    backbone.trainable = False
    return TrainOutcome(head=head, history=history, metrics={"trainable_backbone_parameters": trained})
