"""A full disk is one line naming the file system, what was being written and about how much;
what the failed write left is removed, and the last good checkpoint is kept for --resume.

The file systems are real tmpfs mounts of a few MB (root only; skipped elsewhere, with the reason)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TRAIN = ["train", "--backbone", "alexnet-small", "--weights", "none", "--dataset", "digits", "--image-size", "32"]


@pytest.fixture
def small_disk(tmp_path):
    """``mount(size)`` gives a fresh tmpfs of that size; ``mount.resize(size)`` changes it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    def resize(point: Path, size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(point)], check=True)

    mount.resize = resize
    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


def zoo_cli(*args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env})


@pytest.mark.slow
def test_a_checkpoint_that_does_not_fit_keeps_the_last_one_and_resumes(small_disk):
    disk = small_disk("2m")
    out = disk / "x"
    args = [*TRAIN, "--strategy", "fine-tuning", "--unfreeze", "all", "--epochs", "2", "--out", str(out)]
    failed = zoo_cli(*args, ZOO_CHECKPOINT_INTERVAL="0")
    assert failed.returncode == 1, failed.stderr
    assert failed.stderr.splitlines()[-1] == (f"zoo: error: no space left on {disk} writing the checkpoint of {out} "
                                              "(about 3.5 MB); free space and run the same command with --resume")
    checkpoints = out.with_name("x.partial") / "checkpoints"
    assert not list(checkpoints.rglob(".weights-*")) and not (checkpoints / "fine-tune" / "state.json").exists()
    assert (checkpoints / "head" / "state.json").is_file()  # the warm-up's checkpoint is kept

    small_disk.resize(disk, "40m")
    resumed = zoo_cli(*args, "--resume", ZOO_CHECKPOINT_INTERVAL="0")
    assert resumed.returncode == 0, resumed.stderr
    assert "head: restored from checkpoint" in resumed.stderr and (out / "config.json").is_file()


def test_a_feature_cache_that_does_not_fit_fails_before_computing_anything(small_disk):
    disk = small_disk("1m")
    out = disk / "fe"
    failed = zoo_cli(*TRAIN, "--feature-cache", "disk", "--epochs", "1", "--out", str(out))
    assert failed.returncode == 1, failed.stderr
    line = failed.stderr.splitlines()[-1]
    assert line.startswith(f"zoo: error: no space left on {disk} writing the 'train' feature cache (about 1.")
    assert line.endswith(" MB); free space, or use --feature-cache memory")
    assert not out.exists() and not out.with_name("fe.partial").exists()  # nothing was checkpointed: all gone


def test_a_run_folder_that_does_not_fit_leaves_nothing_behind(small_disk):
    import keras
    import numpy as np

    from zoo.errors import ZooError
    from zoo.run.write import write_run
    from zoo.train.job import TrainOutcome

    disk = small_disk("256k")
    inputs = keras.Input((8,))
    head = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    delta = {"backbone/dense/kernel": np.ones((256, 512), np.float32)}  # 512 kB: more than the disk holds
    config = {"backbone": {"name": "b"}, "strategy": {"name": "s"}, "class_names": ["a", "b", "c"]}
    with pytest.raises(ZooError) as error:
        write_run(disk / "run", config, TrainOutcome(head=head, history=[{"epoch": 1, "loss": 1.0}]), delta,
                  {"accuracy": 0.5, "split": "val", "confusion": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]})
    assert str(error.value) == (f"no space left on {disk} writing the run folder {disk / 'run'} (about 1.6 MB); "
                                "nothing was left behind; free space and run the same command with --resume")
    assert os.listdir(disk) == []
