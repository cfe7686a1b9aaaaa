"""Talking to the Hugging Face Hub the way zoo's ``hf`` plugin does, for backbone files.

The settings are read at call time (``huggingface_hub`` fixes them on import, and one
process may run many commands) and every request is bounded by ``ZOO_CONNECT_TIMEOUT``
/ ``ZOO_READ_TIMEOUT``, as in :mod:`zoo_hf.network`: a plugin imports only ``zoo.api``,
so the few lines are repeated here rather than borrowed from another plugin.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

TRUE = {"1", "on", "yes", "true"}


def endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def cache_dir() -> Path:
    value = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if value:
        return Path(os.path.expandvars(value)).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def offline() -> bool:
    """``HF_HUB_OFFLINE=1`` (the Hub's own switch) or ``ZOO_OFFLINE=1``: the HF cache only."""
    from zoo.api import is_offline

    return is_offline() or (os.environ.get("HF_HUB_OFFLINE") or "").strip().lower() in TRUE


def token() -> str | None:
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = (os.environ.get(var) or "").strip()
        if value:
            return value
    return None  # huggingface_hub then looks at the saved login itself


@contextlib.contextmanager
def bounded_requests() -> Iterator[None]:
    """No Hub request inside this block waits longer than zoo's network timeouts."""
    from huggingface_hub.utils import get_session

    from zoo.api import network_timeouts

    connect, read = network_timeouts()
    limits = {"connect": connect, "read": read, "write": read, "pool": read}

    def cap(request) -> None:
        asked = request.extensions.get("timeout") or {}
        request.extensions["timeout"] = {k: min(v, asked[k]) if asked.get(k) is not None else v
                                         for k, v in limits.items()}

    session = get_session()
    hooks = session.event_hooks
    session.event_hooks = {**hooks, "request": [*hooks.get("request", []), cap]}
    try:
        yield
    finally:
        session.event_hooks = hooks
