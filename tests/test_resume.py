"""Long runs: a killed or interrupted training resumes from its last finished epoch."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from zoo.artifacts import read_adapter

TRAIN = ["train", "--backbone", "alexnet-small", "--weights", "none", "--dataset", "digits", "--image-size", "32",
         "--strategy", "fine-tuning", "--unfreeze", "all", "--warmup-epochs", "0", "--batch-size", "64"]


def start(args, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "zoo", *args, "--out", str(out)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_for_epoch(out: Path, phase: str, epoch: int, proc: subprocess.Popen, timeout: float = 240) -> None:
    state = out.with_name(out.name + ".partial") / "checkpoints" / phase / "state.json"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if state.exists() and json.loads(state.read_text())["epoch"] >= epoch:
            return
        if proc.poll() is not None:
            raise AssertionError(f"training ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("no checkpoint appeared in time")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill", "interrupt"])
def test_resume_after_the_process_dies(tmp_path, how):
    out = tmp_path / "run"
    proc = start([*TRAIN, "--epochs", "12"], out)
    wait_for_epoch(out, "fine-tune", 2, proc)
    proc.send_signal(signal.SIGKILL if how == "kill" else signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    if how == "interrupt":
        assert proc.returncode == 130, stderr
        assert "--resume" in stderr
    assert not out.exists()  # never half a run
    partial = out.with_name("run.partial")
    done = json.loads((partial / "checkpoints" / "fine-tune" / "state.json").read_text())["epoch"]
    assert 2 <= done < 12

    refused = subprocess.run([sys.executable, "-m", "zoo", *TRAIN, "--epochs", "12", "--out", str(out)],
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "continue it with --resume" in refused.stderr

    resumed = subprocess.run([sys.executable, "-m", "zoo", *TRAIN, "--epochs", "12", "--out", str(out), "--resume"],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming at epoch {done + 1} of 12" in resumed.stderr
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 13))
    assert not partial.exists()
    assert read_adapter(out).metrics()["accuracy"] > 0.8


def test_resume_with_other_settings_is_refused(tmp_path, zoo):
    out = tmp_path / "run"
    partial = out.with_name("run.partial")
    partial.mkdir()
    (partial / "stage.json").write_text("{}")
    result = zoo(*TRAIN, "--epochs", "3", "--out", str(out), "--resume")
    assert result.exit_code == 2
    assert "was started with other settings" in result.stderr
