"""Turning what ``huggingface_hub`` and its HTTP client raise into one line for the user.

The library wraps errors in one another (a download that cannot reach the server
becomes "cannot find a cached snapshot", caused by a connection error), so the whole
chain is searched for the most telling one. Classes are matched by name along their
MRO, which keeps this working across the library's HTTP back ends (httpx2, httpx,
requests). No message ever includes a token.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from zoo.api import CONNECT_TIMEOUT_ENV, READ_TIMEOUT_ENV, UsageError, ZooError, stalled

CANNOT_CONNECT = {"ConnectError", "ConnectTimeout", "NewConnectionError", "ConnectionRefusedError", "ProxyError"}
CONNECTION_BROKE = {"RemoteProtocolError", "ReadError", "WriteError", "ReadTimeout", "WriteTimeout", "PoolTimeout",
                    "ConnectionResetError", "BrokenPipeError", "ChunkedEncodingError", "NetworkError",
                    "TimeoutException", "ConnectionError"}
WENT_QUIET = {"ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException"}


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _is(exc: BaseException, names: set[str] | str) -> bool:
    names = {names} if isinstance(names, str) else names
    return any(cls.__name__ in names for cls in type(exc).__mro__)


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _server_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    message = headers.get("X-Error-Message") or ""
    if not message:
        first = str(exc).strip().splitlines()
        message = first[0] if first else type(exc).__name__
    return message.rstrip(".")


def describe(exc: BaseException, *, action: str, repo_id: str, revision: str | None, endpoint: str,
             had_token: bool, timeouts: tuple[float, float] | None = None,
             has_cached_copy: Callable[[], bool] | None = None) -> ZooError | None:
    """The one-line error for a failed push or pull of ``repo_id``; None for a failure it does not know.

    ``timeouts`` are the (connect, read) seconds the requests were bounded by, for the
    error when the server went quiet.
    """
    chain = _chain(exc)
    where = f"'{repo_id}'" + (f" at revision '{revision}'" if revision else "")
    for e in chain:
        if _is(e, "HFValidationError"):
            return UsageError(f"'{repo_id}' is not a valid Hub repo id: {str(e).splitlines()[0]}")
        if _is(e, "RevisionNotFoundError"):
            return ZooError(f"{endpoint}: repository '{repo_id}' has no revision '{revision or 'main'}'")
        if _is(e, "GatedRepoError"):
            return ZooError(f"{endpoint}: '{repo_id}' is gated; request access on its page, then retry")
        if _is(e, "RepositoryNotFoundError"):
            access = "the token in use cannot see it" if had_token else "no token was sent (set HF_TOKEN or run `hf auth login`)"
            return ZooError(f"{endpoint}: no repository '{repo_id}' (or it is private and {access})")
        if _is(e, "RemoteEntryNotFoundError"):
            return ZooError(f"{endpoint}: a file of {where} is missing: {_server_message(e)}")
    for e in chain:
        status = _status(e)
        if status == 401:
            if had_token:
                return ZooError(f"{endpoint} refused the token (from HF_TOKEN or the saved `hf auth login`); "
                                "check it or log in again")
            return ZooError(f"{endpoint} needs authentication to {action} {where}: set HF_TOKEN or run `hf auth login`")
        if status == 403:
            return ZooError(f"{endpoint} refused to let this token {action} {where}: {_server_message(e)}; "
                            "use a token with write access to that namespace")
        if status is not None and _is(e, "HfHubHTTPError"):
            return ZooError(f"{endpoint} answered HTTP {status} to the {action} of {where}: {_server_message(e)}")
    for e in chain:
        if _is(e, "OfflineModeIsEnabled") or (_is(e, "LocalEntryNotFoundError") and action == "pull"
                                              and not any(_is(x, CANNOT_CONNECT | CONNECTION_BROKE) for x in chain)):
            if action == "push":
                return ZooError("cannot push while HF_HUB_OFFLINE is set; unset it to publish")
            return ZooError(f"{where} is not in the local Hub cache and HF_HUB_OFFLINE is set; "
                            "pull it once while online")
    hint = ""
    if action == "pull" and has_cached_copy is not None and has_cached_copy():  # else there is none to use
        hint = ", or set HF_HUB_OFFLINE=1 to use the cached copy"
    for e in chain:
        if _is(e, "ConnectTimeout") and timeouts:
            return ZooError(f"cannot reach the Hub at {endpoint}: no connection within {timeouts[0]:g} s "
                            f"({CONNECT_TIMEOUT_ENV}); check the network or HF_ENDPOINT{hint}")
        if _is(e, CANNOT_CONNECT):
            return ZooError(f"cannot reach the Hub at {endpoint} ({type(e).__name__}); "
                            f"check the network or HF_ENDPOINT{hint}")
    for e in chain:
        if _is(e, WENT_QUIET) and timeouts:
            return ZooError(f"{stalled(endpoint, timeouts[1])} during the {action} of {where}; nothing local was "
                            f"changed: try again later, or allow more time with {READ_TIMEOUT_ENV}")
    for e in chain:
        if _is(e, CONNECTION_BROKE):
            return ZooError(f"the connection to {endpoint} broke during the {action} of {where} "
                            f"({type(e).__name__}); nothing local was changed, try again")
    for e in chain:
        if isinstance(e, ValueError) and "Invalid metadata in README.md" in str(e):
            return ZooError(f"{endpoint} rejected the model card's metadata: {' '.join(str(e).split())}")
    return None


@contextlib.contextmanager
def hub_errors(*, action: str, repo_id: str, revision: str | None, endpoint: str, had_token: bool,
               timeouts: tuple[float, float] | None = None,
               has_cached_copy: Callable[[], bool] | None = None) -> Iterator[None]:
    try:
        yield
    except ZooError:
        raise
    except Exception as exc:
        error = describe(exc, action=action, repo_id=repo_id, revision=revision, endpoint=endpoint,
                         had_token=had_token, timeouts=timeouts, has_cached_copy=has_cached_copy)
        if error is None:
            raise  # not a Hub failure we can explain: the CLI reports it as unexpected
        raise error from None
