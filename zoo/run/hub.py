"""Pushing adapters to model hubs and pulling them back, whichever hub it is.

Hubs are plugins (:func:`zoo.plugin.hookspecs.zoo_hubs`): each gives a
:class:`zoo.plugin.specs.HubSpec` with a URL scheme and a client class. This module knows
only that protocol. It turns references into a hub and a repository, lets the client
move the files, and checks what comes back before anything uses it:

- ``SCHEME://REPO[@REV]`` (``hf://alice/flowers@v2``) names a repository on a hub;
- a registered adapter name (``[adapters.NAME]`` in a registry file) names a
  repository pinned to a commit;
- for ``zoo pull`` only, a bare ``REPO[@REV]`` means the default hub (``hf``).

A client is constructed without arguments and offers ``push(run_dir, repo_id, *,
private, revision, message) -> PushResult`` and ``pull(repo_id, *, revision) ->
Path``; optionally ``cached() -> [{"repo", "revision", "description"}]`` for
``zoo list adapters``. Clients raise :class:`zoo.errors.ZooError` with one line for
anything the user can fix (authentication, missing repository or revision,
unreachable server).

On a hub an adapter's repository holds two things side by side: the adapter, which is what zoo
pulls, and the full model for plain Keras at the root (:mod:`zoo.run.full_model`), which zoo never
downloads nor reads. Both want the root's ``config.json``: Keras' ``load_model("hf://OWNER/REPO")``
reads it as the model's config, so zoo's run record goes up as ``zoo.json`` (:data:`HUB_RECORD`).
Adapters pushed before that have the record as ``config.json`` (and maybe a ``model.keras``); they
pull, verify and load as before. Which file is the record is decided in one place,
:func:`zoo.run.folder.record_path`: ``zoo.json`` when the folder has one, else ``config.json``.

Pulled adapters are verified here, not by the client: only the adapter's own file
types are accepted (JSON, ``.keras``, ``.npz``, CSV, PNG, the card); the record
must hold the head's sha256; every other file must be one it records and match its
sha256. The only files it need not record are itself, the model card ``README.md``
(regenerated on every push), ``.gitattributes`` (the Hub's own) and the full model's files
(:data:`NEVER_LOADED_FILES`), which a client leaves out of zoo's pulls; the card's pictures
(``curves.png``, ``confusion.png``) are run files, recorded like the rest.

What is pushed is the run's files as they are, except the record: its copy on the
hub has local paths (dataset folders, weights files, parent runs, output folders)
reduced to their last component (:func:`shareable_config`); the run itself is only read.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo.errors import UsageError, ZooError, unknown_name
from zoo.plugin.specs import HubSpec, PushResult, load_object
from zoo.registry.layers import HEX40
from zoo.run.folder import (
    CARD,
    CONFIG,
    HEAD,
    HUB_RECORD,
    RunFolder,
    read_config,
    read_run_folder,
    record_path,
    verify_files,
)  # HUB_RECORD is defined with the run folder's layout, which must know it to read a pulled folder
from zoo.run.full_model import FULL_MODEL_FILES, LEGACY_FULL_MODEL

ADAPTER_FILE_PATTERNS = (HUB_RECORD, CONFIG, CARD, "*.keras", "*.npz", "*.json", "*.csv", "*.png")
"""What an adapter may contain: data and pictures only, nothing that runs when loaded."""

UNRECORDED_FILES = (HUB_RECORD, CONFIG, CARD, ".gitattributes")
"""Files a pulled adapter may hold without a recorded sha256 (the record is one of the first two)."""

NEVER_LOADED_FILES = (*FULL_MODEL_FILES, LEGACY_FULL_MODEL)
"""Files beside an adapter on a hub that zoo never downloads nor reads: the full model for plain
Keras (:mod:`zoo.run.full_model`), and the ``model.keras`` of older pushes. A pulled folder may hold
them (a plain download of the same revision into the same cache) without a recorded sha256; hub
clients leave them out of zoo's pulls. ``config.json`` is among them: where a pulled folder has no
``zoo.json`` (an adapter pushed before it), the client fetches ``config.json`` alone afterwards, as the
record."""

DEFAULT_HUB = "hf"
LICENSE_ID = re.compile(r"[a-z0-9][a-z0-9.+-]{0,63}")
"""A licence id as the Hub's metadata takes it (``apache-2.0``, ``cc-by-4.0``, ``other``)."""
COMMIT = HEX40
"""A full commit sha, a revision that never moves: the registry's pattern for pinned adapters, which hub
plugins use too."""
LOCAL = "<local>"
REGISTRY_FILE = "registry.toml"
"""``zoo push --register`` writes to this file in the working directory."""


