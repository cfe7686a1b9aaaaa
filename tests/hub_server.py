"""A small Hugging Face Hub on 127.0.0.1 for tests: our write API in front of olah's read API.

Why two servers behind one address. ``huggingface_hub`` talks to one endpoint
(``HF_ENDPOINT``), as it does to huggingface.co. Downloads should go through
third-party code that speaks the Hub's read API, so they are served by **olah**
(PyPI ``olah``), a Hub mirror that serves git repositories from disk when run
with ``[accessibility] offline = true`` and ``mirrors-path``. olah has no write
API, no users and, offline, cannot tell a missing repository from a missing
revision. So this server is the Hub as the client sees it:

- it owns the repositories: bare git repositories under ``ROOT/models/NS/NAME``
  (exactly the layout olah reads from ``mirrors-path = [ROOT]``), written with the
  ``git`` binary;
- it answers the write API itself, as ``huggingface_hub`` 2.x calls it:
  ``/api/repos/create``, ``/api/validate-yaml``, ``preupload`` (always "regular":
  no LFS, no Xet), ``commit`` (NDJSON), ``branch``, and ``/api/whoami-v2``;
- for reads (repo info, tree, refs, commits, paths-info, ``resolve``) it checks the
  token, the repository's visibility, the revision and the path — what only the
  owner of the data can know — and then forwards the request unchanged to olah,
  relaying olah's answer (redirects included: the Host header is kept, so olah's
  redirects point back here).

Tokens: ``--token USER:TOKEN`` (repeatable). A token that is sent but unknown is
answered 401 "Invalid credentials in Authorization header", as the Hub does; writes
need a known token whose user owns the namespace; private repositories are visible
to their owner only.

Run by hand (starts olah too)::

    python tests/hub_server.py --root /tmp/hub --token alice:secret
    HF_ENDPOINT=http://127.0.0.1:PORT HF_TOKEN=secret HF_HUB_DISABLE_XET=1 zoo push RUN alice/demo

Tests use :class:`HubServer` in a thread and :func:`start_olah` as a subprocess.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, quote, unquote, urlsplit

GITATTRIBUTES = b"*.keras filter=lfs diff=lfs merge=lfs -text\n*.npz filter=lfs diff=lfs merge=lfs -text\n"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "server", "date",
              "content-length", "content-encoding"}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


# -- responses -----------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, data, **headers: str) -> Response:
    return Response(status, json.dumps(data).encode(), {"Content-Type": "application/json", **headers})


class HubError(Exception):
    """An error answer: status, the Hub's X-Error-Code / X-Error-Message, a JSON body."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code

    def response(self) -> Response:
        headers = {"X-Error-Message": self.message}
        if self.code:
            headers["X-Error-Code"] = self.code
        return json_response(self.status, {"error": self.message}, **headers)


def repo_not_found(authenticated: bool) -> HubError:
    # The Hub answers 401 to anonymous callers and 404 to signed-in ones; both say RepoNotFound.
    return HubError(404 if authenticated else 401, "Repository not found", "RepoNotFound")


def revision_not_found(revision: str) -> HubError:
    return HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


# -- storage -------------------------------------------------------------------


