"""Domain adaptation on five shifts it was not tuned on: zoo's methods, source only, and ADAPT's DANN and DeepCORAL.

    python benchmarks/adaptation.py [--quick] [--json] [--seeds N] [--epochs E] [--out DIR]
    python benchmarks/adaptation.py --methods mcc mcc+batchnorm=mixed mcc+da_weight=3   # a sweep
    python benchmarks/run.py --only da_vs_adapt_dann

For each seed, one source model is trained on ``digits`` with the demo's recipe
(:func:`zoo_demo.demo.stages`) and shared by every method and shift. Each shift of
:mod:`adaptation_shifts` is written as an ``npz:`` target with no training labels; every
zoo method is an ordinary ``zoo train --from SOURCE --strategy domain-adaptation`` run
(the demo's adaptation settings, ``--epochs`` shorter), scored on the target's test split
as zoo reports it (``target_accuracy``: the adapted backbone with BatchNorm statistics of
the target, and the new head). ADAPT's DANN and DeepCORAL (the ``bench`` extra: ``pip
install adapt``; skipped, and said so, without it) get the very same arrays, the source
run's backbone as their encoder, the same new head, SGD with momentum, the same annealed
learning rate, weights, batch size and number of steps.

Ratios: ``da_vs_source_only_pts`` (the default method's mean gain over source only, in
accuracy points, over the shifts) and ``da_vs_adapt_dann`` (the default method's mean
accuracy over ADAPT's DANN's, over the shifts). Goals: >= 5 points on every shift; >= 1.0.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from adaptation_shifts import SHIFTS, write_shift  # noqa: E402

ZOO_METHODS = ("dann", "cdan", "mcc", "coral", "mmd")
ADAPT_METHODS = ("adapt_dann", "adapt_deepcoral")
GOAL_POINTS = 5.0


@dataclasses.dataclass(frozen=True)
class Plan:
    seeds: int = 3
    epochs: int = 8
    shifts: tuple[str, ...] = SHIFTS
    methods: tuple[str, ...] = ZOO_METHODS + ADAPT_METHODS
    source_epochs: int | None = None  # None: the demo's
    shots: int | None = None  # labelled source images per class (None: all)


QUICK = Plan(seeds=1, epochs=1, shifts=("texture", "fonts"), methods=(None, "adapt_dann"), source_epochs=1, shots=20)


def default_method() -> str:
    from zoo.api import get_catalog

    [option] = [o for o in get_catalog().strategy("domain-adaptation").options if o.name == "method"]
    return option.default


def have_adapt() -> bool:
    return importlib.util.find_spec("adapt") is not None


def source_stages(root: Path, seed: int, plan: Plan):
    from zoo_demo.demo import DemoPlan, stages

    demo = DemoPlan() if plan.source_epochs is None else DemoPlan(source_epochs=plan.source_epochs)
    made = stages(demo, root, seed)
    if plan.shots:
        made = {name: dataclasses.replace(stage, shots=plan.shots) for name, stage in made.items()}
    return made["source"], made["domain_adaptation"]


def variant(label: str) -> tuple[str, dict[str, str]]:
    """``"mcc+batchnorm=mixed+da_weight=3"`` -> ``("mcc", {"batchnorm": "mixed", "da_weight": "3"})``: a zoo
    method with strategy options of its own, so that a sweep of the defaults is one run of this file.
    ``augment=...`` (``mcc+augment=invert=0.5``) is the run's ``--augment`` instead."""
    method, *options = label.split("+")
    if method not in ZOO_METHODS + ADAPT_METHODS or any("=" not in o for o in options) \
            or (options and method in ADAPT_METHODS):
        raise argparse.ArgumentTypeError(f"{label!r}: give a method of {', '.join(ZOO_METHODS + ADAPT_METHODS)}, "
                                         "for zoo's optionally followed by +OPTION=VALUE ...")
    return method, dict(o.split("=", 1) for o in options)


def zoo_accuracy(adaptation, target: Path, label: str, epochs: int, out: Path) -> dict[str, Any]:
    from zoo.api import run_stage

    method, options = variant(label)
    augment = options.pop("augment", adaptation.augment)  # a stage option, not the strategy's
    config = dataclasses.replace(adaptation, target=f"npz:{target}", epochs=epochs, out=str(out), augment=augment,
                                 strategy_options={**adaptation.strategy_options, **options, "method": method})
    metrics = run_stage(config, verbose=0, log=lambda message: None).metrics
    shutil.rmtree(out, ignore_errors=True)
    kept = ("source_accuracy", "domain_classifier_accuracy", "target_entropy", "target_classes", "target_collapsed")
    return {"accuracy": metrics["target_accuracy"], **{k: metrics[k] for k in kept if k in metrics}}