def is_adapter_file(relpath: str) -> bool:
    name = relpath.rsplit("/", 1)[-1]
    return not name.startswith(".") and any(fnmatch.fnmatch(relpath, p) for p in ADAPTER_FILE_PATTERNS)


def publishable_files(config: dict[str, Any]) -> list[str]:
    """The files of a run that make up its adapter: the config and every file it records."""
    files = sorted(config.get("files", {}))
    bad = [f for f in files if not is_adapter_file(f)]
    if bad:
        raise ZooError(
            f"the run records {bad[0]!r}, a file type adapters may not carry "
            f"(allowed: {', '.join(ADAPTER_FILE_PATTERNS)}); remove it from the run"
        )
    clash = [f for f in files if f in (HUB_RECORD, *NEVER_LOADED_FILES)]
    if clash:
        raise ZooError(f"the run records a file named {clash[0]!r}, a name a hub gives to zoo's record or to the "
                       "full model; rename it in the run")
    return [CONFIG, *files]


PATH_FIELDS = {"out", "from", "ref", "weights"}
"""Config keys whose values are local paths whenever they are not names or hub references."""


KEPT_AS_THEY_ARE = frozenset({"class_names"})
"""Config fields that are data, never paths: a class named ``/x`` must reach the Hub as ``/x``."""


