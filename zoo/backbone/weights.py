"""Where pretrained weight files come from, and how they are checked.

Order of search for a named weights file (a registry ``[backbones.X.weights.W]`` table):

1. every folder of ``ZOO_WEIGHTS_DIR`` (a mirror: files under the names Keras downloads);
2. the cache, Keras' own ``$KERAS_HOME/models`` (default ``~/.keras/models``), so files
   fetched by plain Keras are found by zoo and the other way round;
3. the network, through ``keras.utils.get_file`` with the entry's URL and hash, into a
   temporary folder beside the cache; verified, then renamed into the cache.

A file with a pinned hash (``md5`` as Keras publishes, or our ``sha256``) that does not
match is refused and never cached. ``ZOO_OFFLINE=1`` forbids the network; offline or not,
a missing file is one error saying which file is needed and where to put it. A download
waits at most ``ZOO_CONNECT_TIMEOUT`` seconds (default 10) for a connection and
``ZOO_READ_TIMEOUT`` seconds (default 60) for each answer; the Hub and TF Hub clients
use the same two settings.

Importing this module is cheap: TensorFlow is imported only to download.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import UsageError, ZooError
from zoo.plugin.specs import BackboneSpec, WeightsSpec
from zoo.util.files import CHUNK
from zoo.util.network import (
    OFFLINE_ENV,
    check_reachable,
    is_offline,
    read_timeout,
    socket_timeout,
    stalled,
    timed_out,
    unreachable,
)

MIRROR_ENV = "ZOO_WEIGHTS_DIR"
WEIGHT_FILE_SUFFIXES = (".h5", ".hdf5", ".keras", ".weights.h5")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class WeightsUnavailable(ZooError):
    """A weights file is needed that is neither local nor downloadable right now."""


class ChecksumMismatch(ZooError):
    """A weights file does not have the hash its registry entry pins."""


@dataclass(frozen=True)
class ResolvedWeights:
    """What a backbone is initialised from.

    ``source`` is ``random`` (no file), ``builtin`` (the model carries its own, e.g. a
    TF Hub module), ``mirror``, ``cache``, ``download`` or ``file`` (a path the user gave).
    """

    name: str
    path: Path | None
    sha256: str | None
    source: str

    @property
    def pretrained(self) -> bool:
        return self.source != "random"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path) if self.path else None, "sha256": self.sha256,
                "source": self.source}


# -- places -------------------------------------------------------------------


def keras_home() -> Path:
    return Path(os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras"))


def cache_dir() -> Path:
    return keras_home() / "models"


def mirror_dirs() -> list[Path]:
    value = os.environ.get(MIRROR_ENV, "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p]


def find_local(weights: WeightsSpec) -> Path | None:
    """The first copy of a weights file in the mirror folders, then the cache (unverified)."""
    for folder in [*mirror_dirs(), cache_dir()]:
        candidate = folder / weights.file
        if candidate.is_file():
            return candidate
    return None


# -- hashes -------------------------------------------------------------------

_digests: dict[tuple[str, int, int], tuple[str, str]] = {}


def file_digests(path: Path) -> tuple[str, str]:
    """(sha256, md5) of a file in one read, remembered while the file is unchanged."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _digests:
        sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                sha.update(chunk)
                md5.update(chunk)
        _digests[key] = (sha.hexdigest(), md5.hexdigest())
    return _digests[key]


def mismatch(path: Path, weights: WeightsSpec) -> str | None:
    """Why ``path`` is not the file ``weights`` pins, or None when every pinned hash matches."""
    sha256, md5 = file_digests(path)
    if weights.sha256 and sha256 != weights.sha256:
        return f"sha256 is {sha256}, expected {weights.sha256}"
    if weights.md5 and md5 != weights.md5:
        return f"md5 is {md5}, expected {weights.md5}"
    return None


# -- resolving ----------------------------------------------------------------


