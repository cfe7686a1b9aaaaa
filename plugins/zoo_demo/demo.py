"""``zoo demo``: the three strategies compared on a source and a target domain, offline.

A small AlexNet (``alexnet-small``, random weights) is trained on the labelled source
domain (``digits``). Then, on the target domain (``digits-m``: the same digits in colour
over textured backgrounds), four ways to use it are scored on the target's test split:

(a) source only: the source model as it is;
(b) feature extraction: a new head on its frozen features, K labelled target images per class;
(c) fine-tuning: the same K images; head warm-up, then every stage unfrozen at a lower rate;
(d) domain adaptation: the labelled source plus the *unlabelled* target images
    (DANN by default: ``DemoPlan.adapt_method``).

Choices that matter, measured on these domains (see ``zoo_strategies.domain_adaptation``):

- input scaling ``symmetric`` ([-1, 1]), not ``standardize``: per-channel statistics
  of the source (mostly black) put every target background far outside what the
  source model saw, and its target accuracy halved;
- the source model trains with BatchNorm frozen (the fine-tuning strategy's rule), so
  its BN layers are the identity and it behaves as a plain CNN, whose features carry
  over better than ones normalised by source-only statistics;
- adaptation with per-domain batch statistics (``batchnorm = "domain"``), SGD and the
  DANN paper's schedules. Target accuracy over 3 seeds (30 epochs of 32 + 32 images):
  DANN 0.88, Deep CORAL 0.71, MMD 0.67; the same training without a domain term 0.57;
  DANN with shared (mixed) batch statistics 0.22, below the source-only model.

Every step is an ordinary zoo run (a folder with config, weights, curves), so each
can be inspected, evaluated or pushed like any other.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

from zoo.api import StageConfig, UsageError, atomic_write_text

METHODS = ("source_only", "feature_extraction", "fine_tuning", "domain_adaptation")
LABELS = {
    "source_only": "source only",
    "feature_extraction": "feature extraction",
    "fine_tuning": "fine-tuning",
    "domain_adaptation": "domain adaptation",
}
ADAPTER_FILES = ("head.keras", "backbone.delta.npz")


@dataclass(frozen=True)
class DemoPlan:
    """Epochs and sizes; ``--quick`` shrinks them to a smoke test."""

    source_epochs: int = 20
    feature_epochs: int = 10  # of at least 100 steps each on cached features
    fine_tune_epochs: int = 40
    warmup_epochs: int = 10
    adapt_method: str = "dann"
    adapt_epochs: int = 30
    adapt_batch_size: int = 32  # per domain: as many steps as 30 epochs of 64, at half the cost
    shots: int = 10
    batch_size: int = 64
    backbone: str = "alexnet-small"
    source: str = "digits"
    target: str = "digits-m"


QUICK = DemoPlan(source_epochs=1, feature_epochs=2, fine_tune_epochs=2, warmup_epochs=1, adapt_epochs=1)


def stages(plan: DemoPlan, root: Path, seed: int, precision: str = "float32") -> dict[str, StageConfig]:
    common = dict(batch_size=plan.batch_size, seed=seed, val_split=0.0, precision=precision)
    source = StageConfig(
        name="source", backbone=plan.backbone, weights="none", dataset=plan.source, normalization="symmetric",
        epochs=plan.source_epochs, lr=2e-3, strategy="fine-tuning", out=str(root / "source"),
        strategy_options={"unfreeze": "all", "warmup_epochs": 0, "fine_tune_lr": 2e-3, "dropout": 0.3}, **common,
    )
    from_source = dict(from_run=source.out, **common)
    return {
        "source": source,
        "feature_extraction": StageConfig(
            name="feature-extraction", dataset=plan.target, shots=plan.shots, epochs=plan.feature_epochs, lr=3e-3,
            strategy="feature-extraction", out=str(root / "feature-extraction"),
            strategy_options={"units": 0, "dropout": 0.3}, **from_source,
        ),
        "fine_tuning": StageConfig(
            name="fine-tuning", dataset=plan.target, shots=plan.shots, epochs=plan.fine_tune_epochs, lr=3e-3,
            strategy="fine-tuning", out=str(root / "fine-tuning"),
            strategy_options={"units": 0, "dropout": 0.3, "unfreeze": "all", "fine_tune_lr": 1e-3,
                              "warmup_epochs": plan.warmup_epochs}, **from_source,
        ),
        "domain_adaptation": StageConfig(
            name="domain-adaptation", dataset=plan.source, target=plan.target, epochs=plan.adapt_epochs, lr=1e-2,
            strategy="domain-adaptation", out=str(root / "domain-adaptation"),
            strategy_options={"method": plan.adapt_method, "batchnorm": "domain", "unfreeze": "all", "dropout": 0.3},
            **{**from_source, "batch_size": plan.adapt_batch_size},
        ),
    }


def adapter_bytes(run: str | Path) -> int:
    """What a run adds on top of the registry's backbone: its head and backbone delta."""
    return sum((Path(run) / name).stat().st_size for name in ADAPTER_FILES if (Path(run) / name).is_file())


