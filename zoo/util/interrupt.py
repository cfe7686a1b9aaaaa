"""Ctrl-C that training cannot lose.

Python raises ``KeyboardInterrupt`` wherever the main thread is when the signal lands.
Inside a finalizer (a ``__del__`` or a weakref callback; TensorFlow runs many while it
trains) the exception is printed as "Exception ignored in ..." and dropped, and the run
trains on to its last epoch. While :func:`watching_interrupts` is active the signal is
also recorded, and :func:`raise_if_interrupted`, called between batches, raises it again.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

_interrupted = threading.Event()


def _record_and_raise(signum, frame):
    _interrupted.set()
    raise KeyboardInterrupt


@contextlib.contextmanager
def watching_interrupts() -> Iterator[None]:
    """Record SIGINT for the duration; a no-op off the main thread or under a handler someone else installed."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    _interrupted.clear()
    signal.signal(signal.SIGINT, _record_and_raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        _interrupted.clear()


def raise_if_interrupted() -> None:
    """Raise ``KeyboardInterrupt`` if Ctrl-C came while :func:`watching_interrupts`, even if it was swallowed."""
    if _interrupted.is_set():
        raise KeyboardInterrupt


def interrupt_callback():
    """A Keras callback that calls :func:`raise_if_interrupted` after every batch of fit, evaluate and predict."""
    import keras

    class RaiseIfInterrupted(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise_if_interrupted()

        on_test_batch_end = on_predict_batch_end = on_epoch_end = on_train_batch_end

    return RaiseIfInterrupted()