class GitStore:
    """Model repositories as bare git repositories, one lock each for writers."""

    def __init__(self, root: Path):
        self.root = Path(root)
        (self.root / "models").mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def lock(self, repo_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(repo_id, threading.Lock())

    def path(self, repo_id: str) -> Path:
        return self.root / "models" / repo_id

    def exists(self, repo_id: str) -> bool:
        return (self.path(repo_id) / "HEAD").is_file()

    def meta(self, repo_id: str) -> dict:
        return json.loads((self.path(repo_id) / "hub.json").read_text())

    def git(self, repo_id: str, *args: str, input: bytes | None = None, env: dict | None = None,
            check: bool = True) -> str:
        full_env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                    "GIT_TERMINAL_PROMPT": "0", **(env or {})}
        result = subprocess.run(["git", f"--git-dir={self.path(repo_id)}", *args], input=input,
                                capture_output=True, env=full_env)
        if check and result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout.decode().strip() if result.returncode == 0 else ""

    def create(self, repo_id: str, owner: str, private: bool) -> None:
        path = self.path(repo_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
        try:
            subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(tmp)], check=True, capture_output=True)
            (tmp / "hub.json").write_text(json.dumps({"private": private, "owner": owner}))
            os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        # Like the Hub, a new repository starts with one commit holding .gitattributes.
        self.commit(repo_id, "main", owner, {".gitattributes": GITATTRIBUTES}, [], "initial commit", "", create=True)

    def resolve(self, repo_id: str, revision: str) -> str | None:
        if revision.startswith("-"):
            return None
        return self.git(repo_id, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}", check=False) or None

    def branch_head(self, repo_id: str, branch: str) -> str | None:
        return self.git(repo_id, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False) or None

    def has_path(self, repo_id: str, commit: str, path: str) -> bool:
        return bool(self.git(repo_id, "cat-file", "-t", f"{commit}:{path}", check=False))

    def blob_oids(self, repo_id: str, commit: str) -> dict[str, str]:
        oids = {}
        for line in self.git(repo_id, "ls-tree", "-r", "-z", commit).split("\0"):
            if line:
                meta, path = line.split("\t", 1)
                oids[path] = meta.split()[2]
        return oids

    def create_branch(self, repo_id: str, branch: str, commit: str) -> None:
        self.git(repo_id, "update-ref", f"refs/heads/{branch}", commit, "0" * 40)

    def commit(self, repo_id: str, branch: str, user: str, files: dict[str, bytes], deletions: list[str],
               summary: str, description: str, parent: str | None = None, create: bool = False) -> str:
        """Write one commit on ``branch`` and move it with compare-and-swap; return its sha."""
        head = None if create else self.branch_head(repo_id, branch)
        if not create and head is None:
            raise revision_not_found(branch)
        if parent is not None and parent != head:
            raise HubError(412, f"parentCommit {parent} is not the head of {branch} ({head})")
        ident = {"GIT_AUTHOR_NAME": user, "GIT_AUTHOR_EMAIL": f"{user}@users.noreply.localhost",
                 "GIT_COMMITTER_NAME": user, "GIT_COMMITTER_EMAIL": f"{user}@users.noreply.localhost"}
        with tempfile.TemporaryDirectory(prefix="hub-index-") as scratch:
            env = {**ident, "GIT_INDEX_FILE": os.path.join(scratch, "index")}
            if head:
                self.git(repo_id, "read-tree", head, env=env)
            present = set(self.git(repo_id, "ls-files", "-z", env=env).split("\0")) - {""}
            for target in deletions:
                gone = [p for p in present if p == target.rstrip("/") or p.startswith(target.rstrip("/") + "/")]
                if not gone:
                    raise HubError(404, f"A file with this name doesn't exist: {target}", "EntryNotFound")
                # mode 0 removes an entry; unlike --force-remove, this needs no work tree (the repository is bare)
                removals = "".join(f"0 {'0' * 40}\t{p}\0" for p in gone)
                self.git(repo_id, "update-index", "-z", "--index-info", input=removals.encode(), env=env)
                present -= set(gone)
            for path, data in files.items():
                oid = self.git(repo_id, "hash-object", "-w", "--stdin", input=data)
                self.git(repo_id, "update-index", "--add", "--cacheinfo", f"100644,{oid},{path}", env=env)
            tree = self.git(repo_id, "write-tree", env=env)
        message = summary + (f"\n\n{description}" if description else "") + "\n"
        args = ["commit-tree", tree] + (["-p", head] if head else [])
        sha = self.git(repo_id, *args, input=message.encode(), env=ident)
        self.git(repo_id, "update-ref", f"refs/heads/{branch}", sha, head or "0" * 40)
        return sha


# -- the Hub -------------------------------------------------------------------


def valid_repo_path(path: str) -> bool:
    parts = path.split("/")
    return bool(path) and not path.startswith("/") and all(p not in ("", ".", "..", ".git") for p in parts)


