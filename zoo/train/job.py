"""The contract between the core and a strategy's trainer: :class:`TrainJob` in, :class:`TrainOutcome` out.

A strategy is a function ``train(job: TrainJob) -> TrainOutcome`` named by its
:class:`zoo.api.StrategySpec`. It must read everything it needs from the job (never the
command line or the environment), so that a run is described by its ``config.json`` alone.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from zoo.data.records import Split
from zoo.train.checkpoints import CheckpointStore


@dataclass
class TrainJob:
    """Everything a strategy's trainer gets; it must not read anything else.

    The pipeline has already set the Keras dtype policy (``precision``), entered the
    ``tf.distribute`` scope (``distribution``), seeded Keras, built the backbone and loaded
    and checked the data. Labels everywhere are int64 class indices into ``class_names``;
    -1 means unlabelled.
    """

    backbone: Any
    """A :class:`zoo.api.BuiltBackbone`. ``backbone.model`` is the Keras model from raw RGB
    pixels in [0, 255], shape ``(input_size, input_size, channels)``, to a ``(feature_dim,)``
    vector, preprocessing included; calling ``backbone(x)`` calls that model. Also:
    ``backbone.base`` (the source's model without preprocessing: its layers are the ones
    stages name), ``backbone.spec`` (the :class:`zoo.api.BackboneSpec`), ``input_size``,
    ``feature_dim`` and ``weights`` (what it was built with). It arrives frozen or not as
    its source built it: set ``trainable`` yourself."""
    class_names: list[str]
    """The classes, in label order; the head must output ``len(class_names)`` probabilities."""
    train: Split
    """The labelled training split (:class:`zoo.api.Split`); turn it into batches with ``make_dataset``."""
    val: Split | None
    """The validation split, or ``None``/empty when the run has none (``--val-split 0``)."""
    options: dict[str, Any]
    """The strategy's own options (its spec's :class:`zoo.api.OptionSpec` names), coerced to their
    types, range-checked and with defaults filled in."""
    epochs: int
    """``--epochs``: how many epochs the whole run trains, all phases together (a multi-phase
    strategy splits them; say how in the option help). An epoch is a pass over ``train``,
    except on cached features, where the built-ins make it at least
    ``zoo_strategies.features.MIN_STEPS_PER_EPOCH`` steps."""
    batch_size: int
    """``--batch-size``: the batch size ``make_dataset`` uses unless told otherwise."""
    lr: float
    """``--lr``: the learning rate of the strategy's main phase."""
    seed: int
    """``--seed``: Keras is already seeded with it; use it for any other randomness."""
    make_dataset: Callable[..., Any]
    """``make_dataset(split, training=False, batch_size=None, repeat=False, seed=None, cache=None)``: a
    ``tf.data.Dataset`` of ``(images, labels)`` batches, images as float32 raw RGB at the
    backbone's input size. ``training=True`` shuffles (by ``seed``, default the job's) and
    augments (``--augment``); ``repeat=True`` repeats it without end. ``cache`` keeps the
    decoded images in memory for later passes (up to 1 GiB); by default only batches read
    more than once are cached (``training`` or ``repeat``, and :meth:`validation_data`), so a
    single pass (features, predictions) does not hold the whole split in memory."""
    checkpoints: CheckpointStore
    """Where :func:`zoo.api.fit_phase` keeps each phase's checkpoints; a trainer rarely touches it."""
    work_dir: Path
    """A scratch folder (inside ``OUT.partial``) that survives a crash, for caches and the like;
    it is removed when the run is written."""
    target: Split | None = None
    """Domain adaptation only (``needs_target=True``): the target's training images, every label
    blanked to -1. Use it unlabelled; its labels are never given."""
    target_eval: Split | None = None
    """The target's evaluation images, labels blanked too: for monitoring, not training. The
    pipeline scores the target itself after training."""
    augmenting: bool = False
    """Whether ``make_dataset(..., training=True)`` augments (so cached features would be wrong)."""
    precision: str = "float32"
    """The Keras dtype policy in force. ``fit``'s own step scales the loss under ``mixed_float16``;
    a model with its own ``train_step`` must call ``optimizer.scale_loss(loss)`` itself."""
    distribution: Any = None
    """The ``tf.distribute.Strategy`` models are built under, or ``None``."""
    verbose: int = 1
    """Keras' ``verbose`` for ``fit`` (:func:`zoo.api.fit_phase` passes it on)."""
    log: Callable[[str], None] = print
    """Say something to the user (one line, on stderr in the CLI)."""
    early_stopping: int | None = None
    """``--early-stopping``: the patience, in epochs, after which :func:`zoo.api.fit_phase` stops a
    phase whose validation loss (training loss without a validation split) no longer improves,
    putting the best epoch's weights back; ``None``: train every epoch."""
    schedule: str = "constant"
    """``--schedule``: ``constant``, ``cosine`` or ``step``, applied by :func:`zoo.api.fit_phase` to
    each phase's epochs, from the learning rate the model was compiled with (see :mod:`zoo.train.schedules`)."""
    warmup: int = 0
    """``--warmup``: epochs of linear learning-rate warm-up at the start of each phase."""
    class_weight: dict[int, float] | None = None
    """``--class-weight``: loss weight per class index (``auto``: inverse class frequency in ``train``),
    passed to ``fit`` by :func:`zoo.api.fit_phase`; ``None``: every example counts the same."""
    logs_dir: Path | None = None
    """Where :func:`zoo.api.fit_phase` writes TensorBoard logs (``logs/PHASE/``); ``None``: none."""

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_val(self) -> bool:
        """Whether there is a validation split with examples in it."""
        return self.val is not None and len(self.val) > 0

    def validation_data(self, **kwargs: Any):
        """``make_dataset(val, **kwargs)``, cached (it is read every epoch), or ``None`` without a
        validation split: what ``fit`` takes."""
        if not self.has_val:
            return None
        if takes_keyword(self.make_dataset, "cache"):  # a make_dataset written before it had one does not
            kwargs = {"cache": True, **kwargs}
        return self.make_dataset(self.val, **kwargs)


@dataclass
class TrainOutcome:
    """What a trainer returns."""

    head: Any
    """A Keras model from ``(feature_dim,)`` backbone features to ``num_classes`` probabilities
    (softmax), made of stock Keras layers only (it is saved as ``head.keras`` and loaded with
    ``safe_mode``). The backbone's changed variables are saved by the pipeline, not by you."""
    history: list[dict[str, Any]]
    """One row per epoch, all phases in order: what :func:`zoo.api.fit_phase` returns, concatenated."""
    metrics: dict[str, Any] = field(default_factory=dict)
    """Extra figures to record in ``metrics.json`` (the pipeline adds accuracy, loss and the rest)."""


def takes_keyword(function: Callable[..., Any], name: str) -> bool:
    """Whether ``function`` accepts the keyword argument ``name`` (by name or through ``**kwargs``)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)
