"""Bounding every request ``huggingface_hub`` sends by zoo's network timeouts.

The library's shared HTTP client has no timeout, and several of its calls pass
``timeout=None`` explicitly (``repo_info``, paginated listings such as
``list_repo_files``), so a server that accepts the connection and then says nothing
would hold ``zoo pull`` or ``zoo push`` forever. A request hook on that client caps
whatever each request asked for: ``ZOO_CONNECT_TIMEOUT`` to connect,
``ZOO_READ_TIMEOUT`` for each read, write or wait for a pooled connection. The hook is
there only while zoo talks to the Hub; other users of the client are left as they were.

The library retries some requests after a timeout (downloads, listings: up to five
times, with pauses of 1 to 8 s), so one operation can take a few times
``ZOO_READ_TIMEOUT``; it never waits without a bound. Transfers through ``hf_xet``
(the Hub's Xet storage, when installed and not disabled) run outside this client, under
that library's own limits.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator


def capped(asked: dict[str, Any] | None, limits: dict[str, float]) -> dict[str, float]:
    """Each of ``limits``, or what the request asked for when that is shorter."""
    asked = asked or {}
    return {key: min(limit, asked[key]) if asked.get(key) is not None else limit for key, limit in limits.items()}


@contextlib.contextmanager
def bounded_requests(connect: float, read: float) -> Iterator[None]:
    """Within this block, no Hub request waits longer than ``connect`` / ``read`` seconds."""
    from huggingface_hub.utils import get_session

    limits = {"connect": connect, "read": read, "write": read, "pool": read}

    def cap(request) -> None:
        request.extensions["timeout"] = capped(request.extensions.get("timeout"), limits)

    session = get_session()
    hooks = session.event_hooks
    session.event_hooks = {**hooks, "request": [*hooks.get("request", []), cap]}
    try:
        yield
    finally:
        session.event_hooks = hooks