def front_matter(content: str) -> tuple[object, str | None]:
    """The YAML block at the top of a model card, parsed; (None, None) when absent."""
    import yaml

    match = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, flags=re.S)
    if not match:
        return None, None
    try:
        return yaml.safe_load(match.group(1)), None
    except yaml.YAMLError as exc:
        return None, f"invalid YAML: {exc}".replace("\n", " ")


def metadata_errors(meta: object) -> list[str]:
    """The checks the Hub makes on the fields zoo writes (a subset of its schema)."""
    if not isinstance(meta, dict):
        return ["metadata must be a YAML mapping"]
    errors = []
    for key in ("library_name", "pipeline_tag", "license"):
        if key in meta and not isinstance(meta[key], str):
            errors.append(f'"{key}" must be a string')
    for key in ("tags", "datasets", "metrics"):
        value = meta.get(key)
        if value is not None and not (isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))):
            errors.append(f'"{key}" must be a string or a list of strings')
    index = meta.get("model-index")
    if index is not None:
        if not isinstance(index, list):
            return errors + ['"model-index" must be a list']
        for model in index:
            if not isinstance(model, dict) or not isinstance(model.get("name"), str):
                errors.append('"model-index[].name" must be a string')
                continue
            for result in model.get("results") or []:
                task, dataset = result.get("task"), result.get("dataset")
                if not isinstance(task, dict) or not isinstance(task.get("type"), str):
                    errors.append('"model-index[].results[].task.type" is required')
                if not isinstance(dataset, dict) or not all(isinstance(dataset.get(k), str) for k in ("type", "name")):
                    errors.append('"model-index[].results[].dataset" needs "type" and "name"')
                metrics = result.get("metrics")
                if not isinstance(metrics, list) or not all(isinstance(m, dict) and isinstance(m.get("type"), str)
                                                           and "value" in m for m in metrics):
                    errors.append('"model-index[].results[].metrics" must be a list of {type, value}')
    return errors