def resolve_weights(spec: BackboneSpec, weights: str | None = None, *, progress: bool = True) -> ResolvedWeights:
    """Turn ``--weights`` into a verified local file (fetching it if need be) or no file.

    ``None``/``"default"`` means the spec's default; ``"none"`` random initialisation;
    ``"builtin"`` the weights a model carries itself; a name from the spec's weights
    tables; anything else is a file path.
    """
    choice = spec.default_weights if weights in (None, "", "default") else weights
    if choice == "none":
        return ResolvedWeights("none", None, None, "random")
    if choice == "builtin":
        if spec.default_weights != "builtin":
            raise UsageError(f"backbone '{spec.name}' carries no built-in weights; "
                             f"use {_choices(spec)}")
        return ResolvedWeights("builtin", None, None, "builtin")
    named = spec.weights_named(choice)
    if named is not None:
        return fetch_weights(spec, named, progress=progress)
    path = Path(choice).expanduser()
    if path.exists() or os.sep in choice or "/" in choice or choice.endswith(WEIGHT_FILE_SUFFIXES):
        return user_weights_file(choice)
    raise UsageError(f"backbone '{spec.name}' has no weights named '{choice}'; use {_choices(spec)}")


def user_weights_file(choice: str) -> ResolvedWeights:
    """``--weights FILE``: a readable Keras weights file, or a usage error naming it.

    Checked here, before TensorFlow is loaded or a model built, so that a typo or a wrong
    file costs one line instead of a traceback from deep inside Keras.
    """
    path = Path(choice).expanduser()
    if not path.exists():
        raise UsageError(f"weights file '{choice}' not found")
    if not path.is_file():
        raise UsageError(f"weights path '{choice}' is not a file")
    kinds = ", ".join(WEIGHT_FILE_SUFFIXES)
    if not path.name.endswith(WEIGHT_FILE_SUFFIXES):
        raise UsageError(f"weights file '{choice}' is not a Keras weights file: its name must end in {kinds}")
    try:
        sha256 = file_digests(path)[0]
        readable = _has_format(path)
    except OSError as exc:
        raise UsageError(f"weights file '{choice}' cannot be read ({exc.strerror or exc})") from None
    if not readable:
        what = "a .keras (zip) archive" if path.name.endswith(".keras") else "an HDF5 file"
        raise UsageError(f"weights file '{choice}' is not {what}; give a weights file saved by Keras ({kinds})")
    return ResolvedWeights(path.name, path.resolve(), sha256, "file")


def _has_format(path: Path) -> bool:
    """Whether ``path`` is the container its suffix promises (zip for .keras, HDF5 otherwise)."""
    if path.name.endswith(".keras"):
        import zipfile

        return zipfile.is_zipfile(path)
    with open(path, "rb") as handle:
        return handle.read(8) == HDF5_SIGNATURE


def _choices(spec: BackboneSpec) -> str:
    names = ["none", *(w.name for w in spec.weights)]
    if spec.default_weights == "builtin":
        names.insert(0, "builtin")
    return ", ".join(names) + " or a file path"


def fetch_weights(spec: BackboneSpec, weights: WeightsSpec, *, progress: bool = True) -> ResolvedWeights:
    """A verified local copy of ``weights``: mirror, then cache, then download."""
    for folder in mirror_dirs():
        candidate = folder / weights.file
        if candidate.is_file():
            problem = mismatch(candidate, weights)
            if problem:
                raise ChecksumMismatch(f"mirror file {candidate} is not the {spec.name} '{weights.name}' weights: "
                                       f"{problem}; replace or remove it")
            return ResolvedWeights(weights.name, candidate, file_digests(candidate)[0], "mirror")
    cached = cache_dir() / weights.file
    stale = None
    if cached.is_file():
        stale = mismatch(cached, weights)
        if stale is None:
            return ResolvedWeights(weights.name, cached, file_digests(cached)[0], "cache")
    path = download_weights(spec, weights, progress=progress, stale=stale)
    return ResolvedWeights(weights.name, path, file_digests(path)[0], "download")


def unavailable_message(spec: BackboneSpec, weights: WeightsSpec, reason: str) -> str:
    mirror = os.environ.get(MIRROR_ENV) or "unset"
    elsewhere = (f", or run `zoo pull {spec.name}` on a connected machine and copy it over" if weights.url
                 else " (nothing can download it: bring the file yourself)")
    return (f"weights '{weights.name}' of backbone '{spec.name}' are needed and {reason}: "
            f"put the file {weights.file} in a folder named by ZOO_WEIGHTS_DIR (now: {mirror}) "
            f"or in the cache {cache_dir()}{elsewhere}")


