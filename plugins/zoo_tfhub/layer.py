"""A Keras 3 layer around a TF2 SavedModel from TF Hub.

``hub.KerasLayer`` is a tf-keras (Keras 2) layer and cannot sit in a Keras 3 model.
:class:`HubModule` loads the module with ``tf.saved_model.load`` and tracks each of its
``tf.Variable`` objects as a ``keras.Variable`` that wraps (not copies) it, so Keras
sees the module's weights: they train, freeze with ``trainable = False``, and are
written into and restored from a ``.keras`` file. The handle is stored in the layer's
config, so reloading needs the module to be resolvable again (from the hub cache, the
folder or the archive).

Importing this module registers the layer with Keras (``zoo_tfhub>HubModule``).
"""

from __future__ import annotations

import re
from typing import Any

import keras
import tensorflow as tf

from zoo.api import UsageError
from zoo_tfhub.handles import normalise, resolve


def load_module(handle: str) -> Any:
    """The restored module; a broken one is one line naming its folder and what to do."""
    folder = resolve(handle)
    problem = None
    if not (folder / "variables" / "variables.index").is_file():
        problem = "its variables/ folder is missing or incomplete"
    else:
        try:
            return tf.saved_model.load(str(folder))
        except Exception as exc:  # TensorFlow's errors for broken files: OSError, IndexError, ValueError...
            problem = _what_is_broken(exc)
    raise UsageError(f"TF Hub module {handle} at {folder} cannot be loaded: {problem}; {_remedy(folder)}")


