"""Shared test fixtures: every test runs in its own home, cache and working directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ISOLATED_VARS = ("ZOO_REGISTRY", "ZOO_PLUGINS", "ZOO_WEIGHTS_DIR", "ZOO_OFFLINE", "ZOO_DEBUG", "ZOO_CONNECT_TIMEOUT",
                 "ZOO_READ_TIMEOUT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_ENDPOINT",
                 "HF_HUB_OFFLINE", "TF_CONFIG", "TFDS_DATA_DIR")


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory, monkeypatch):
    """A private HOME-like tree for caches and config, and a scratch working directory."""
    home = tmp_path_factory.mktemp("home")
    work = tmp_path_factory.mktemp("work")
    for var in ISOLATED_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KERAS_HOME", str(home / ".keras"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("HF_HOME", str(home / ".cache" / "huggingface"))
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(home / ".cache" / "tfhub"))
    monkeypatch.chdir(work)
    from zoo.plugin.catalog import reset_catalog
    from zoo.plugin.host import reset_host

    reset_host()
    reset_catalog()
    yield home
    reset_host()
    reset_catalog()


class ZooResult:
    def __init__(self, exit_code: int, stdout: str, stderr: str, exception: BaseException | None = None):
        self.exit_code, self.stdout, self.stderr, self.exception = exit_code, stdout, stderr, exception

    def __repr__(self) -> str:
        return f"ZooResult(exit_code={self.exit_code}, stdout={self.stdout[-2000:]!r}, stderr={self.stderr[-2000:]!r})"


@pytest.fixture
def zoo():
    """Run the CLI in-process: ``zoo("list", "backbones", "--json")``."""

    def run(*args: str, input: str | None = None) -> ZooResult:
        from zoo.cli.main import build_cli
        from zoo.plugin.catalog import reset_catalog
        from zoo.plugin.host import reset_host

        reset_host()
        reset_catalog()
        result = CliRunner().invoke(build_cli(), list(args), input=input, catch_exceptions=True)
        exc = result.exception if not isinstance(result.exception, SystemExit) else None
        return ZooResult(result.exit_code, result.stdout, result.stderr, exc)

    return run


@pytest.fixture
def zoo_process():
    """Run the installed ``zoo`` in a child process (for start-up, exit codes, signals)."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600, cwd=None) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True,
                              env=full_env, timeout=timeout, cwd=cwd)

    return run
