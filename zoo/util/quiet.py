"""Keeping TensorFlow's start-up chatter off the user's terminal.

TensorFlow 2.21 prints its oneDNN / CUDA notices from C++ before its logging is set up,
so ``TF_CPP_MIN_LOG_LEVEL`` cannot stop them; the only way is to point file descriptor
2 elsewhere while it is imported. Commands that build models call
:func:`import_tensorflow` first; ``zoo -v`` lets everything through.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import warnings

VERBOSE_VAR = "ZOO_VERBOSE"


def verbose() -> bool:
    return os.environ.get(VERBOSE_VAR) == "1"


@contextlib.contextmanager
def stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow() -> None:
    """Import TensorFlow (once) without its start-up notices, unless verbose."""
    if "tensorflow" in sys.modules or verbose():
        return
    try:
        with stderr_silenced():
            import tensorflow as tf
    except OSError:  # no real file descriptor 2 (embedded use): import normally
        import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    warnings.filterwarnings("ignore", module=r"(keras|tensorflow|tf_keras)(\.|$)")


def needs_tensorflow(command):
    """Decorator for command callbacks that build or run models."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        import_tensorflow()
        return command(*args, **kwargs)

    return wrapper