class HubServer:
    """The Hub: our write API and gate, olah behind it for reads. Runs in a thread."""

    def __init__(self, root: str | os.PathLike, tokens: dict[str, str], olah_url: str | None,
                 host: str = "127.0.0.1", port: int = 0):
        self.store = GitStore(Path(root))
        self.tokens = dict(tokens)  # token -> user
        self.olah = urlsplit(olah_url) if olah_url else None
        self.requests: list[tuple[str, str]] = []
        self._die_on: Callable[[str, str], bool] | None = None
        self.httpd = _HTTPServer((host, port), _Handler)
        self.httpd.hub = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None
        self.stopped = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "HubServer":
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, drop every open (keep-alive) connection, release the port."""
        if self._thread is not None and self._thread.is_alive():
            self.httpd.shutdown()
            self._thread.join(10)
        self.httpd.drop_connections()
        self.httpd.server_close()
        self.stopped.set()

    def die_on(self, predicate: Callable[[str, str], bool] | None) -> None:
        """Make the server stop the moment a request matching ``predicate(method, path)`` arrives.

        The request is read, then the connection is dropped unanswered and the server
        shuts down: what a client sees when the Hub goes away in the middle of a push.
        """
        self._die_on = predicate

    # -- identity ----------------------------------------------------------------

    def user_for(self, headers) -> str | None:
        """The caller's user name; a token that is sent but unknown is refused outright."""
        auth = headers.get("Authorization") or ""
        if not auth:
            return None
        token = auth[7:] if auth.lower().startswith("bearer ") else auth
        if token not in self.tokens:
            raise HubError(401, "Invalid credentials in Authorization header")
        return self.tokens[token]

    def readable(self, repo_id: str, user: str | None) -> None:
        store = self.store
        if not store.exists(repo_id):
            raise repo_not_found(user is not None)
        meta = store.meta(repo_id)
        if meta.get("private") and user != meta.get("owner"):
            raise repo_not_found(user is not None)

    def writable(self, repo_id: str, user: str | None) -> None:
        if user is None:
            raise HubError(401, "You must be authenticated to write to a repository")
        self.readable(repo_id, user)
        if self.store.meta(repo_id).get("owner") != user:
            raise HubError(403, f"You don't have the rights to write to {repo_id}")

    # -- dispatch ----------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers, body: bytes) -> Response:
        split = urlsplit(raw_path)
        segs = split.path.split("/")[1:]
        user = self.user_for(headers)
        if segs == ["api", "whoami-v2"]:
            if user is None:
                raise HubError(401, "Invalid credentials in Authorization header")
            return json_response(200, {"type": "user", "name": user, "fullname": user, "orgs": [],
                                       "auth": {"type": "access_token", "accessToken": {"displayName": "tests", "role": "write"}}})
        if segs == ["api", "repos", "create"] and method == "POST":
            return self.create_repo(user, json.loads(body or b"{}"))
        if segs == ["api", "validate-yaml"] and method == "POST":
            return self.validate_yaml(json.loads(body or b"{}"))
        if len(segs) >= 4 and segs[0] == "api" and segs[1] in ("models", "datasets", "spaces"):
            if segs[1] != "models":
                raise repo_not_found(user is not None)
            repo_id = f"{unquote(segs[2])}/{unquote(segs[3])}"
            return self.repo_api(method, repo_id, [unquote(s) for s in segs[4:]], split, user, headers, body)
        if len(segs) >= 5 and segs[2] == "resolve" and method in ("GET", "HEAD"):
            repo_id = f"{unquote(segs[0])}/{unquote(segs[1])}"
            revision, path = unquote(segs[3]), "/".join(unquote(s) for s in segs[4:])
            self.readable(repo_id, user)
            commit = self.store.resolve(repo_id, revision)
            if commit is None:
                raise revision_not_found(revision)
            if not self.store.has_path(repo_id, commit, path):
                raise HubError(404, f"{path} does not exist on \"{revision}\"", "EntryNotFound")
            return self.forward(method, raw_path, headers, body)
        raise HubError(404, "Sorry, we can't find the page you are looking for.")

    def repo_api(self, method: str, repo_id: str, rest: list[str], split, user, headers, body) -> Response:
        action = rest[0] if rest else ""
        if action == "preupload" and method == "POST":
            return self.preupload(repo_id, rest[1], user, json.loads(body or b"{}"))
        if action == "commit" and method == "POST":
            if "create_pr" in parse_qs(split.query):
                raise HubError(400, "pull requests are not supported by this test hub")
            return self.commit(repo_id, rest[1], user, body)
        if action == "branch" and method == "POST":
            return self.create_branch(repo_id, "/".join(rest[1:]), user, json.loads(body or b"{}"))
        if method not in ("GET", "HEAD") and action != "paths-info":
            raise HubError(405, f"{method} is not supported on this route")
        self.readable(repo_id, user)
        if action == "":  # repo info at the default branch: olah answers it per revision
            rest, action = ["revision", "main"], "revision"
        if action in ("revision", "tree", "commits", "paths-info"):
            revision = rest[1] if len(rest) > 1 else "main"
            commit = self.store.resolve(repo_id, revision)
            if commit is None:
                raise revision_not_found(revision)
            inner = "/".join(rest[2:])
            if action == "tree" and inner and not self.store.has_path(repo_id, commit, inner):
                raise HubError(404, f"{inner} does not exist on \"{revision}\"", "EntryNotFound")
        elif action != "refs":
            raise HubError(404, f"unknown route {action!r}")
        path = f"/api/models/{repo_id}/" + "/".join(quote(s, safe="") for s in rest)
        forwarded = self.forward(method, path + (f"?{split.query}" if split.query else ""), headers, body)
        if action == "revision" and forwarded.status == 200 and forwarded.body:
            info = json.loads(forwarded.body)
            info["private"] = bool(self.store.meta(repo_id).get("private"))
            forwarded.body = json.dumps(info).encode()
        return forwarded

    # -- reads: olah -------------------------------------------------------------

    def forward(self, method: str, path: str, headers, body: bytes) -> Response:
        if self.olah is None:
            raise HubError(503, "no read server configured (start with an olah URL)")
        conn = http.client.HTTPConnection(self.olah.hostname, self.olah.port, timeout=60)
        try:
            keep = {k: v for k, v in headers.items() if k.lower() in ("host", "content-type", "range", "user-agent")}
            keep["Accept-Encoding"] = "identity"
            conn.request(method, path, body=body or None, headers=keep)
            answer = conn.getresponse()
            data = answer.read()
            out = {k: v for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP}
            if method == "HEAD" and answer.getheader("content-length") is not None:
                out["Content-Length"] = answer.getheader("content-length")
            return Response(answer.status, data, out)
        finally:
            conn.close()

    # -- writes: ours ------------------------------------------------------------

    def create_repo(self, user: str | None, payload: dict) -> Response:
        if user is None:
            raise HubError(401, "You must be authenticated to create a repository")
        if payload.get("type", "model") not in (None, "model"):
            raise HubError(400, "this test hub only stores model repositories")
        namespace, name = payload.get("organization") or user, payload.get("name") or ""
        if not (NAME.match(namespace) and NAME.match(name)):
            raise HubError(400, f"invalid repository name {namespace}/{name}")
        if namespace != user:
            raise HubError(403, f"You don't have the rights to create a model under the namespace \"{namespace}\"")
        repo_id = f"{namespace}/{name}"
        url = f"{self.url}/{repo_id}"
        with self.store.lock(repo_id):
            if self.store.exists(repo_id):
                return json_response(409, {"error": "You already created this model repo", "url": url},
                                     **{"X-Error-Message": "You already created this model repo"})
            private = payload.get("visibility") == "private" or bool(payload.get("private"))
            self.store.create(repo_id, user, private)
        return json_response(200, {"url": url, "name": repo_id, "id": repo_id})

    def validate_yaml(self, payload: dict) -> Response:
        meta, problem = front_matter(payload.get("content") or "")
        if problem is None and meta is None:
            return json_response(200, {"errors": [], "warnings": [{"message": "empty or missing yaml metadata in repo card"}]})
        errors = [problem] if problem else metadata_errors(meta)
        if errors:
            return json_response(400, {"errors": [{"message": e} for e in errors], "warnings": []})
        return json_response(200, {"errors": [], "warnings": []})

    def preupload(self, repo_id: str, revision: str, user: str | None, payload: dict) -> Response:
        self.writable(repo_id, user)
        head = self.store.branch_head(repo_id, revision)
        if head is None:
            raise revision_not_found(revision)
        oids = self.store.blob_oids(repo_id, head)
        files = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": oids.get(f["path"])}
                 for f in payload.get("files", [])]
        return json_response(200, {"files": files, "commitOid": head})

    def commit(self, repo_id: str, branch: str, user: str | None, body: bytes) -> Response:
        self.writable(repo_id, user)
        header, files, deletions = None, {}, []
        for line in body.splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            key, value = item.get("key"), item.get("value") or {}
            if key == "header":
                header = value
            elif key == "file":
                if value.get("encoding") != "base64" or not valid_repo_path(value.get("path", "")):
                    raise HubError(400, f"bad file entry {value.get('path')!r}")
                files[value["path"]] = base64.b64decode(value["content"])
            elif key in ("deletedFile", "deletedFolder"):
                deletions.append(value["path"])
            elif key == "lfsFile":
                raise HubError(400, "LFS files are not supported by this test hub (preupload answers 'regular')")
            else:
                raise HubError(400, f"unknown commit operation {key!r}")
        if header is None or not header.get("summary"):
            raise HubError(400, "commit header with a summary is required")
        with self.store.lock(repo_id):
            sha = self.store.commit(repo_id, branch, user, files, deletions, header["summary"],
                                    header.get("description") or "", parent=header.get("parentCommit"))
        return json_response(200, {"success": True, "commitOid": sha, "commitUrl": f"{self.url}/{repo_id}/commit/{sha}",
                                   "hookOutput": "", "pullRequestUrl": None})

    def create_branch(self, repo_id: str, branch: str, user: str | None, payload: dict) -> Response:
        self.writable(repo_id, user)
        if subprocess.run(["git", "check-ref-format", "--branch", branch], capture_output=True).returncode != 0:
            raise HubError(400, f"invalid branch name {branch!r}")
        with self.store.lock(repo_id):
            if self.store.branch_head(repo_id, branch):
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            start = payload.get("startingPoint") or "main"
            commit = self.store.resolve(repo_id, start)
            if commit is None:
                raise revision_not_found(start)
            self.store.create_branch(repo_id, branch, commit)
        return json_response(200, {})