def adapt_accuracy(method: str, source_run: Path, target: Path, adaptation, epochs: int, seed: int) -> dict[str, Any]:
    """ADAPT's DANN or DeepCORAL on the source run's backbone, a new zoo head, the same optimiser and steps."""
    import keras
    import numpy as np
    import tensorflow as tf
    from adapt.feature_based import DANN, DeepCORAL
    from adapt.utils import UpdateLambda
    from zoo_strategies.adaptation_model import make_domain_classifier
    from zoo_strategies.domain_adaptation import DEFAULT_WEIGHTS, MOMENTUM
    from zoo_strategies.heads import make_head
    from zoo_strategies.schedules import GAMMA, annealed_schedule

    from zoo.api import load_dataset, open_run

    keras.utils.set_random_seed(seed)
    encoder = open_run(str(source_run)).backbone.model
    encoder.trainable = True  # every layer, BatchNorm included, as zoo's --unfreeze all --batchnorm domain
    loaded = load_dataset(adaptation.dataset, seed=seed)
    source = loaded.splits["train"]
    if adaptation.shots:  # the same images zoo's run trains on
        from zoo.data.subsets import few_shot

        source = few_shot(source, adaptation.shots, seed, adaptation.dataset, loaded.class_names)
    arrays = np.load(target)
    xs, ys = source.images.astype("float32"), np.eye(10, dtype="float32")[source.labels]  # ADAPT wants one-hot
    xt, xt_test, yt_test = arrays["x"].astype("float32"), arrays["x_test"].astype("float32"), arrays["y_test"]
    xt = xt[np.random.default_rng(seed).permutation(len(xt))[:len(xs)]]  # ADAPT's epoch is the longer domain's: zoo's steps
    batch = adaptation.batch_size
    total_steps = int(np.ceil(max(len(xs), len(xt)) / batch)) * epochs
    head = make_head(encoder.output_shape[-1], 10, dropout=adaptation.strategy_options.get("dropout", 0.0))

    def sgd():
        return keras.optimizers.SGD(annealed_schedule(adaptation.lr, total_steps), momentum=MOMENTUM)

    common = dict(encoder=encoder, task=head, Xt=xt, copy=False, random_state=seed, optimizer_enc=sgd(),
                  optimizer_disc=sgd(), verbose=0)
    callbacks = []
    if method == "adapt_dann":
        logit = make_domain_classifier(encoder.output_shape[-1])
        discriminator = keras.Sequential([logit, keras.layers.Activation("sigmoid", dtype="float32")])
        lambda_ = tf.Variable(0.0, trainable=False)  # set every step by ADAPT's UpdateLambda callback
        model = DANN(discriminator=discriminator, lambda_=lambda_, **common)
        callbacks = [UpdateLambda(lambda_init=0.0, lambda_max=DEFAULT_WEIGHTS["dann"], max_steps=total_steps,
                                  gamma=GAMMA)]
    else:
        model = DeepCORAL(lambda_=DEFAULT_WEIGHTS["coral"], **common)
    # compiled here: ADAPT's own compile rebuilds a given optimizer from its config, which a schedule does not survive
    model.pretrain_ = False  # what fit would set: neither method pre-trains
    model.compile(optimizer=sgd(), loss="categorical_crossentropy")
    model.fit(xs, ys, Xt=xt, epochs=epochs, batch_size=batch, callbacks=callbacks, verbose=0)
    probs = model.predict(xt_test, batch_size=256, verbose=0)
    return {"accuracy": float((np.asarray(probs).argmax(axis=1) == yt_test).mean())}


def summarise(per_seed: dict[str, dict[str, list[float]]], methods: list[str], default: str) -> dict[str, Any]:
    table = {shift: {m: {"mean": round(statistics.fmean(v), 4), "sd": round(statistics.pstdev(v), 4),
                         "per_seed": [round(x, 4) for x in v]} for m, v in by_method.items()}
             for shift, by_method in per_seed.items()}
    gains = {shift: round(100 * (row[default]["mean"] - row["source_only"]["mean"]), 1)
             for shift, row in table.items() if default in row}
    summary: dict[str, Any] = {"table": table, "default_method": default, "gain_pts": gains}
    summary["da_vs_source_only_pts"] = round(statistics.fmean(gains.values()), 2) if gains else None
    summary["goal_met_on_every_shift"] = bool(gains) and min(gains.values()) >= GOAL_POINTS
    if "adapt_dann" in methods and all("adapt_dann" in row for row in table.values()):
        ratios = [row[default]["mean"] / max(row["adapt_dann"]["mean"], 1e-9) for row in table.values()]
        summary["da_vs_adapt_dann"] = round(statistics.fmean(ratios), 3)
    else:
        summary["da_vs_adapt_dann"] = None
    zoo_methods = [m for m in methods if m in ZOO_METHODS and all(m in row for row in table.values())]
    summary["gain_pts_by_method"] = {m: {s: round(100 * (row[m]["mean"] - row["source_only"]["mean"]), 1)
                                         for s, row in table.items()} for m in zoo_methods}
    if summary["da_vs_adapt_dann"] is not None:
        summary["da_vs_adapt_dann_by_method"] = {
            m: round(statistics.fmean(row[m]["mean"] / max(row["adapt_dann"]["mean"], 1e-9) for row in table.values()),
                     3) for m in zoo_methods}
    best = {}
    for method in methods:
        if all(method in row for row in table.values()):
            best[method] = round(statistics.fmean(row[method]["mean"] for row in table.values()), 4)
    summary["mean_over_shifts"] = best
    return summary