def _what_is_broken(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if "Cannot parse" in text or "parse" in text.lower() and "saved_model" in text:
        return "saved_model.pb is not a readable SavedModel"
    if "Read less bytes" in text or "truncated" in text.lower() or "corrupt" in text.lower():
        return "a variables file is cut short or damaged"
    return f"{type(exc).__name__}: {text[:200]}"


def _remedy(folder) -> str:
    from zoo_tfhub.handles import hub_cache_dir

    cache = hub_cache_dir().resolve()
    if cache == folder.resolve() or cache in folder.resolve().parents:
        return f"it is a cache entry: delete {folder} and zoo fetches or unpacks it again"
    return "replace it with an intact TF2 SavedModel"


def module_variables(module: Any) -> tuple[list[tf.Variable], set[int]]:
    """Every variable of a restored module, and the ids of those meant to be trained.

    TF Hub modules save ``variables`` / ``trainable_variables`` lists; a restored
    object without them has no such property, so walk its object graph instead.
    """
    listed = getattr(module, "variables", None)
    if listed is not None and not callable(listed):
        variables = list(listed)
    else:
        variables = [obj for obj in tf.train.TrackableView(module).descendants() if isinstance(obj, tf.Variable)]
    unique, seen = [], set()
    for variable in variables:
        if id(variable) not in seen:
            seen.add(id(variable))
            unique.append(variable)
    trainable_list = getattr(module, "trainable_variables", None)
    if trainable_list is not None and not callable(trainable_list):
        trainable = {id(v) for v in trainable_list}
    else:
        trainable = {id(v) for v in unique if v.trainable}
    return unique, trainable


def accepts_training(function: Any) -> bool:
    """Whether a restored ``__call__`` was traced with a ``training`` argument."""
    for concrete in getattr(function, "concrete_functions", []) or []:
        args, kwargs = concrete.structured_input_signature
        if "training" in kwargs or len(args) > 1:
            return True
    return False


def input_spec_of(function: Any) -> tuple | None:
    """The image shape a restored function was traced for, e.g. (None, 224, 224, 3)."""
    for concrete in getattr(function, "concrete_functions", []) or []:
        args, _ = concrete.structured_input_signature
        if args and hasattr(args[0], "shape"):
            return tuple(args[0].shape)
    return None


@keras.saving.register_keras_serializable(package="zoo_tfhub", name="HubModule")
class HubModule(keras.layers.Layer):
    """Images (already preprocessed) -> the module's feature vector.

    ``output_key`` picks one output of a module returning a dict; ``signature`` calls
    a named signature (e.g. ``serving_default``) instead of ``__call__``; feature maps
    (rank 4 outputs) are average-pooled.

    A module that takes ``training`` gets ``True`` only while the layer is trainable,
    called in training, and ``pass_training`` is on; turn that off to fine-tune the
    module's weights with its BatchNorm statistics kept in inference mode.
    """

    def __init__(self, handle: str, output_key: str | None = None, signature: str | None = None,
                 pass_training: bool = True, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.handle = normalise(handle)
        self.output_key = output_key
        self.signature = signature
        self.pass_training = bool(pass_training)
        self._loaded = None
        self._function = None
        self._training_arg = False

    # -- loading ---------------------------------------------------------------

    def build(self, input_shape=None):
        if self._loaded is not None:
            return
        module = load_module(self.handle)
        if self.signature:
            signatures = getattr(module, "signatures", {})
            if self.signature not in signatures:
                raise UsageError(f"TF Hub module {self.handle} has no signature {self.signature!r}; "
                                 f"it has {', '.join(signatures) or 'none'}")
            function, training_arg = signatures[self.signature], False
        elif callable(module):
            function, training_arg = module.__call__, accepts_training(module.__call__)
        elif "serving_default" in getattr(module, "signatures", {}):
            function, training_arg = module.signatures["serving_default"], False
        else:
            raise UsageError(f"TF Hub module {self.handle} is not callable and has no serving signature")
        variables, trainable = module_variables(module)
        self._loaded, self._function, self._training_arg = module, function, training_arg
        names: set[str] = set()
        for variable in variables:
            name = _variable_name(variable, names)
            wrapped = keras.Variable(variable, trainable=id(variable) in trainable, name=name)
            self._track_variable(wrapped)
        self.built = True

    @property
    def module(self) -> Any:
        return self._loaded

    def expected_size(self) -> tuple[int | None, int | None]:
        """(height, width) the module was exported for; None where it takes any size."""
        function, shape = self._function, None
        if hasattr(function, "concrete_functions"):
            shape = input_spec_of(function)
        elif hasattr(function, "structured_input_signature"):
            args, kwargs = function.structured_input_signature
            specs = [*args, *kwargs.values()]
            shape = tuple(specs[0].shape) if specs else None
        if shape is None or len(shape) != 4:
            return (None, None)
        return (shape[1], shape[2])

    # -- running ---------------------------------------------------------------

    def call(self, inputs, training=None):
        x = tf.cast(inputs, tf.float32)
        if isinstance(training, (bool, type(None))):
            run_training = bool(training) and self.trainable and self.pass_training
        else:
            run_training = tf.logical_and(tf.cast(training, tf.bool), self.pass_training)
        if self.signature or not callable(self._loaded):
            outputs = self._function(**{self._signature_input(): x})
        elif not self._training_arg:
            outputs = self._function(x)
        elif isinstance(run_training, bool):
            outputs = self._function(x, training=run_training)
        else:  # a symbolic training flag
            outputs = tf.cond(tf.logical_and(tf.cast(run_training, tf.bool), self.trainable),
                              lambda: self._function(x, training=True), lambda: self._function(x, training=False))
        if self.trainable:
            for loss in getattr(self._loaded, "regularization_losses", []) or []:
                self.add_loss(loss())
        return self._pick(outputs)

    def _signature_input(self) -> str:
        spec = self._function.structured_input_signature[1]
        if len(spec) != 1:
            raise UsageError(f"TF Hub module {self.handle}: signature {self.signature or 'serving_default'} "
                             f"takes {len(spec)} inputs; zoo feeds one image tensor")
        return next(iter(spec))

    def _pick(self, outputs):
        if isinstance(outputs, dict):
            if self.output_key:
                if self.output_key not in outputs:
                    raise UsageError(f"TF Hub module {self.handle} has no output {self.output_key!r}; "
                                     f"it has {', '.join(sorted(outputs))}")
                outputs = outputs[self.output_key]
            elif len(outputs) == 1:
                outputs = next(iter(outputs.values()))
            else:
                raise UsageError(f"TF Hub module {self.handle} returns several outputs "
                                 f"({', '.join(sorted(outputs))}); choose one with the option output_key")
        elif isinstance(outputs, (list, tuple)):
            outputs = outputs[0]
        if outputs.shape.rank == 4:
            outputs = tf.reduce_mean(outputs, axis=[1, 2])
        return outputs

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(handle=self.handle, output_key=self.output_key, signature=self.signature,
                      pass_training=self.pass_training)
        return config


def _variable_name(variable: tf.Variable, taken: set[str]) -> str:
    """A Keras-legal, unique variable name from a TF one ('block/conv/kernel:0')."""
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", variable.name.split(":")[0].replace("/", "__")) or "variable"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name