class _HTTPServer(ThreadingHTTPServer):
    """Remembers open connections, so that stopping drops keep-alive clients too."""

    daemon_threads = True

    def __init__(self, *args, **kwargs):
        self._open: set[socket.socket] = set()
        self._open_guard = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self._open_guard:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._open_guard:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self._open_guard:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "zoo-test-hub/1"

    def log_message(self, format, *args):  # quiet: tests read errors from responses
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        hub: HubServer = self.server.hub  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        hub.requests.append((method, self.path))
        if hub._die_on is not None and hub._die_on(method, self.path):
            hub._die_on = None
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            threading.Thread(target=hub.stop, daemon=True).start()
            return
        try:
            response = hub.handle(method, self.path, self.headers, body)
        except HubError as exc:
            response = exc.response()
        except Exception as exc:  # a bug in the test hub: say so in the answer
            traceback.print_exc()
            response = HubError(500, f"test hub error: {type(exc).__name__}: {exc}").response()
        self.send_response(response.status)
        for key, value in response.headers.items():
            self.send_header(key, value)
        if "Content-Length" not in response.headers:
            self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(response.body)


# -- olah ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Olah:
    """An olah process serving ``root``'s git repositories, offline, on 127.0.0.1."""

    def __init__(self, root: Path, work: Path, port: int):
        self.root, self.work, self.port = Path(root), Path(work), port
        self.url = f"http://127.0.0.1:{port}"
        self.log = self.work / "olah.log"
        config = self.work / "olah.toml"
        config.write_text(
            "[basic]\n"
            f'host = "127.0.0.1"\nport = {port}\n'
            f"repos-path = {json.dumps(str(self.work / 'cache'))}\n"
            f"mirrors-path = [{json.dumps(str(self.root))}]\n"
            "metadata-cache-ttl = 0\n"
            "[accessibility]\noffline = true\n"
        )
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "olah.server", "--config", str(config), "--log-path", str(self.work / "logs")],
                cwd=self.work, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"olah exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"olah did not start within {timeout}s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_olah(root: str | os.PathLike, work: str | os.PathLike, attempts: int = 3) -> Olah:
    """Start olah on a free port (retrying if another process takes the port first)."""
    Path(work).mkdir(parents=True, exist_ok=True)
    error: Exception | None = None
    for _ in range(attempts):
        olah = Olah(Path(root), Path(work), free_port())
        try:
            olah.wait_ready()
            return olah
        except RuntimeError as exc:
            error = exc
    raise RuntimeError(f"could not start olah: {error}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="folder for the repositories (models/NS/NAME, bare git)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--token", action="append", default=[], metavar="USER:TOKEN",
                        help="a user and its access token; repeat for more users")
    parser.add_argument("--olah-url", default=None, help="use a running olah instead of starting one")
    args = parser.parse_args(argv)
    tokens = {}
    for item in args.token:
        user, sep, token = item.partition(":")
        if not sep or not user or not token:
            parser.error(f"--token must be USER:TOKEN, got {item!r}")
        tokens[token] = user
    root = Path(args.root).resolve()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop olah too when terminated
    olah = None if args.olah_url else start_olah(root, root.parent / f".{root.name}-olah")
    hub = HubServer(root, tokens, args.olah_url or olah.url, port=args.port).start()
    print(f"HF_ENDPOINT={hub.url}  (reads via olah at {args.olah_url or olah.url}; Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        hub.stop()
        if olah:
            olah.stop()


if __name__ == "__main__":
    main()