def benchmark(plan: Plan, out: Path | None = None, log=print) -> dict[str, Any]:
    from zoo.api import evaluate_run, open_run, run_stage

    default = default_method()
    methods = [default if m is None else m for m in plan.methods]
    skipped = [m for m in methods if m in ADAPT_METHODS and not have_adapt()]
    if skipped:
        log("ADAPT is not installed (pip install 'zoo[bench]' or pip install adapt): skipping " + ", ".join(skipped))
        methods = [m for m in methods if m not in skipped]
    started = time.perf_counter()
    per_seed: dict[str, dict[str, list[float]]] = {s: {"source_only": []} for s in plan.shifts}
    signals: dict[str, dict[str, list[dict]]] = {s: {} for s in plan.shifts}
    seconds: dict[str, float] = {}
    root = Path(out) if out else Path(tempfile.mkdtemp(prefix="zoo-da-bench-"))
    try:
        for seed in range(plan.seeds):
            folder = root / f"seed-{seed}"
            source, adaptation = source_stages(folder, seed, plan)
            t = time.perf_counter()
            run_stage(source, verbose=0, log=lambda message: None)
            seconds["source"] = seconds.get("source", 0.0) + time.perf_counter() - t
            for shift in plan.shifts:
                target = write_shift(folder / f"{shift}.npz", shift, seed)
                scored = evaluate_run(open_run(source.out), f"npz:{target}", "test", seed=seed)
                per_seed[shift]["source_only"].append(scored["accuracy"])
                for method in methods:
                    t = time.perf_counter()
                    if method in ADAPT_METHODS:
                        result = adapt_accuracy(method, Path(source.out), target, adaptation, plan.epochs, seed)
                    else:
                        result = zoo_accuracy(adaptation, target, method, plan.epochs, folder / f"{shift}-{method}")
                    seconds[method] = seconds.get(method, 0.0) + time.perf_counter() - t
                    per_seed[shift].setdefault(method, []).append(result.pop("accuracy"))
                    signals[shift].setdefault(method, []).append(result)
                log(f"seed {seed} {shift:10s} " + " ".join(f"{m} {v[-1]:.3f}" for m, v in per_seed[shift].items()))
    finally:
        if out is None:
            shutil.rmtree(root, ignore_errors=True)
    summary = summarise(per_seed, ["source_only", *methods], default)
    summary.update({
        "signals": signals, "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "total_s": round(time.perf_counter() - started, 1), "adapt": have_adapt(), "skipped": skipped,
        "plan": {**dataclasses.asdict(plan), "methods": methods},
        "metric": "accuracy on each target's labelled test split; zoo: the run's target_accuracy (adapted backbone "
                  "with the target's BatchNorm statistics, the run's new head); source only: the source run as it is",
    })
    return summary


def table_text(summary: dict[str, Any]) -> str:
    methods = list(next(iter(summary["table"].values())))
    lines = ["| shift | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for shift, row in summary["table"].items():
        lines.append(f"| {shift} | " + " | ".join(f"{row[m]['mean']:.3f} ± {row[m]['sd']:.3f}" for m in methods) + " |")
    means = summary["mean_over_shifts"]
    lines.append("| mean | " + " | ".join(f"{means[m]:.3f}" if m in means else "" for m in methods) + " |")
    return "\n".join(lines)


def run(quick: bool = False) -> tuple[float, dict[str, Any]]:
    """For ``benchmarks/run.py``: ``(da_vs_adapt_dann, details)``; ``da_vs_source_only_pts`` rides along."""
    summary = benchmark(QUICK if quick else Plan(), log=lambda message: print(message, file=sys.stderr))
    ratio = summary["da_vs_adapt_dann"]
    extra = {"da_vs_source_only_pts": summary["da_vs_source_only_pts"]}
    details = {k: summary[k] for k in ("default_method", "gain_pts", "mean_over_shifts", "goal_met_on_every_shift",
                                       "adapt", "skipped", "total_s")}
    return (float("nan") if ratio is None else ratio), {**details, "extra_ratios": extra}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one seed, two shifts, one epoch (a smoke test)")
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--shifts", nargs="*", choices=SHIFTS)
    parser.add_argument("--methods", nargs="*", type=lambda label: variant(label) and label,
                        help=f"of {', '.join(ZOO_METHODS + ADAPT_METHODS)}; zoo's as METHOD+OPTION=VALUE... too")
    parser.add_argument("--out", type=Path, help="keep the runs here (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else Plan()
    given = {"seeds": args.seeds, "epochs": args.epochs, "shifts": tuple(args.shifts or ()) or None,
             "methods": tuple(args.methods or ()) or None}
    plan = dataclasses.replace(plan, **{k: v for k, v in given.items() if v is not None})
    summary = benchmark(plan, args.out, log=lambda message: print(message, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(summary))
    else:
        print(table_text(summary))
        print(f"default method {summary['default_method']}: gain over source only {summary['gain_pts']} points "
              f"(mean {summary['da_vs_source_only_pts']}); da_vs_adapt_dann {summary['da_vs_adapt_dann']}; "
              f"{summary['total_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
