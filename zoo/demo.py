"""``zoo demo``: the three strategies compared on a source and a target domain, offline.

A small AlexNet is trained from scratch on the labelled source domain (``digits``).
Then, on the target domain (``digits-m``: the same digits in colour over textured
backgrounds), four ways to use it are scored on the target's test split:

(a) source only: the source model as it is;
(b) feature extraction: a new head on its frozen features, K labelled target images per class;
(c) fine-tuning: the same K images, the last stages unfrozen;
(d) domain adaptation: the labelled source plus the unlabelled target images (DANN).

Every step is an ordinary zoo run (a folder with config, weights, curves), so each
can be inspected, evaluated or pushed like any other.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from zoo.errors import UsageError
from zoo.fileio import atomic_write_text
from zoo.pipeline_config import StageConfig

METHODS = ("source_only", "feature_extraction", "fine_tuning", "domain_adaptation")
LABELS = {
    "source_only": "source only",
    "feature_extraction": "feature extraction",
    "fine_tuning": "fine-tuning",
    "domain_adaptation": "domain adaptation",
}


@dataclass(frozen=True)
class DemoPlan:
    """Epochs and sizes; ``--quick`` shrinks them to a smoke test."""

    source_epochs: int = 10
    shot_epochs: int = 30
    adapt_epochs: int = 12
    shots: int = 10
    batch_size: int = 64
    backbone: str = "alexnet-small"
    source: str = "digits"
    target: str = "digits-m"


QUICK = DemoPlan(source_epochs=2, shot_epochs=3, adapt_epochs=2)


def stages(plan: DemoPlan, root: Path, seed: int) -> dict[str, StageConfig]:
    common = dict(batch_size=plan.batch_size, seed=seed, val_split=0.0)
    source = StageConfig(
        name="source", backbone=plan.backbone, weights="none", dataset=plan.source, normalization="standardize",
        epochs=plan.source_epochs, lr=2e-3, strategy="fine-tuning", out=str(root / "source"),
        strategy_options={"unfreeze": "all", "warmup_epochs": 0, "dropout": 0.3}, **common,
    )
    from_source = dict(from_run=source.out, **common)
    return {
        "source": source,
        "feature_extraction": StageConfig(
            name="feature-extraction", dataset=plan.target, shots=plan.shots, epochs=plan.shot_epochs, lr=3e-3,
            strategy="feature-extraction", out=str(root / "feature-extraction"),
            strategy_options={"units": 128, "dropout": 0.3}, **from_source,
        ),
        "fine_tuning": StageConfig(
            name="fine-tuning", dataset=plan.target, shots=plan.shots, epochs=plan.shot_epochs, lr=3e-3,
            strategy="fine-tuning", out=str(root / "fine-tuning"),
            strategy_options={"units": 128, "dropout": 0.3, "unfreeze": "2", "fine_tune_lr": 5e-4}, **from_source,
        ),
        "domain_adaptation": StageConfig(
            name="domain-adaptation", dataset=plan.source, target=plan.target, epochs=plan.adapt_epochs, lr=1e-3,
            strategy="domain-adaptation", out=str(root / "domain-adaptation"),
            strategy_options={"method": "dann", "unfreeze": "all", "dropout": 0.3}, **from_source,
        ),
    }


def run_demo(out: Path, seeds: int = 1, quick: bool = False, log: Callable[[str], None] = print,
             verbose: int = 0) -> dict[str, Any]:
    from zoo.inference import evaluate_run, open_run
    from zoo.pipeline import run_stage

    if out.exists() and any(out.iterdir()):
        raise UsageError(f"demo folder '{out}' is not empty; pass another --out or remove it")
    plan = QUICK if quick else DemoPlan()
    per_seed: dict[str, list[float]] = {m: [] for m in METHODS}
    timings: dict[str, list[float]] = {m: [] for m in ("source", *METHODS)}
    started = time.perf_counter()
    for seed in range(seeds):
        root = out / f"seed-{seed}"
        plan_stages = stages(plan, root, seed)
        log(f"seed {seed}: training {plan.backbone} on {plan.source} (source domain)")
        t = time.perf_counter()
        run_stage(plan_stages["source"], verbose=verbose, log=log)
        timings["source"].append(time.perf_counter() - t)
        t = time.perf_counter()
        scored = evaluate_run(open_run(plan_stages["source"].out), plan.target, "test")
        per_seed["source_only"].append(scored["accuracy"])
        timings["source_only"].append(time.perf_counter() - t)
        for method in METHODS[1:]:
            log(f"seed {seed}: {LABELS[method]} on {plan.target}")
            t = time.perf_counter()
            result = run_stage(plan_stages[method], verbose=verbose, log=log)
            key = "target_accuracy" if method == "domain_adaptation" else "accuracy"
            per_seed[method].append(result.metrics[key])
            timings[method].append(time.perf_counter() - t)
        log("seed {}: ".format(seed) + ", ".join(f"{LABELS[m]} {per_seed[m][-1]:.3f}" for m in METHODS))
    results: dict[str, Any] = {m: statistics.fmean(per_seed[m]) for m in METHODS}
    results.update({
        "per_seed": per_seed,
        "std": {m: statistics.pstdev(per_seed[m]) for m in METHODS},
        "timings_s": {k: [round(v, 2) for v in vs] for k, vs in timings.items()},
        "total_s": round(time.perf_counter() - started, 1),
        "seeds": seeds,
        "quick": quick,
        "plan": plan.__dict__,
        "metric": f"accuracy on the {plan.target} test split",
    })
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "results.json", json.dumps(results, indent=2) + "\n")
    plot_comparison(out / "comparison.png", results)
    return results


def table(results: dict[str, Any]) -> str:
    lines = [f"{'method':22s} {'target accuracy':>16s}   per seed"]
    for method in METHODS:
        seeds = " ".join(f"{v:.3f}" for v in results["per_seed"][method])
        lines.append(f"{LABELS[method]:22s} {results[method]:>10.3f} ± {results['std'][method]:.3f}   {seeds}")
    return "\n".join(lines)


def plot_comparison(path: Path, results: dict[str, Any]) -> None:
    from zoo.evaluation import _pyplot, _save_figure

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    names = [LABELS[m] for m in METHODS]
    ax.bar(names, [results[m] for m in METHODS], color=["#999999", "#4c72b0", "#55a868", "#c44e52"], alpha=0.8)
    for i, method in enumerate(METHODS):
        values = results["per_seed"][method]
        ax.scatter([i] * len(values), values, color="black", s=12, zorder=3)
        ax.text(i, results[method] + 0.02, f"{results[method]:.3f}", ha="center")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(results["metric"])
    ax.set_title(f"digits -> digits-m, {results['seeds']} seed(s)")
    _save_figure(fig, path)
    plt.close(fig)
