"""Run zoo's benchmarks and print named ratios against plain Keras / TensorFlow.

    python benchmarks/run.py [--quick] [--json] [--only NAME ...]

Every speed figure is a ratio of two timings taken in the same run on the same machine, so
it means something on a noisy or shared machine where absolute seconds do not;
fe_head_vs_logreg compares accuracies on the same features. The adaptation figures compare
accuracies too (``adaptation.py``; its full form takes about half an hour on 2 cores, its
--quick form is a smoke test whose numbers mean nothing).
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
    "tflite_vs_keras_predict": ("bench_tflite", "none yet"),
    "kerashub_fe_vs_keras": ("bench_kerashub", "<= 0.5"),
    "folder_decode_vs_keras": ("bench_folder_decode", ">= 1.0"),
    "finetune_auto_vs_float32": ("bench_precision", ">= 1.3"),
    "fe_time_growth_10x": ("bench_growth", "<= 10.5"),  # also fe_peak_rss_growth_10x, predict_..., evaluate_...
    "fe_vs_one_pass": ("bench_fe_one_pass", "<= 1.05"),
    "fe_head_vs_logreg": ("bench_fe_head", ">= 0.98"),  # an accuracy ratio, not a timing
    # accuracy, not speed: zoo's default adaptation over five shifts against ADAPT's DANN (adaptation.py);
    # it also reports da_vs_source_only_pts (goal: >= 5 points on every shift)
    "da_vs_adapt_dann": ("adaptation", ">= 1.0"),
    "fe_cached_vs_naive_10ep": ("bench_feature_cache", "<= 0.15"),  # last: the others warm the process up
}
EXTRA_GOALS = {"da_vs_source_only_pts": ">= 5 on every shift", "fe_peak_rss_growth_10x": "<= 1.2",
               "predict_peak_rss_growth_10x": "<= 1.2", "evaluate_peak_rss_growth_10x": "<= 1.2"}


def describe_machine() -> dict:
    """The processor, its cores and the GPUs measured: none is said in words, not left out."""
    import platform

    import tensorflow as tf

    cpu = next((line.partition(":")[2].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if Path("/proc/cpuinfo").is_file() else platform.processor()
    gpus = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")]
    return {"cpu": cpu, "cores": os.cpu_count(), "gpus": gpus or "none: no GPU was measured"}


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
        results.update(info.get("ratios", {}))  # a benchmark that measures several named ratios at once
        details[name] = {**info, "goal": goal, "seconds": round(time.perf_counter() - started, 1)}
        for other in info.get("ratios", {}):
            details[other] = {"goal": EXTRA_GOALS.get(other, ""), "measured_by": name,
                              "seconds": details[name]["seconds"]}
        for extra_name, value in extra.items():
            results[extra_name] = value if value is None else round(value, 4)
            details[extra_name] = {"goal": EXTRA_GOALS.get(extra_name, ""), "measured_by": name}
        if not args.json:
            print(f"{name:28s} {ratio:8.3f}   goal {goal:8s} {json.dumps(info)}", flush=True)
            for extra_name, value in extra.items():
                print(f"{extra_name:28s} {value:8.3f}   goal {EXTRA_GOALS.get(extra_name, '')}", flush=True)
    machine = describe_machine()
    if args.json:
        print(json.dumps(results))
        print(json.dumps({"details": details, "machine": machine}), file=sys.stderr)
    else:
        print(f"machine: {json.dumps(machine)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
