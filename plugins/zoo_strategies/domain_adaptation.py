"""Domain adaptation: labelled source images and unlabelled target images, trained together.

Each step sees a source batch (with labels) and a target batch (without). The class
loss uses the source only; the domain term is the method's (``method``, see
:mod:`zoo_strategies.adaptation_model`): MCC (the default: the target's class confusion),
CDAN+E and DANN (a domain classifier behind gradient reversal, CDAN's conditioned on the
predicted classes), Deep CORAL (feature covariances) or MMD (kernel mean embeddings).
The target's labels are never read here: the pipeline blanks them before the data
reaches this module. The head is a new one; the backbone is the ``--from`` run's.

After training the run reports, and logs, what can be checked without target labels
(:mod:`zoo_strategies.adaptation_signals`), and warns when the target collapsed.

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

The default method, MCC's weight and the BatchNorm handling were chosen on the five shifts
of ``benchmarks/adaptation.py`` (its tables are in the README): ``domain`` statistics gave
MCC a mean target accuracy of 0.690 over them, ``mixed`` 0.558 (the target collapsed onto
5-8 classes on two shifts) and ``frozen`` 0.571. The schedules are still the DANN paper's,
not swept. Measured on
digits -> digits-m alone (``zoo demo``'s source models, alexnet-small, 30 epochs
of 32 + 32 images, lr 0.01, 3 seeds), target test accuracy: the same training without a
domain term 0.57; with ``domain`` statistics DANN 0.88, Deep CORAL 0.71, MMD 0.67; DANN
with ``mixed`` statistics 0.22, below the source-only model (0.39). Only the BN layers
of the unfrozen stages (``unfreeze``, all by default) use batch statistics; the others
stay in inference mode.
"""

from __future__ import annotations

import math

from zoo.api import TrainJob, TrainOutcome, UsageError, fit_phase
from zoo_strategies.adaptation_model import build_adaptation_model, make_domain_classifier  # noqa: F401 (API)
from zoo_strategies.adaptation_signals import collapse_warning, prediction_signals, signals_callback
from zoo_strategies.freezing import recompute_batchnorm_statistics, trainable_parameters, unfreeze_stages
from zoo_strategies.heads import make_head
from zoo_strategies.schedules import annealed_schedule

DEFAULT_WEIGHTS = {"dann": 1.0, "cdan": 1.0, "mcc": 3.0, "coral": 300.0, "mmd": 10.0}
"""``da_weight`` when none is given. DANN's and CDAN's is the final lambda of the paper (1).
MCC's, 3, was chosen by the adaptation benchmark's sweep over its five shifts (3 seeds each):
mean target accuracy 0.705 against 0.690 with its paper's 1 and 0.650 with 0.3, and no shift
lower than with 1 (``benchmarks/adaptation.py --methods mcc+da_weight=3 ...``; the README has the
table). CORAL and MMD on raw features are orders of magnitude smaller than
the class loss (CORAL about 0.007 on alexnet-small's 256 features at the start); these
weights bring them to the class loss's scale, as Sun & Saenko advise."""
TARGET_SEED_OFFSET = 7919
MOMENTUM = 0.9
SIGNAL_IMAGES = 2048
"""At most this many target images are predicted after training for the signals."""


def domain_weight(options: dict) -> float:
    value = options.get("da_weight")
    return DEFAULT_WEIGHTS[options["method"]] if value is None else float(value)


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
                        steps_per_epoch=steps, extra_callbacks=[signals_callback(job.log, job.num_classes)])
    if batchnorm == "domain":
        batches = recompute_batchnorm_statistics(backbone, images_only(job.make_dataset(job.target)))
        if batches:
            job.log(f"BatchNorm statistics set from the target images ({batches} batches)")
        else:
            job.log("warning: batchnorm 'domain' found no trainable BatchNorm layer to set from the target "
                    "images (a TF Hub module keeps its own out of reach); the moving statistics stay as trained")
    metrics = {"method": method, "da_weight": weight, "batchnorm": batchnorm,
               "trainable_backbone_parameters": trainable_parameters(backbone)}
    metrics.update(final_signals(job, head, domain_classifier, getattr(model, "projections", None), method))
    backbone.trainable = False
    return TrainOutcome(head=head, history=history, metrics=metrics)


def signal_split(job: TrainJob):
    """The target images the signals are measured on: its evaluation split if it has one, else its training images."""
    return job.target_eval if job.target_eval is not None and len(job.target_eval) else job.target


def final_signals(job: TrainJob, head, domain_classifier, projections, method: str) -> dict:
    """The label-free signals of the trained model (inference mode: the statistics it is saved with).

    Logged, recorded in ``metrics.json``, and a warning when the target collapsed.
    """
    import numpy as np

    target = signal_split(job)
    measured_on = "target training images" if target is job.target else "target evaluation images"
    if len(target) > SIGNAL_IMAGES:
        target = target.subset(np.random.default_rng(job.seed).choice(len(target), SIGNAL_IMAGES, replace=False))
    features = job.backbone.model.predict(images_only(job.make_dataset(target)), verbose=0)
    probs = np.asarray(head.predict(features, verbose=0))
    signals = prediction_signals(probs, job.class_names, job.train.labels)
    signals["signals_measured_on"] = measured_on
    if domain_classifier is not None:
        signals["domain_classifier_accuracy"] = domain_accuracy(job, head, domain_classifier, features, probs,
                                                                projections if method == "cdan" else False)
    job.log("after adaptation (target images, no labels): "
            + (f"domain classifier accuracy {signals['domain_classifier_accuracy']:.3f} (0.5: cannot tell the "
               "domains apart), " if domain_classifier is not None else "")
            + f"target entropy {signals['target_entropy']:.3f} (0 certain, 1 uniform), "
            f"classes used {signals['target_classes']:.1f} of {job.num_classes}")
    warning = collapse_warning(signals, job.num_classes)
    if warning:
        job.log(warning)
        signals["warnings"] = [warning]
    return signals


def domain_accuracy(job: TrainJob, head, domain_classifier, target_features, target_probs, projections) -> float:
    """How well the domain classifier tells source from target images with the final model (0.5: not at all).

    The source's held-out images are its validation split, or its training images without one
    (which the classifier has seen). ``projections`` is False for DANN (features only), else
    CDAN's (None: the full outer product).
    """
    import numpy as np

    from zoo_strategies.domain_losses import multilinear_map

    source_split = job.val if job.has_val else job.train
    source_features = job.backbone.model.predict(images_only(job.make_dataset(source_split)), verbose=0)
    correct, total = 0, 0
    for features, probs, domain in ((source_features, None, 0), (target_features, target_probs, 1)):
        if projections is not False:
            probs = np.asarray(head.predict(features, verbose=0)) if probs is None else probs
            features = np.asarray(multilinear_map(features, probs, projections))
        logits = np.asarray(domain_classifier.predict(features, verbose=0)).ravel()
        correct += int(((logits > 0).astype(int) == domain).sum())
        total += len(logits)
    return correct / max(total, 1)