def run_demo(out: Path, seeds: int = 1, quick: bool = False, log: Callable[[str], None] = print,
             verbose: int = 0, precision: str = "float32") -> dict[str, Any]:
    from zoo.api import evaluate_run, open_run, run_stage

    if out.exists() and any(out.iterdir()):
        raise UsageError(f"demo folder '{out}' is not empty; pass another --out or remove it")
    plan = QUICK if quick else DemoPlan()
    per_seed: dict[str, list[float]] = {m: [] for m in METHODS}
    timings: dict[str, list[float]] = {m: [] for m in ("source", *METHODS)}
    sizes: dict[str, list[int]] = {m: [] for m in METHODS}
    source_accuracy: dict[str, list[float]] = {"source_only": [], "domain_adaptation": []}
    started = time.perf_counter()
    for seed in range(seeds):
        root = out / f"seed-{seed}"
        plan_stages = stages(plan, root, seed, precision)
        log(f"seed {seed}: training {plan.backbone} on {plan.source} (source domain)")
        t = time.perf_counter()
        trained = run_stage(plan_stages["source"], verbose=verbose, log=log)
        timings["source"].append(time.perf_counter() - t)
        source_accuracy["source_only"].append(trained.metrics["accuracy"])
        t = time.perf_counter()
        scored = evaluate_run(open_run(plan_stages["source"].out), plan.target, "test", seed=seed)
        per_seed["source_only"].append(scored["accuracy"])
        sizes["source_only"].append(adapter_bytes(trained.out))
        timings["source_only"].append(time.perf_counter() - t)
        for method in METHODS[1:]:
            log(f"seed {seed}: {LABELS[method]} on {plan.target}")
            t = time.perf_counter()
            result = run_stage(plan_stages[method], verbose=verbose, log=log)
            timings[method].append(time.perf_counter() - t)
            sizes[method].append(adapter_bytes(result.out))
            if method == "domain_adaptation":
                per_seed[method].append(result.metrics["target_accuracy"])
                source_accuracy[method].append(result.metrics["source_accuracy"])
            else:
                per_seed[method].append(result.metrics["accuracy"])
        log(f"seed {seed}: " + ", ".join(f"{LABELS[m]} {per_seed[m][-1]:.3f}" for m in METHODS))
    results: dict[str, Any] = {m: statistics.fmean(per_seed[m]) for m in METHODS}
    results.update({
        "per_seed": per_seed,
        "std": {m: statistics.pstdev(per_seed[m]) for m in METHODS},
        "metric": f"accuracy on the {plan.target} test split (seeded as each run)",
        "source_accuracy": source_accuracy,
        "adapter_bytes": sizes,
        "timings_s": {k: [round(v, 2) for v in vs] for k, vs in timings.items()},
        "total_s": round(time.perf_counter() - started, 1),
        "seeds": seeds,
        "quick": quick,
        "precision": precision,
        "plan": asdict(plan),
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
    from zoo.api import pyplot, save_figure

    plt = pyplot()
    plan = results["plan"]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    shots = f"{plan['shots']} labels per class"
    names = ["source only\nno target data", f"feature extraction\n{shots}", f"fine-tuning\n{shots}",
             f"domain adaptation ({plan['adapt_method']})\nunlabelled target"]
    ax.bar(names, [results[m] for m in METHODS], color=["#999999", "#4c72b0", "#55a868", "#c44e52"], alpha=0.8)
    for i, method in enumerate(METHODS):
        values = results["per_seed"][method]
        ax.scatter([i] * len(values), values, color="black", s=12, zorder=3)
        ax.text(i, max([results[method], *values]) + 0.02, f"{results[method]:.3f}", ha="center")
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("target test accuracy")
    ax.set_title(f"{plan['source']} -> {plan['target']}, {plan['backbone']}, {results['seeds']} seed(s)"
                 + (" (quick: not a result)" if results["quick"] else ""))
    save_figure(fig, path)
    plt.close(fig)
