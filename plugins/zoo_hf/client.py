"""The Hugging Face Hub client behind ``hf://``: push, pull and list cached adapters.

Uploads go through ``huggingface_hub.HfApi`` (``create_repo``, ``create_branch``,
``create_commit``): one commit holds the adapter's files (its record as ``zoo.json``), the
full model for plain Keras at the root in Keras' folder layout (``config.json``,
``metadata.json``, ``model.weights.h5``: what ``keras.saving.load_model("hf://OWNER/REPO")``
reads; unless the push leaves it out), a generated model card and the removal of adapter and
full-model files the previous version had and this one lacks, so a revision always holds
exactly one adapter. A second commit then rewrites only the card, its usage lines pinned to the
first commit (a card cannot name the commit that holds it); both hold the same files otherwise,
and the second is the one reported. The card and the published record (local paths removed:
:func:`zoo.run.hub.shareable_config`) are made in memory; the run folder is only read.
Downloads go through ``snapshot_download`` and the HF cache, restricted to the adapter's file
types and without the full model's files (``zoo.api.NEVER_LOADED_FILES``), so nothing else in a
repository (code, pickles, the Keras model) is ever fetched; only a revision without
``zoo.json``, an adapter pushed before it, has its ``config.json`` (then zoo's record) fetched
afterwards. A pull pinned to a commit that is fully cached needs no network; any other pull
asks the Hub first, so a refused token or an unreachable server is an error rather than a
silent stale copy. ``HF_HUB_OFFLINE=1`` serves pulls from the cache only. Every request is
bounded by ``ZOO_CONNECT_TIMEOUT`` and ``ZOO_READ_TIMEOUT`` (:mod:`zoo_hf.network`).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from zoo.api import (
    CARD,
    CONFIG,
    HUB_RECORD,
    METRICS,
    SCHEMA,
    PushResult,
    ZooError,
    __version__,
    network_timeouts,
    read_run_folder,
    record_path,
)
from zoo_hf import settings
from zoo_hf.errors import hub_errors
from zoo_hf.network import bounded_requests

DEFAULT_BRANCH = "main"


@contextlib.contextmanager
def _progress_bars_only_on_a_terminal() -> Iterator[None]:
    """Keep Hub progress bars for people at a terminal, out of logs and pipes."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    if not was_disabled and not sys.stderr.isatty():
        disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


@contextlib.contextmanager
def _talking_to_the_hub(action: str, repo_id: str, revision: str | None, endpoint: str,
                        had_token: bool, has_cached_copy=None) -> Iterator[None]:
    """Bounded requests, quiet progress bars off a terminal, and one-line errors."""
    timeouts = network_timeouts()
    with _progress_bars_only_on_a_terminal(), hub_errors(action=action, repo_id=repo_id, revision=revision,
                                                         endpoint=endpoint, had_token=had_token, timeouts=timeouts,
                                                         has_cached_copy=has_cached_copy), \
            bounded_requests(*timeouts):
        yield


