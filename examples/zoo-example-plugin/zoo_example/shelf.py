"""The ``shelf://`` hub: runs shared through a folder (a network drive, a synced directory).

``$ZOO_SHELF`` (default ``~/zoo-shelf``) holds ``OWNER/REPO/COMMIT/`` folders, where the
commit is the sha1 of the files pushed, and ``OWNER/REPO/REVISION.ref`` files naming a
commit. zoo itself verifies what ``pull`` returns, so this client only moves files.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from zoo.api import CONFIG, PushResult, ZooError, atomic_directory, publishable_files, read_run_folder, shareable_config


class ShelfClient:
    def __init__(self) -> None:
        self.root = Path(os.environ.get("ZOO_SHELF") or Path.home() / "zoo-shelf").expanduser()

    def push(self, run_dir, repo_id, *, private=False, revision=None, message=None) -> PushResult:
        run = read_run_folder(run_dir)  # verified: a shelf never holds a damaged run
        files = publishable_files(run.config)
        config = shareable_config(run.config)  # local paths cut to their last part
        digest = hashlib.sha1()
        for rel in files:
            digest.update(rel.encode() + (Path(run_dir) / rel).read_bytes())
        commit = digest.hexdigest()
        target = self.root / repo_id / commit
        if not target.exists():
            with atomic_directory(target) as tmp:
                for rel in files:
                    (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                    if rel == CONFIG:
                        import json

                        (tmp / rel).write_text(json.dumps(config, indent=2) + "\n")
                    else:
                        shutil.copyfile(Path(run_dir) / rel, tmp / rel)
        (self.root / repo_id / f"{revision or 'main'}.ref").write_text(commit)
        return PushResult(url=f"shelf://{repo_id}@{commit}", commit=commit, repo_id=repo_id,
                          revision=revision or "main")

    def pull(self, repo_id, *, revision=None) -> Path:
        repo = self.root / repo_id
        ref = repo / f"{revision or 'main'}.ref"
        commit = ref.read_text().strip() if ref.is_file() else revision
        if not commit or not (repo / commit).is_dir():
            raise ZooError(f"the shelf at {self.root} has no {repo_id}@{revision or 'main'}")
        return repo / commit
