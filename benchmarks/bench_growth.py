"""fe_time_growth_10x and the peak-memory growth of training, ``zoo predict`` and ``zoo evaluate``.

Each command runs as its own process (``python -m zoo ...``, as a user runs it) on a
generated ``folder:`` dataset of N and of 10N random JPEGs in 10 class folders
(:func:`workloads.jpeg_classes`, cached between runs): ``zoo train`` (feature extraction,
ResNet50 at 96 px, random weights, 3 epochs, 20% held out), ``zoo predict RUN FOLDER``
and ``zoo evaluate RUN`` (its validation split). Wall time and peak resident memory
(``ru_maxrss`` of that child, from ``wait4`` in a small launcher process) are taken for
each; the ratios are at 10N / at N.
Linear cost gives a time ratio of at most 10 (fixed costs make it less); memory flat in
the dataset gives a memory ratio near 1. Full: N = 2,000; --quick: N = 100 with
alexnet-small at 32 px. Goals: time <= 10.5, each memory ratio <= 1.2.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from workloads import jpeg_classes


LAUNCHER = """
import os, subprocess, sys, time
started = time.perf_counter()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(process.pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""
"""Runs a command and prints its wall seconds, peak resident KiB and exit code. Linux counts in a
child's ``ru_maxrss`` the resident size of the process it was forked from (the high-water mark
of the memory it had before ``exec``), so a command forked straight from this benchmark's process
(4.4 GiB after the other benchmarks of a full run) reported 4.4 GiB whatever it used; forked
from this small launcher, it reports its own peak."""


def child(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MiB) of one child process, which must succeed."""
    done = subprocess.run([sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True)
    if done.returncode or len(done.stdout.split()) != 3 or done.stdout.split()[2] != "0":
        raise RuntimeError(f"{' '.join(command)} failed ({done.stdout.strip()}): {done.stderr[-2000:]}")
    seconds, peak_kib, _ = done.stdout.split()
    return float(seconds), int(peak_kib) / 1024  # Linux: KiB


def measure(count: int, size: int, file_size: int, backbone: str, work: Path) -> dict[str, tuple[float, float]]:
    folder = jpeg_classes(count, file_size)
    zoo = [sys.executable, "-m", "zoo"]
    run_dir = work / f"run-{count}"
    train = [*zoo, "train", "--backbone", backbone, "--weights", "none", "--image-size", str(size), "--epochs", "3",
             "--dataset", f"folder:{folder}", "--out", str(run_dir), "--val-split", "0.2"]
    return {"train": child(train), "predict": child([*zoo, "predict", str(run_dir), str(folder), "--json"]),
            "evaluate": child([*zoo, "evaluate", str(run_dir), "--json"])}


def run(quick: bool = False) -> tuple[float, dict]:
    count, size, file_size, backbone = (100, 32, 32, "alexnet-small") if quick else (2000, 96, 96, "resnet50")
    work = Path(tempfile.mkdtemp(prefix="zoo-bench-growth-"))
    try:
        small = measure(count, size, file_size, backbone, work)
        large = measure(10 * count, size, file_size, backbone, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def growth(command: str, which: int) -> float:
        return round(large[command][which] / small[command][which], 4)

    return growth("train", 0), {
        "ratios": {"fe_peak_rss_growth_10x": growth("train", 1), "predict_peak_rss_growth_10x": growth("predict", 1),
                   "evaluate_peak_rss_growth_10x": growth("evaluate", 1)},
        "predict_time_growth_10x": growth("predict", 0),
        "evaluate_time_growth_10x": growth("evaluate", 0), "goals": "time <= 10.5, each peak RSS growth <= 1.2",
        "backbone": backbone, "image_size": size, "images": [count, 10 * count], "epochs": 3,
        **{f"{command}_s": [round(small[command][0], 1), round(large[command][0], 1)] for command in small},
        **{f"{command}_peak_rss_mib": [round(small[command][1]), round(large[command][1])] for command in small},
        "measures": "each command a child process of a small launcher; wall time and ru_maxrss (wait4) at 10N / at N",
    }
