"""The plain records that plugins hand to the core.

They import nothing heavy: listing, validating and describing what is installed must
never pay for TensorFlow. Anything that builds or runs a model is named here as a
dotted ``"package.module:function"`` string and imported only when it is used.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass, field
from typing import Any

PREPROCESSING_MODES = ("caffe", "torch", "tf", "unit", "none")
"""How a backbone expects its pixels (input is always RGB in [0, 255]):

- ``caffe``: RGB->BGR, minus the ImageNet mean per channel (Keras VGG/ResNet v1);
- ``torch``: scaled to [0, 1], minus the ImageNet mean, divided by its std;
- ``tf``: scaled to [-1, 1] (Keras ResNet v2);
- ``unit``: scaled to [0, 1] (the TF Hub image convention);
- ``none``: none at all: the model gets float32 pixels in [0, 255] as they are.

It always happens inside the model, in layers in front of the source's base model
(:func:`zoo.backbone.build.build_backbone`), so a saved model takes raw pixels.
"""


def load_object(dotted: str) -> Any:
    """Import ``"pkg.mod:attr"`` on first use; this is how specs stay TensorFlow-free."""
    module_name, _, attr = dotted.partition(":")
    obj = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class WeightsSpec:
    """One set of pretrained weights for a backbone, as a single file.

    ``file`` is the name the file has in a mirror folder (``ZOO_WEIGHTS_DIR``) and in
    the cache: for Keras Applications it is the very name Keras downloads, so a folder
    of files fetched by Keras works as a mirror. ``md5`` is the hash Keras itself
    publishes; ``sha256`` is ours to pin. Either, when present, is checked. ``license`` is
    the licence the weights are published under, as a Hub licence id (for model cards).
    """

    name: str
    file: str
    url: str | None = None
    sha256: str | None = None
    md5: str | None = None
    note: str = ""
    license: str | None = None


@dataclass(frozen=True)
class BackboneSpec:
    """A named feature extractor: images in, one feature vector out.

    ``source`` names the backbone source (see :class:`BackboneSourceSpec`) whose
    builder makes it; ``model`` and ``options`` are that builder's arguments (the
    ``keras.applications`` class, a TF Hub handle, ...). ``stages`` maps each stage
    name, first to last, to the layer-name prefixes it covers (a prefix ending in ``$``
    matches one layer name exactly; layers nested inside the base's layers count too);
    fine-tuning unfreezes stages from the end.

    Where the weights come from, for model cards and the run's ``config.json``:
    ``base_model`` is the Hugging Face repo id they were published as (``timm/...``),
    ``license`` their licence (the Hub's licence tag, e.g. ``apache-2.0``). For a source
    that fetches its weights from a hub (``kerashub``), ``hub_revision`` pins the
    40-hex commit to fetch and ``hub_files`` the sha256 of files in it (``(name,
    sha256)`` pairs); a file that differs is refused. Left empty, the source fetches
    the current revision and the run records what it got (see
    :class:`BackboneSourceSpec`'s ``pin``), so the run itself is pinned either way.
    """

    name: str
    source: str
    model: str
    input_size: int
    feature_dim: int
    min_input_size: int | None = None
    fixed_size: bool = False
    channels: int = 3
    preprocessing: str = "none"
    stages: tuple[tuple[str, tuple[str, ...]], ...] = ()
    params: int | None = None
    weights: tuple[WeightsSpec, ...] = ()
    default_weights: str = "none"  # a weights name, "none" (random) or "builtin" (the model carries its own)
    options: tuple[tuple[str, Any], ...] = ()
    description: str = ""
    plugin: str = ""
    origin: str = ""
    license: str = ""
    base_model: str = ""
    hub_revision: str = ""
    hub_files: tuple[tuple[str, str], ...] = ()

    @property
    def smallest_input(self) -> int:
        return self.input_size if self.fixed_size else (self.min_input_size or self.input_size)

    @property
    def stage_names(self) -> list[str]:
        return [name for name, _ in self.stages]

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)

    def weights_named(self, name: str) -> WeightsSpec | None:
        return next((w for w in self.weights if w.name == name), None)

    def describe(self) -> dict[str, Any]:
        """The JSON-able view shown by ``zoo info`` and ``zoo list --json``."""
        data = asdict(self)
        data["stages"] = {name: list(prefixes) for name, prefixes in self.stages}
        data["options"] = dict(self.options)
        data["hub_files"] = dict(self.hub_files)
        data["weights"] = {w.name: {k: v for k, v in asdict(w).items() if k != "name"} for w in self.weights}
        data["min_input_size"] = self.smallest_input
        data["preprocessing"] = {"mode": self.preprocessing, "applied_in": "model"}
        return data


@dataclass(frozen=True)
class BackboneSourceSpec:
    """A way of building backbones, named by registry entries (``source = "keras"``).

    ``builder`` is ``"pkg.mod:function"``; the function is called as
    ``build(spec, *, weights, input_size)`` where ``weights`` is a local file path or
    ``None`` (random initialisation; for a spec whose ``default_weights`` is
    ``"builtin"``, the weights the model carries), and returns a Keras model from a
    preprocessed ``(input_size, input_size, channels)`` image to a ``(feature_dim,)``
    vector. :func:`zoo.backbone.build.build_backbone` adds the preprocessing in front.

    ``adhoc``, when set, lets users name a backbone on the fly as ``SOURCE:ARGUMENT``
    (``tfhub:https://...``): it is ``"pkg.mod:function"`` taking the argument and
    returning a :class:`BackboneSpec`. It runs on every such lookup, so it must be cheap.

    ``fetch``, when set, is ``"pkg.mod:function"`` taking a spec whose weights are
    ``"builtin"`` and making them local (``zoo pull``); it returns the local path, or a
    JSON-able dict with at least ``"path"`` (and whatever else ``zoo pull --json`` should show).

    ``pin``, when set, is ``"pkg.mod:function"`` for sources whose built-in weights live
    elsewhere (a hub): called as ``pin(spec, recorded=None)`` before the builder, it
    fetches what the spec needs, checks it against the spec's ``hub_revision`` and
    ``hub_files`` and returns ``(spec, record)``: the spec pinned to what was fetched
    (revision and file hashes filled in; for an ad-hoc spec also what only the files
    tell, such as sizes, preprocessing and stages) and a JSON-able dict that the run's
    ``config.json`` adds to its backbone entry (e.g. ``{"hub": {"repo", "revision",
    "files"}}``). ``recorded`` is that backbone entry of an existing run (loading it, or
    training a child of it): the source must then fetch exactly what it records and
    refuse anything else. It runs just before a model is built (and for ``zoo pull``),
    never for ``zoo list`` or ``zoo info``.
    """

    name: str
    builder: str
    adhoc: str | None = None
    fetch: str | None = None
    pin: str | None = None
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class OptionSpec:
    """One parameter of a strategy or dataset, exposed as a CLI flag and a TOML key.

    ``min`` and ``max`` (inclusive, numbers only) are checked before any training, so a
    value out of range is a usage error naming the option, not a failure epochs later.
    """

    name: str
    type: str = "str"  # str | int | float | bool | choice
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class StrategySpec:
    """A transfer strategy: how a backbone and a new head are trained.

    ``trainer`` is ``"pkg.mod:function"`` taking a :class:`zoo.train.job.TrainJob` and
    returning a :class:`zoo.train.job.TrainOutcome` (the trainer contract lives in
    :mod:`zoo.train.fit`). ``options`` are its own
    parameters; they reach it as ``job.options`` with their defaults filled in.
    ``needs_target`` marks strategies that take an unlabelled target dataset.

    ``check``, when set, is a cheap, TensorFlow-free ``"pkg.mod:function"`` called as
    ``check(options, backbone)`` (the resolved options; the :class:`BackboneSpec` the run
    will use, or ``None`` when it is only known once a parent run is downloaded) before
    anything is written or trained: raise :class:`zoo.api.UsageError` for a value that
    cannot work with that backbone (a stage it does not have), so the user learns it at
    once, not after a warm-up phase.
    """

    name: str
    trainer: str
    options: tuple[OptionSpec, ...] = ()
    needs_target: bool = False
    check: str | None = None
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class DatasetSpec:
    """A kind of dataset. ``folder`` is used as ``folder:PATH``; ``digits`` bare.

    ``loader`` is ``"pkg.mod:function"`` called as ``load(argument, **options)`` and
    returning a :class:`zoo.data.records.LoadedDataset`. ``describe``, if set, is a
    cheap ``"pkg.mod:function"`` (no TensorFlow) giving classes and counts for
    ``zoo info``.
    """

    name: str
    loader: str
    argument: str | None = None
    describe: str | None = None
    options: tuple[OptionSpec, ...] = ()
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class HubSpec:
    """A model hub adapters are pushed to and pulled from, addressed as ``SCHEME://``.

    ``client`` is ``"pkg.mod:Class"``; the class is constructed without arguments and
    offers ``push(run_dir, repo_id, *, private, revision, message) -> PushResult`` and
    ``pull(repo_id, *, revision) -> pathlib.Path`` (a local directory).
    """

    name: str
    scheme: str
    client: str
    description: str = ""
    plugin: str = ""


@dataclass(frozen=True)
class AdapterEntry:
    """A trained adapter registered by name, pinned to a hub revision."""

    name: str
    repo: str
    revision: str
    hub: str = "hf"
    description: str = ""
    origin: str = ""


@dataclass
class PushResult:
    url: str
    commit: str
    repo_id: str
    revision: str = "main"
    extra: dict[str, Any] = field(default_factory=dict)