def _read_metrics(run_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((run_dir / METRICS).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _json_bytes(config: dict[str, Any]) -> bytes:
    return (json.dumps(config, indent=2) + "\n").encode("utf-8")


def _with_registry_facts(config: dict[str, Any]) -> dict[str, Any]:
    """The config, with what the registry knows and the run does not record, for the card:
    the backbone's build options (pooling) and its base weights' licence.

    Loading an adapter builds its backbone from the registry entry of that name, so the
    entry's options are what zoo's model has, provided it still names the same model.
    """
    backbone = dict(config.get("backbone") or {})
    from zoo.api import get_catalog

    spec = get_catalog().backbones.get(backbone.get("name"))
    if spec is None or (spec.source, spec.model) != (backbone.get("source"), backbone.get("model")):
        return config
    if "options" not in backbone:
        backbone["options"] = dict(spec.options)
    weights = backbone.get("weights") if isinstance(backbone.get("weights"), dict) else {}
    named = spec.weights_named(weights.get("name")) if weights.get("name") else None
    if weights and "license" not in weights and getattr(named, "license", None):
        backbone["weights"] = {**weights, "license": named.license}
    return {**config, "backbone": backbone}


class HfHubClient:
    """Talks to ``HF_ENDPOINT`` (default huggingface.co) with ``HF_TOKEN`` or the saved login."""

    def _api(self, token: str | None):
        from huggingface_hub import HfApi

        return HfApi(endpoint=settings.endpoint(), token=token, library_name="zoo", library_version=__version__)

    # -- push ------------------------------------------------------------------

    def push(self, run_dir: Path, repo_id: str, *, private: bool = False, revision: str | None = None,
             message: str | None = None, full_model=None, license: str | None = None) -> PushResult:
        """``full_model``: a ``zoo.api.FullModel`` (the Keras folder's files to upload at the root, or why there
        are none)."""
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        from zoo.api import INPUT_RESIZE, NEVER_LOADED_FILES, is_adapter_file, publishable_files, shareable_config
        from zoo_hf.card import render

        endpoint, token = settings.endpoint(), settings.token()
        branch = revision or DEFAULT_BRANCH
        if settings.offline():
            raise ZooError("cannot push while HF_HUB_OFFLINE is set; unset it to publish")
        if token is None:
            raise ZooError(f"pushing to {endpoint} needs a token: set HF_TOKEN or log in with `hf auth login`")
        run_dir = Path(run_dir)
        adapter = read_run_folder(run_dir)
        files = publishable_files(adapter.config)
        public = shareable_config(adapter.config)
        api = self._api(token)
        with _talking_to_the_hub("push", repo_id, branch, endpoint, had_token=True):
            repo_url = api.create_repo(repo_id, private=private, exist_ok=True)
            repo_id = getattr(repo_url, "repo_id", None) or repo_id
            if private and not api.repo_info(repo_id).private:
                # create_repo leaves an existing repository as it is: never publish into a
                # public one when the user asked for privacy.
                raise ZooError(f"'{repo_id}' already exists and is public on {endpoint}; --private only applies "
                               "to new repositories (make it private on the Hub first, or drop --private)")
            if branch != DEFAULT_BRANCH:
                api.create_branch(repo_id, branch=branch, exist_ok=True)
            model_files = full_model.files if getattr(full_model, "path", None) else {}
            run_files = [rel for rel in files if rel != CONFIG]
            uploaded = {HUB_RECORD, CARD, *run_files, *model_files}
            stale = [f for f in api.list_repo_files(repo_id, revision=branch)
                     if (is_adapter_file(f) or f in NEVER_LOADED_FILES) and f not in uploaded]
            operations = [CommitOperationAdd(path_in_repo=HUB_RECORD, path_or_fileobj=_json_bytes(public))]
            operations += [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(run_dir / rel)) for rel in run_files]
            operations += [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(local))
                           for name, local in model_files.items()]
            facts = _with_registry_facts(public)
            metrics = _read_metrics(run_dir)

            def card(commit: str | None) -> CommitOperationAdd:
                text = render(facts, metrics, repo_id, branch, commit=commit, full_model=full_model, license=license,
                              resize=INPUT_RESIZE)
                return CommitOperationAdd(path_in_repo=CARD, path_or_fileobj=text.encode("utf-8"))

            operations.append(card(None))
            operations += [CommitOperationDelete(path_in_repo=rel) for rel in stale]
            name = adapter.config.get("name") or run_dir.name
            files_commit = api.create_commit(repo_id, operations, revision=branch,
                                             commit_message=message or f"Upload zoo adapter {name}")
            info = api.create_commit(repo_id, [card(files_commit.oid)], revision=branch,
                                     commit_message=f"Model card pinned to {files_commit.oid[:12]}",
                                     parent_commit=files_commit.oid)
        url = f"{endpoint}/{repo_id}" + (f"/tree/{quote(branch, safe='')}" if branch != DEFAULT_BRANCH else "")
        return PushResult(url=url, commit=info.oid, repo_id=repo_id, revision=branch,
                          extra={"commit_url": info.commit_url})

    # -- pull ------------------------------------------------------------------

    def pull(self, repo_id: str, *, revision: str | None = None, force: bool = False) -> Path:
        from zoo.api import COMMIT, holds_recorded_files

        endpoint, token = settings.endpoint(), settings.token()
        offline = settings.offline()
        def has_cached_copy() -> bool:
            try:
                return self._snapshot(repo_id, revision, token, local_only=True, missing_ok=True) is not None
            except Exception:  # noqa: BLE001 - only deciding whether to mention the cache
                return False

        with _talking_to_the_hub("pull", repo_id, revision, endpoint, had_token=token is not None,
                                 has_cached_copy=has_cached_copy):
            if force and offline:
                raise ZooError("cannot fetch again while HF_HUB_OFFLINE is set; unset it, then `zoo pull --force`")
            if not offline:
                if COMMIT.match(revision or "") and not force:
                    cached = self._snapshot(repo_id, revision, token, local_only=True, missing_ok=True)
                    if cached is not None and holds_recorded_files(cached):
                        return cached  # a commit never changes: its complete copy needs no network
                # snapshot_download answers a refused token, a missing repository or an
                # unreachable server with whatever the cache holds for a branch, and retries
                # a silent server several times; ask once first, so that those are errors
                # within the timeouts and only HF_HUB_OFFLINE=1 means "use the cache".
                self._api(token).repo_info(repo_id, revision=revision)
            return self._snapshot(repo_id, revision, token, local_only=offline, force=force)

    def _snapshot(self, repo_id: str, revision: str | None, token: str | None, *, local_only: bool,
                  missing_ok: bool = False, force: bool = False) -> Path | None:
        """The adapter's files (and nothing else) at ``revision`` from the HF cache, fetched unless ``local_only``.

        The full model's files are left out, its ``config.json`` included; a revision without
        ``zoo.json`` is an adapter pushed before it, whose record is that ``config.json``: it is
        fetched then, alone, from the same commit.
        """
        from zoo.api import ADAPTER_FILE_PATTERNS, NEVER_LOADED_FILES

        path = self._download(repo_id, revision, token, local_only=local_only, missing_ok=missing_ok, force=force,
                              allow=list(ADAPTER_FILE_PATTERNS), ignore=list(NEVER_LOADED_FILES))
        if path is not None and not (path / HUB_RECORD).is_file():
            self._download(repo_id, path.name, token, local_only=local_only, missing_ok=True, force=force,
                           allow=[CONFIG], ignore=[])
        return path

    def _download(self, repo_id: str, revision: str | None, token: str | None, *, local_only: bool, missing_ok: bool,
                  force: bool, allow: list[str], ignore: list[str]) -> Path | None:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            path = snapshot_download(
                repo_id,
                revision=revision,
                endpoint=settings.endpoint(),
                cache_dir=settings.cache_dir(),
                token=token,
                local_files_only=local_only,
                force_download=force,
                allow_patterns=allow,
                ignore_patterns=ignore,
                library_name="zoo",
                library_version=__version__,
            )
        except LocalEntryNotFoundError:
            if missing_ok:
                return None
            raise
        return Path(path)

    # -- cache -----------------------------------------------------------------

    def cached(self) -> list[dict[str, Any]]:
        """Adapters in the local HF cache: model snapshots whose record (``zoo.json``, or the ``config.json`` of
        older pushes) is a zoo adapter's."""
        folder = settings.cache_dir()
        if not folder.is_dir():
            return []  # answered without importing huggingface_hub
        from huggingface_hub import scan_cache_dir
        from huggingface_hub.errors import CacheNotFound

        from zoo.api import adapter_summary

        try:
            info = scan_cache_dir(folder)
        except (CacheNotFound, OSError, ValueError):
            return []
        rows = []
        for repo in sorted(info.repos, key=lambda r: r.repo_id):
            if repo.repo_type != "model":
                continue
            for revision in sorted(repo.revisions, key=lambda r: r.commit_hash):
                try:
                    config = json.loads(record_path(revision.snapshot_path).read_text())
                except (OSError, ValueError):
                    continue
                if not isinstance(config, dict) or config.get("schema") != SCHEMA:
                    continue
                refs = sorted(revision.refs)
                rows.append({
                    "repo": repo.repo_id,
                    "revision": revision.commit_hash,
                    "refs": refs,
                    "path": str(revision.snapshot_path),
                    "description": adapter_summary(config) + (f" [{', '.join(refs)}]" if refs else ""),
                })
        return rows
