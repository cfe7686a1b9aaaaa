"""Errors the CLI turns into one line on stderr and an exit code.

Anything raised as a ZooError is the user's to fix (or the world's), so it carries a
message written for them; every other exception is a bug and keeps its traceback
behind ``--debug``.
"""

from __future__ import annotations

import difflib


class ZooError(Exception):
    """A failure with a message fit for the user; exit status 1."""

    exit_code = 1


class UsageError(ZooError):
    """The user asked for something that cannot be: a bad name, flag or file. Exit 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A registry, pipeline or adapter file that does not say what it must."""


class ZooWarning(UserWarning):
    """Something the user should know that stops nothing; the CLI prints it as ``zoo: warning: ...``."""


class PluginConflictError(UsageError):
    """Two plugins claim one name; the user must choose (uninstall or ZOO_PLUGINS)."""


def unknown_name(kind: str, name: str, known, *, lead: str | None = None, hint: str | None = None) -> UsageError:
    """The error for a name nobody provides, with the closest known names."""
    known = list(known)
    close = closest_names(name, known)
    if not close:
        close = [k for k in known if name.lower() in k.lower()][:3]
    if close:
        tail = "did you mean " + " or ".join(close) + "?"
    elif hint:
        tail = hint
    elif kind in LISTABLE:
        tail = f"run `zoo list {LISTABLE[kind]}` to see the {len(known)} known names" if known else \
            "none are available; check `zoo plugins`"
    else:
        tail = f"known: {', '.join(known)}" if known else "none are available; check `zoo plugins`"
    return UsageError(f"{lead or f'no {kind} {name!r}'}; {tail}")


def closest_names(name: str, known: list[str]) -> list[str]:
    """The best match, plus any others nearly as good (so 'resnt50' suggests only resnet50)."""
    scored = sorted(((difflib.SequenceMatcher(None, name, k).ratio(), k) for k in known), reverse=True)
    if not scored or scored[0][0] < 0.6:
        return []
    best = scored[0][0]
    return [k for score, k in scored[:3] if score >= best - 0.05]


INPUT_ERROR_MARK = "zoo input error: "
"""Opens the message of a check that fails inside a ``tf.data`` pipeline (see :mod:`zoo.data.tfdata`)."""


def input_error(exc: BaseException) -> UsageError | None:
    """The one-line UsageError inside a TensorFlow error raised by a zoo pipeline check, else None.

    TensorFlow wraps such a message in its own text (function and node names) and
    escapes quotes and non-ASCII bytes in it; this gives back the line written for the user.
    """
    text = str(exc)
    start = text.find(INPUT_ERROR_MARK)
    if start < 0:
        return None
    line = text[start + len(INPUT_ERROR_MARK):].split("\n", 1)[0].rstrip()
    line = line[:-1] if line.endswith("]") else line
    try:
        line = line.encode("utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
    except (UnicodeError, ValueError):
        pass  # keep TensorFlow's escaped form: still readable
    return UsageError(line)


LISTABLE = {"backbone": "backbones", "strategy": "strategies", "dataset": "datasets", "adapter": "adapters"}
"""Kinds that `zoo list` shows, so an unknown name of theirs can point there."""