def download_weights(spec: BackboneSpec, weights: WeightsSpec, *, progress: bool = True,
                     stale: str | None = None) -> Path:
    """Keras' ``get_file`` into a temporary folder, verify, rename into the cache.

    ``stale`` says why the cached copy was rejected, for the error if no new one comes.
    """

    def unavailable(reason: str) -> WeightsUnavailable:
        damaged = f"the cached {weights.file} is damaged ({stale}); " if stale else ""
        return WeightsUnavailable(damaged + unavailable_message(spec, weights, reason))

    if not weights.url:
        raise unavailable("no copy is local and its registry entry has no url")
    if is_offline():
        raise unavailable(f"{OFFLINE_ENV} forbids downloading {weights.url}")
    try:
        check_reachable(weights.url)
    except OSError as exc:
        raise unavailable(unreachable(weights.url, exc)) from None

    target_dir = cache_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{weights.file}.", suffix=".partial", dir=target_dir))
    try:
        fetched = _keras_get_file(weights, tmp, progress)
        problem = mismatch(fetched, weights)
        if problem:
            raise ChecksumMismatch(f"downloaded {weights.url} failed its hash check, so it is not the {spec.name} "
                                   f"'{weights.name}' weights: {problem}; nothing was cached")
        final = target_dir / weights.file
        os.replace(fetched, final)
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _keras_get_file(weights: WeightsSpec, folder: Path, progress: bool) -> Path:
    """Download with Keras (its progress bar on stderr, its hash check) into ``folder``."""
    from zoo.util.quiet import import_tensorflow

    import_tensorflow()  # Keras loads it; without its start-up notices
    from keras.utils import get_file

    seconds = read_timeout()
    out = sys.stderr if progress else open(os.devnull, "w")
    try:
        with contextlib.redirect_stdout(out), socket_timeout(seconds):
            # no file_hash: Keras would refuse a mismatch without saying the file's hash; mismatch() says both
            path = get_file(fname=weights.file, origin=weights.url, cache_dir=str(folder), cache_subdir="")
    except Exception as exc:  # Keras wraps HTTP/URL errors in a bare Exception
        if timed_out(exc):
            raise WeightsUnavailable(f"{stalled(weights.url, seconds)} while downloading it; "
                                     "nothing was cached") from None
        raise WeightsUnavailable(f"download of {weights.url} failed: {exc}; nothing was cached") from None
    finally:
        if out is not sys.stderr:
            out.close()
    return Path(path)


# -- zoo pull -----------------------------------------------------------------


def pull_backbone(spec: BackboneSpec, weights_name: str | None = None, *, force: bool = False) -> dict[str, Any]:
    """Make a backbone's weights local (``zoo pull``), returning what was fetched, JSON-able.

    Backbones whose weights are built in (TF Hub modules) are fetched by their source's
    ``fetch`` function, which fills the source's own cache. ``force`` drops the cached copy
    first, so the file is downloaded again (a mirror folder's copy is the user's: kept).
    """
    choice = spec.default_weights if weights_name in (None, "", "default") else weights_name
    if choice == "builtin" and spec.default_weights == "builtin":
        return _pull_builtin(spec)
    named = spec.weights_named(choice)
    if force and named is not None:
        (cache_dir() / named.file).unlink(missing_ok=True)
    resolved = resolve_weights(spec, choice)
    if resolved.path is None and choice != spec.default_weights:
        raise UsageError(f"--weights {weights_name} means random initialisation: there is nothing to pull")
    if resolved.path is None:
        raise UsageError(f"backbone '{spec.name}' has no pretrained weights to pull: it starts from random "
                         f"weights unless you build it with --weights FILE")
    return {
        "backbone": spec.name,
        "weights": resolved.name,
        "file": resolved.path.name,
        "path": str(resolved.path),
        "sha256": resolved.sha256,
        "source": resolved.source,
        "bytes": resolved.path.stat().st_size,
    }


def _pull_builtin(spec: BackboneSpec) -> dict[str, Any]:
    from zoo.plugin.catalog import get_catalog
    from zoo.plugin.specs import load_object

    source = get_catalog().backbone_source(spec.source, spec)
    if not source.fetch:
        raise UsageError(f"backbone '{spec.name}' carries its own weights and its source '{spec.source}' "
                         f"cannot pre-fetch them; they are loaded when the model is built")
    fetched = load_object(source.fetch)(spec)
    extra = dict(fetched) if isinstance(fetched, dict) else {"path": fetched}
    path = Path(extra.pop("path"))
    return {"backbone": spec.name, "weights": "builtin", "file": path.name, "path": str(path), "sha256": None,
            "source": spec.source, **extra}