def shareable_config(config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a run's config fit to publish: no local path in it, the run's own copy unchanged.

    Absolute paths anywhere (``folder:/home/me/pets``, a weights file, an ad-hoc TF Hub
    folder) and relative paths in :data:`PATH_FIELDS` (output folders, parent runs) become
    their last component (``folder:pets``), or ``<local>`` when there is none. Names
    (``digits``, ``imagenet``, ``tfds:mnist/3.0.1``) and hub references stay as they are.
    """
    def scrub(value: Any, key: str | None = None) -> Any:
        if key in KEPT_AS_THEY_ARE:
            return value
        if isinstance(value, dict):
            return {k: scrub(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, str):
            return _public_text(value, relative_too=key in PATH_FIELDS)
        return value

    return scrub(config)


def _public_text(text: str, *, relative_too: bool) -> str:
    if text.startswith("file://"):
        return _last_part(text)
    if "://" in text:
        return text  # hf://owner/repo, https://tfhub.dev/...: public references
    kind, sep, rest = text.partition(":")
    if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.+-]+", kind) and _is_local_path(rest, relative_too=False):
        return f"{kind}:{_last_part(rest)}"  # folder:/data/pets, tfhub:/models/x (a one-letter kind is a drive)
    return _last_part(text) if _is_local_path(text, relative_too=relative_too) else text


def _is_local_path(text: str, *, relative_too: bool) -> bool:
    if text.startswith(("/", "~", "\\", "file://")) or re.match(r"^[A-Za-z]:[\\/]", text):
        return True
    return relative_too and ("/" in text or "\\" in text)


def _last_part(text: str) -> str:
    if text.startswith("file://"):
        text = text[len("file://"):]
    parts = [p for p in re.split(r"[\\/]+", text) if p not in ("", ".", "..", "~")]
    return parts[-1] if parts else LOCAL


def adapter_summary(config: dict[str, Any]) -> str:
    """One line saying what an adapter is, for registry entries and listings."""
    backbone = (config.get("backbone") or {}).get("name")
    strategy = (config.get("strategy") or {}).get("name")
    classes = len(config.get("class_names") or [])
    what = " + ".join(filter(None, [backbone, strategy])) or "adapter"
    return f"{config.get('name') or 'unnamed'}: {what}, {classes} classes"


@dataclass(frozen=True)
class HubRef:
    """A repository on a hub, at a revision (None: the hub's default branch)."""

    hub: HubSpec
    repo_id: str
    revision: str | None = None
    name: str | None = None  # the registered adapter it came from, if any

    def __str__(self) -> str:
        return f"{self.hub.scheme}://{self.repo_id}" + (f"@{self.revision}" if self.revision else "")


def _split_revision(text: str) -> tuple[str, str | None]:
    repo, sep, revision = text.partition("@")
    if not repo.strip("/") or (sep and not revision):
        raise UsageError(f"'{text}' is not a repository reference; write OWNER/REPO or OWNER/REPO@REVISION")
    return repo.strip("/"), (revision or None)


def default_hub(catalog) -> HubSpec:
    hubs = catalog.hubs
    if DEFAULT_HUB in hubs:
        return hubs[DEFAULT_HUB]
    if len(hubs) == 1:
        return next(iter(hubs.values()))
    raise UsageError("no default hub is loaded; write SCHEME://OWNER/REPO (see `zoo plugins` for the hubs)")


def registered_ref(catalog, name: str) -> HubRef:
    entry = catalog.adapter(name)
    if entry.hub not in catalog.hubs:
        raise UsageError(
            f"adapter '{name}' ({entry.origin}) lives on hub '{entry.hub}', which no loaded plugin provides; "
            "check `zoo plugins`"
        )
    return HubRef(catalog.hubs[entry.hub], entry.repo, entry.revision, name=name)


def parse_ref(catalog, ref: str, *, bare_repo_ids: bool = False) -> HubRef | None:
    """``SCHEME://REPO[@REV]`` or a registered adapter name (or, if allowed, ``REPO[@REV]``)."""
    scheme, sep, rest = ref.partition("://")
    if sep:
        return HubRef(catalog.hub_for_scheme(scheme), *_split_revision(rest))
    if ref in catalog.adapters:
        return registered_ref(catalog, ref)
    if bare_repo_ids and "/" in ref:
        return HubRef(default_hub(catalog), *_split_revision(ref))
    return None


def client_for(hub: HubSpec):
    try:
        return load_object(hub.client)()
    except ZooError:
        raise
    except Exception as exc:
        raise ZooError(f"hub '{hub.name}' (plugin {hub.plugin or '?'}) cannot start its client "
                       f"{hub.client}: {type(exc).__name__}: {exc}") from None


def holds_recorded_files(path: Path) -> bool:
    """Whether a cached copy has its record and every file that records: a download
    cut short leaves some out, and a hub client should fetch it again rather than serve it."""
    try:
        recorded = json.loads(record_path(path).read_text())["files"]
        return all((path / rel).is_file() for rel in recorded)
    except (OSError, ValueError, KeyError, TypeError):
        return False


def check_pulled(path: Path, ref: HubRef) -> RunFolder:
    """Accept a downloaded adapter only if it is data of the adapter's kinds, every file in it
    is one its record records (see :data:`UNRECORDED_FILES`), and checksums match."""
    record = record_path(path)
    if not record.is_file():
        raise ZooError(f"{ref} is not a zoo adapter: it has no {HUB_RECORD} (nor the {CONFIG} of older pushes)")
    if record.name == CONFIG and not _names_a_zoo_schema(record):
        raise ZooError(f"{ref} is not a zoo adapter: it has no {HUB_RECORD}, and its {CONFIG} is not a zoo run's "
                       "record (a plain Keras model, maybe: load it with keras.saving.load_model)")
    config = read_config(path)
    recorded = config["files"]
    present = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file() or p.is_symlink())
    listed = [f for f in recorded if not is_adapter_file(f)]
    beside = (*UNRECORDED_FILES, *NEVER_LOADED_FILES)
    foreign = [f for f in present if not is_adapter_file(f) and f not in beside]
    odd = listed or foreign
    if odd:
        raise ZooError(f"{ref} carries {odd[0]!r}, a file type zoo never loads from a hub; refusing it")
    if HEAD not in recorded:
        raise ZooError(f"{ref}: its {record.name} records no sha256 for {HEAD}, so the head cannot be verified; "
                       "refusing it")
    unrecorded = [f for f in present if f not in recorded and f not in beside]
    if unrecorded:
        raise ZooError(f"{ref} carries {unrecorded[0]!r}, which its {record.name} does not record with a sha256; "
                       "refusing it")
    try:
        verify_files(path, config)
    except ZooError as exc:
        raise ZooError(f"{ref} failed verification: {exc}; `zoo pull --force {ref}` fetches it again") from None
    return read_run_folder(path, verify=False)


def _names_a_zoo_schema(record: Path) -> bool:
    try:
        schema = json.loads(record.read_text()).get("schema")
    except (OSError, ValueError, AttributeError):
        return True  # read_config says what is wrong with it
    return isinstance(schema, str) and schema.startswith("zoo.")


def pull(catalog, ref: HubRef, *, force: bool = False) -> RunFolder:
    """Download (or find in the hub's cache) and verify one adapter; ``force`` fetches it again
    even when the cache holds it (a damaged copy is otherwise refused on every load)."""
    import inspect

    client = client_for(ref.hub)
    if force and "force" not in inspect.signature(client.pull).parameters:
        raise UsageError(f"hub '{ref.hub.name}' cannot fetch an adapter again (its client's pull takes no force); "
                         "delete its cached copy instead")
    path = Path(client.pull(ref.repo_id, revision=ref.revision, **({"force": True} if force else {})))
    return check_pulled(path, ref)


def pull_adapter(catalog, ref: str, *, force: bool = False) -> dict[str, Any]:
    """``zoo pull`` for adapters: fetch, verify, and describe where it landed."""
    hub_ref = parse_ref(catalog, ref, bare_repo_ids=True)
    if hub_ref is None:
        known = [*catalog.backbones, *catalog.adapters]
        raise unknown_name("name", ref, known, lead=f"nothing named {ref!r} to pull",
                           hint="pull a backbone, a registered adapter, OWNER/REPO[@REV] or hf://OWNER/REPO[@REV]")
    adapter = pull(catalog, hub_ref, force=force)
    config = adapter.config
    return {
        "kind": "adapter",
        "ref": str(hub_ref),
        "hub": hub_ref.hub.name,
        "repo_id": hub_ref.repo_id,
        "revision": hub_ref.revision,
        "commit": adapter.path.name if COMMIT.match(adapter.path.name) else None,
        "registered_as": hub_ref.name,
        "path": str(adapter.path),
        "name": config.get("name"),
        "backbone": (config.get("backbone") or {}).get("name"),
        "strategy": (config.get("strategy") or {}).get("name"),
        "classes": list(config.get("class_names", [])),
    }


def resolve_run(ref: str | os.PathLike, catalog=None) -> Path:
    """Where a command that takes a run folder finds it.

    A local directory is returned as it is (the caller reads and verifies it);
    ``SCHEME://REPO[@REV]`` and registered adapter names are pulled through the hub's
    cache, verified, and their local directory returned.
    """
    text = os.fspath(ref)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    if catalog is None:
        from zoo.plugin.catalog import get_catalog

        catalog = get_catalog()
    hub_ref = parse_ref(catalog, text)
    if hub_ref is None:
        raise UsageError(
            f"run '{text}' is not a directory, a registered adapter or a hub reference like hf://OWNER/REPO[@REV]"
        )
    return pull(catalog, hub_ref).path


def push_adapter(catalog, run_dir: str | os.PathLike, repo_id: str, *, hub_name: str = DEFAULT_HUB,
                 private: bool = False, revision: str | None = None, message: str | None = None,
                 register_as: str | None = None, full_model: bool = True, license: str | None = None) -> dict[str, Any]:
    """Publish a verified run to a hub; optionally register it pinned to the new commit.

    The run folder is only read. Everything that can be checked locally (the run,
    the registry file, the adapter name, the full model) is done before the first byte
    is sent. ``full_model`` adds ``model.keras`` (:mod:`zoo.run.full_model`) for hubs whose
    client takes it (a ``full_model`` keyword of ``push``); ``license`` sets the card's licence
    (a ``license`` keyword).
    """
    import tempfile

    from zoo.registry import edit as registry_edit

    if hub_name not in catalog.hubs:
        raise unknown_name("hub", hub_name, sorted(catalog.hubs))
    if license is not None and not LICENSE_ID.fullmatch(license):
        raise UsageError(f"--license takes a licence id such as apache-2.0, mit or cc-by-4.0, got {license!r}")
    hub = catalog.hubs[hub_name]
    adapter = read_run_folder(run_dir)
    publishable_files(adapter.config)
    registry_path = Path.cwd() / REGISTRY_FILE
    if register_as is not None:
        registry_edit.check_adapter_name(register_as)
        registry_edit.check_registry_file(registry_path)
    client = client_for(hub)
    takes = _keywords(client.push)
    if license is not None and "license" not in takes:
        raise UsageError(f"hub '{hub.name}' (plugin {hub.plugin or '?'}) does not take --license")
    extra: dict[str, Any] = {"license": license} if license is not None else {}
    with tempfile.TemporaryDirectory(prefix="zoo-push-") as work:
        model = None
        if full_model and "full_model" in takes:
            from zoo.run.full_model import make_full_model

            model = make_full_model(Path(run_dir), Path(work), catalog)
            extra["full_model"] = model
        result: PushResult = client.push(Path(run_dir), repo_id, private=private, revision=revision,
                                         message=message, **extra)
    registered = None
    if register_as is not None:
        if not COMMIT.match(result.commit or ""):
            raise ZooError(f"hub '{hub.name}' returned {result.commit!r}, not a commit sha; cannot pin '{register_as}'")
        registry_edit.set_adapter(registry_path, register_as, repo=result.repo_id, revision=result.commit,
                                  hub=hub.name, description=adapter_summary(adapter.config))
        registered = register_as
    return {
        "hub": hub.name,
        "repo_id": result.repo_id,
        "revision": result.revision,
        "commit": result.commit,
        "url": result.url,
        "registered_as": registered,
        "registry": str(registry_path) if registered else None,
        "full_model": (model.check if model.path else None) if model else None,
        "full_model_missing": (model.reason if model else
                               None if not full_model else f"hub '{hub.name}' takes no full model"),
        **result.extra,
    }


def _keywords(function) -> set[str]:
    """The keyword arguments ``function`` takes (every name, for one taking ``**kwargs``)."""
    import inspect

    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return {"license", "full_model"}
    return {p.name for p in parameters}
