"""startup_vs_tf_import: `zoo list backbones` against `python -c "import tensorflow"`.

Both are run as fresh processes, alternating, 5 times each (2 with --quick; after one untimed
run of each to warm the file cache); the ratio of the medians says how much of TensorFlow's import
cost the catalogue commands pay (goal: almost none). ``zoo`` is the installed console
script next to this Python (``python -m zoo`` where there is none).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path


def zoo_command() -> list[str]:
    script = Path(sys.executable).with_name("zoo")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "zoo"]


def _time(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def run(quick: bool = False, repeats: int = 5) -> tuple[float, dict]:
    repeats = 2 if quick else repeats
    zoo_cmd = [*zoo_command(), "list", "backbones"]
    tf_cmd = [sys.executable, "-c", "import tensorflow"]
    _time(zoo_cmd), _time(tf_cmd)  # warm the file cache for both
    zoo_times, tf_times = [], []
    for _ in range(repeats):
        zoo_times.append(_time(zoo_cmd))
        tf_times.append(_time(tf_cmd))
    zoo_median, tf_median = statistics.median(zoo_times), statistics.median(tf_times)
    return zoo_median / tf_median, {"zoo_list_s": round(zoo_median, 3), "import_tensorflow_s": round(tf_median, 3),
                                    "repeats": repeats, "zoo_command": " ".join(zoo_cmd)}
