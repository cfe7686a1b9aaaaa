"""One process owns a run folder: a second one with the same --out fails at once, naming the first;
the owner's death releases it, so a killed run stays resumable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zoo.util.lock import owner_of

TRAIN = ["train", "--backbone", "alexnet-small", "--weights", "none", "--dataset", "digits", "--image-size", "32",
         "--epochs", "300", "--batch-size", "64"]


def zoo_cli(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_a_second_process_on_the_same_out_fails_at_once_and_a_kill_releases_the_run(tmp_path):
    out = tmp_path / "x"
    first = subprocess.Popen([sys.executable, "-m", "zoo", *TRAIN, "--out", str(out)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, env={**os.environ, "ZOO_CHECKPOINT_INTERVAL": "0"})
    try:
        partial = out.with_name("x.partial")
        deadline = time.monotonic() + 120
        while owner_of(partial) is None:
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.poll() else ""
            time.sleep(0.2)
        assert owner_of(partial)["pid"] == first.pid

        for extra in ([], ["--resume"]):
            started = time.monotonic()
            second = zoo_cli(*TRAIN, "--out", str(out), *extra)
            assert second.returncode == 2, second.stderr
            line = second.stderr.strip()
            assert line.startswith(f"zoo: error: '{out}' is being trained by process {first.pid} (started "), line
            assert line.endswith("); wait for it or choose another --out") and "\n" not in line
            assert time.monotonic() - started < 30  # before any training of its own
        assert first.poll() is None  # the owner was not disturbed

        while not any((partial / "checkpoints").glob("*/state.json")):
            assert first.poll() is None and time.monotonic() < deadline + 120
            time.sleep(0.2)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert owner_of(partial) is None  # the OS released the lock with the process: resumable
    refused = zoo_cli(*TRAIN, "--out", str(out))
    assert refused.returncode == 2 and "an interrupted run is at" in refused.stderr and "--resume" in refused.stderr


def test_the_lock_names_its_owner_and_goes_with_it(tmp_path):
    from zoo.util.lock import lock_folder

    held = lock_folder(tmp_path)
    assert owner_of(tmp_path)["pid"] == os.getpid()
    child = subprocess.run([sys.executable, "-c", "import sys\nfrom zoo.util.lock import lock_folder, FolderBusy\n"
                            f"try:\n    lock_folder({str(tmp_path)!r})\nexcept FolderBusy as busy:\n"
                            "    print(busy.owner['pid'])\n"], capture_output=True, text=True, timeout=60)
    assert child.stdout.strip() == str(os.getpid())
    held.release()
    assert owner_of(tmp_path) is None
    again = lock_folder(Path(tmp_path))
    again.release()
