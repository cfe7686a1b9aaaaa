"""Bounds on every request zoo makes, and the words for a server that fails.

``ZOO_CONNECT_TIMEOUT`` and ``ZOO_READ_TIMEOUT`` bound weight downloads, TF Hub fetches and
hub clients alike (plugins read them through :mod:`zoo.api`), so a server that goes quiet
is one error line, not a hang; ``ZOO_OFFLINE=1`` forbids downloads altogether.
"""

from __future__ import annotations

import contextlib
import math
import os
import urllib.parse

from zoo.errors import UsageError

OFFLINE_ENV = "ZOO_OFFLINE"
CONNECT_TIMEOUT_ENV = "ZOO_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "ZOO_READ_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0


def is_offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _seconds(variable: str, default: float) -> float:
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{variable} must be a number of seconds greater than 0, got {text!r}")
    return value


def connect_timeout() -> float:
    """Seconds to wait for a server to accept a connection (``ZOO_CONNECT_TIMEOUT``, default 10)."""
    return _seconds(CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT)


def read_timeout() -> float:
    """Seconds to wait for a connected server's next bytes (``ZOO_READ_TIMEOUT``, default 60)."""
    return _seconds(READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT)


def network_timeouts() -> tuple[float, float]:
    """(connect, read) seconds, both checked: commands that may use the network call this first."""
    return connect_timeout(), read_timeout()


def unreachable(url: str, exc: OSError) -> str:
    """``HOST cannot be reached (REASON)``, for the error of a failed :func:`check_reachable`."""
    host = urllib.parse.urlsplit(url).hostname
    return f"{host} cannot be reached ({exc.strerror or str(exc) or type(exc).__name__})"


def check_reachable(url: str) -> None:
    """Fail fast (``OSError``) when the host of ``url`` takes no connection within the timeout.

    Keras and TF Hub download with no connect timeout of their own; without this probe
    a machine whose network silently drops packets would hang for minutes.
    """
    import socket
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxy_parts.hostname or "", proxy_parts.port or 80
    socket.create_connection((host, port), timeout=connect_timeout()).close()


@contextlib.contextmanager
def socket_timeout(seconds: float):
    """Bound every blocking socket call (urllib's downloads have no timeout argument here)."""
    import socket

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` or what it wraps (urllib's ``URLError.reason`` included) is a socket timeout."""
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def stalled(url: str, seconds: float) -> str:
    """``HOST did not answer within N s (ZOO_READ_TIMEOUT)``: a server that took the connection, then went quiet."""
    host = urllib.parse.urlsplit(url).hostname
    return f"{host} did not answer within {seconds:g} s ({READ_TIMEOUT_ENV})"
