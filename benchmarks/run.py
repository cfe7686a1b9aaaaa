"""Run zoo's benchmarks and print named ratios against plain Keras / TensorFlow.

    python benchmarks/run.py [--quick] [--json] [--only NAME ...]

Every speed figure is a ratio of two timings taken in the same run on the same machine, so
it means something on a noisy or shared machine where absolute seconds do not. The
adaptation figures compare accuracies (``adaptation.py``; its full form takes about half
an hour on 2 cores, its --quick form is a smoke test whose numbers mean nothing).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # each call loads a new model: retracing warnings are expected

BENCHMARKS = {
    # ratio name: (module in benchmarks/, goal as text)
    "startup_vs_tf_import": ("bench_startup", "<= 0.15"),
    "predict_vs_keras": ("bench_predict", ">= 0.95"),
    "finetune_vs_keras_fit": ("bench_finetune", ">= 0.95"),
    "fe_cached_vs_naive_10ep": ("bench_feature_cache", "<= 0.15"),  # the others warm the process up
    # accuracy, not speed: zoo's default adaptation over five shifts against ADAPT's DANN (adaptation.py);
    # it also reports da_vs_source_only_pts (goal: >= 5 points on every shift)
    "da_vs_adapt_dann": ("adaptation", ">= 1.0"),
}
EXTRA_GOALS = {"da_vs_source_only_pts": ">= 5 on every shift"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller workloads (CI)")
    parser.add_argument("--json", action="store_true", help="print one JSON object of ratios")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="run just these")
    args = parser.parse_args(argv)
    results: dict[str, float] = {}
    details: dict[str, dict] = {}
    for name in args.only or BENCHMARKS:
        module_name, goal = BENCHMARKS[name]
        started = time.perf_counter()
        ratio, info = importlib.import_module(module_name).run(quick=args.quick)
        extra = info.pop("extra_ratios", {})  # a benchmark may measure more than one figure
        results[name] = round(ratio, 4)
        details[name] = {**info, "goal": goal, "seconds": round(time.perf_counter() - started, 1)}
        for extra_name, value in extra.items():
            results[extra_name] = value if value is None else round(value, 4)
            details[extra_name] = {"goal": EXTRA_GOALS.get(extra_name, ""), "measured_by": name}
        if not args.json:
            print(f"{name:28s} {ratio:8.3f}   goal {goal:8s} {json.dumps(info)}", flush=True)
            for extra_name, value in extra.items():
                print(f"{extra_name:28s} {value:8.3f}   goal {EXTRA_GOALS.get(extra_name, '')}", flush=True)
    if args.json:
        print(json.dumps(results))
        print(json.dumps({"details": details}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
