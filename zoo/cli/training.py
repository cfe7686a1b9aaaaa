"""Commands that build and use runs: train, run, evaluate, predict, export.

``zoo train`` grows one flag per strategy option (built-in and third-party alike), so
``--unfreeze 2`` or ``--method coral`` work exactly as their TOML keys do.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any, Callable

import click

from zoo.cli.output import echo_json, echo_mapping
from zoo.errors import UsageError, ZooError
from zoo.train.config import BAD_IMAGE_POLICIES, DISTRIBUTIONS, NORMALIZATIONS, PRECISIONS, SCHEDULES
from zoo.util.quiet import import_tensorflow, needs_tensorflow

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def keras_verbosity() -> int:
    """A live progress bar on a terminal, one line per epoch in logs."""
    return 1 if sys.stdout.isatty() else 2


def log(message: str) -> None:
    click.echo(f"zoo: {message}", err=True)


CORE_FLAGS: list[tuple[str, str, Any, str]] = [
    # (flag, TOML key, click type, help)
    ("--backbone", "backbone", str, "Backbone name, or SOURCE:ARG such as tfhub:HANDLE."),
    ("--strategy", "strategy", str, "Transfer strategy (see `zoo list strategies`). [default: feature-extraction]"),
    ("--dataset", "dataset", str, "Training dataset, e.g. folder:PATH, npz:PATH, digits."),
    ("--target", "target", str, "Unlabelled target dataset (domain adaptation)."),
    ("--image-size", "image_size", int, "Input size in pixels (default: the backbone's)."),
    ("--epochs", "epochs", int, "Epochs of the whole run, all phases together (fine-tuning: warm-up plus "
     "fine-tuning). An epoch is a pass over the training images; on cached features (feature extraction, "
     "fine-tuning's warm-up) it is at least 100 steps of the head. [default: 5]"),
    ("--batch-size", "batch_size", int, "Batch size. [default: 32]"),
    ("--lr", "lr", float, "Learning rate. [default: 0.001]"),
    ("--weights", "weights", str, "Backbone weights: default, imagenet, none (random) or a file path."),
    ("--from", "from", str, "Start from an earlier run: a run folder, hf://REPO[@REV] or an adapter name."),
    ("--out", "out", str, "Run folder to write (default: runs/BACKBONE-STRATEGY-TIME)."),
    ("--seed", "seed", int, "Random seed. [default: 0]"),
    ("--val-split", "val_split", float, "Fraction held out for validation when the dataset has no val split. [default: 0.2]"),
    ("--shots", "shots", int, "Train on only this many labelled images per class (few-shot; seeded)."),
    ("--on-bad-image", "on_bad_image", click.Choice(BAD_IMAGE_POLICIES), "Unreadable images: skip (and list) or fail."),
    ("--augment", "augment", str, "Augmentation, e.g. flip,rotation=0.1,zoom=0.1,contrast=0.2 (or invert=0.5)."),
    ("--normalization", "normalization", click.Choice(NORMALIZATIONS), "Input scaling. [default: backbone]"),
    ("--precision", "precision", click.Choice(PRECISIONS),
     "Numeric precision; auto: mixed_bfloat16 on GPUs >= 8.0 and bf16 CPUs, mixed_float16 on 7.x GPUs, "
     "else float32. [default: float32]"),
    ("--distribute", "distribute", click.Choice(DISTRIBUTIONS), "tf.distribute strategy. [default: none]"),
    ("--name", "name", str, "A name for the run (recorded in its config)."),
    ("--early-stopping", "early_stopping", int, "Stop a phase after PATIENCE epochs without a better validation "
     "loss (training loss without a validation split) and keep its best epoch's weights; survives --resume."),
    ("--class-weight", "class_weight", str, "Loss weight per class: auto (inverse class frequency), none, or a "
     "JSON file {\"class\": weight} (unnamed classes weigh 1). [default: none]"),
    ("--schedule", "schedule", click.Choice(SCHEDULES), "Learning rate over each phase's epochs: constant, cosine "
     "(down towards 0) or step (a tenth after each third). [default: constant]"),
    ("--warmup", "warmup", int, "Epochs of linear learning-rate warm-up at the start of each phase (not "
     "fine-tuning's --warmup-epochs of head-only training). [default: 0]"),
]


CLICK_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def strategy_flags(catalog) -> tuple[dict[str, Any], ZooError | None]:
    """One flag per strategy option name across all strategies (``--unfreeze``, ``--method``...).

    When the strategies cannot be listed (two plugins claim one name), there are no such
    flags and the error comes back, for ``zoo train`` to report when it runs.
    """
    core = {flag for flag, *_ in CORE_FLAGS}
    flags: dict[str, Any] = {}
    try:
        strategies = list(catalog.strategies.values())
    except ZooError as error:
        return flags, error
    for spec in strategies:
        for option in spec.options:
            if option.flag in core:
                continue
            entry = flags.setdefault(option.name, {"options": [], "users": []})
            entry["options"].append(option)
            entry["users"].append(spec.name)
    return flags, None


def mapping_from_flags(given: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """The TOML-shaped mapping of ``zoo train``'s flags (core, per-strategy and ``-o KEY=VALUE``)."""
    extra = given.pop("strategy_option")
    mapping: dict[str, Any] = {}
    for flag, key, _, _ in CORE_FLAGS:
        value = given.pop(flag[2:].replace("-", "_"))
        if value is not None:
            mapping[key] = value
    strategy: dict[str, Any] = {"name": mapping.pop("strategy", "feature-extraction")}
    for name in flags:
        value = given.pop(name)
        if value is not None:
            strategy[name] = value
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"-o/--strategy-option takes KEY=VALUE, got {item!r}")
        strategy[key.strip().replace("-", "_")] = value
    mapping["strategy"] = strategy
    return mapping


def print_config(config) -> None:
    """The pipeline TOML of ``config``, with every strategy option and the resolved ``out``."""
    from zoo.plugin.catalog import get_catalog
    from zoo.train.config import stage_to_toml
    from zoo.train.plan import check_stage_plan

    _, options = check_stage_plan(config, get_catalog(), "command line")
    config.strategy_options = {k: v for k, v in options.items() if v is not None}
    click.echo(stage_to_toml(config), nl=False)


def build_train_command(catalog) -> click.Command:
    flags, flags_error = strategy_flags(catalog)

    def train(**given: Any) -> None:
        """Train a backbone + head with a transfer strategy and write a run folder.

        Every flag has a TOML twin: `--print-config` prints the pipeline file that
        `zoo run` would run for the same settings. A run checkpoints at the end of an
        epoch at most every ZOO_CHECKPOINT_INTERVAL seconds (default 60; 0: every
        epoch) and after each phase's last epoch; `--resume` continues from there.

        Every run writes TensorBoard logs (per-epoch loss, accuracy and learning rate
        of each phase, the confusion matrix): watch a run with
        `tensorboard --logdir OUT.partial/logs` while it trains, and
        `tensorboard --logdir OUT/logs` once it is written.
        """
        from zoo.train.config import default_out, stage_from_mapping

        if flags_error is not None:
            raise flags_error
        resume, printing = given.pop("resume"), given.pop("print_config")
        config = stage_from_mapping(mapping_from_flags(given, flags), "command line")
        if resume and config.out is None:
            raise UsageError("--resume needs --out DIR, the run folder to continue "
                             "(its DIR.partial holds the checkpoints)")
        config.out = config.out or str(default_out(config))
        if printing:
            print_config(config)
            return
        import_tensorflow()
        from zoo.train.stage import run_stage

        def to_continue() -> str:
            from zoo.train.plan import partial_dir

            if not partial_dir(Path(config.out)).exists():
                return "nothing was checkpointed yet: run the same command again"
            return ("to continue from the last checkpoint, run the same command with "
                    f"`--out {shlex.quote(config.out)} --resume`")

        run_and_report(lambda: run_stage(config, resume=resume, verbose=keras_verbosity(), log=log,
                                         where="command line"), to_continue)

    params: list[click.Parameter] = []
    for flag, _, kind, text in CORE_FLAGS:
        params.append(click.Option([flag], type=kind, default=None, help=text))
    for name, entry in sorted(flags.items()):
        options = entry["options"]
        first = options[0]
        same_type = all(o.type == first.type and o.choices == first.choices for o in options)
        kind = (click.Choice(first.choices) if first.type == "choice" else CLICK_TYPES.get(first.type, str)) \
            if same_type else str
        defaults = {(o.default if o.default is not None else "-") for o in options}
        if len(defaults) == 1:
            default = f" [default: {first.default}]" if first.default is not None else ""
        else:
            default = " [default: " + ", ".join(f"{u}: {o.default}" for u, o in zip(entry["users"], options)) + "]"
        params.append(click.Option([first.flag, name], type=kind, default=None,
                                   help=f"({', '.join(entry['users'])}) {first.help}{default}"))
    params += [
        click.Option(["-o", "--strategy-option"], multiple=True, metavar="KEY=VALUE",
                     help="Any strategy option by name (for options without a flag of their own)."),
        click.Option(["--resume"], is_flag=True, help="Continue the interrupted run in OUT.partial (needs --out)."),
        click.Option(["--print-config"], is_flag=True, help="Print the equivalent pipeline TOML and exit."),
    ]
    # without the strategies' flags, let `zoo train --unfreeze 2` reach the callback, which says why they are missing
    lenient = {"ignore_unknown_options": True, "allow_extra_args": True} if flags_error is not None else {}
    return click.Command("train", callback=train, params=params, help=train.__doc__, context_settings=lenient)


def run_and_report(action, to_continue: Callable[[], str]) -> None:
    """Run a training ``action`` and print one line per run; on Ctrl-C, say how to continue."""
    try:
        results = action()
    except KeyboardInterrupt:
        click.echo(f"zoo: interrupted; {to_continue()}", err=True)
        sys.exit(130)
    for result in results if isinstance(results, list) else [results]:
        summary = {k: result.metrics.get(k) for k in ("accuracy", "loss", "target_accuracy", "source_accuracy")
                   if result.metrics.get(k) is not None}
        size = result.metrics.get("adapter_bytes")
        click.echo(f"{result.out}  " + "  ".join(f"{k}={v:.4f}" for k, v in summary.items())
                   + (f"  adapter={size / 1e6:.2f} MB" if size is not None else ""))


@click.command()
@click.argument("pipeline_file", metavar="PIPELINE.toml", type=click.Path(dir_okay=False))
@click.option("--resume", is_flag=True, help="Skip finished stages and continue an interrupted one.")
@needs_tensorflow
def run(pipeline_file: str, resume: bool) -> None:
    """Run every stage of a pipeline TOML file (see examples/).

    Checkpoints are taken as `zoo train` takes them (ZOO_CHECKPOINT_INTERVAL).
    """
    from zoo.train.pipeline import run_pipeline

    run_and_report(lambda: run_pipeline(pipeline_file, resume=resume, verbose=keras_verbosity(), log=log),
                   lambda: f"to continue after the finished stages and the last checkpoint, "
                           f"run `zoo run {shlex.quote(pipeline_file)} --resume`")


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--dataset", default=None, help="Dataset to score on (default: the one the run was trained on).")
@click.option("--split", default=None, help="Split to score (default: test, else val, else train).")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--on-bad-image", type=click.Choice(BAD_IMAGE_POLICIES), default="skip", show_default=True)
@click.option("--seed", type=int, default=None, help="Seed for datasets that generate data (default: the run's).")
@click.option("--top-k", type=click.IntRange(min=1), default=5, show_default=True,
              help="Report top-k accuracy for this k (at most the number of classes).")
@json_option
@needs_tensorflow
def evaluate(run_ref: str, dataset: str | None, split: str | None, batch_size: int, on_bad_image: str,
             seed: int | None, top_k: int, as_json: bool) -> None:
    """Score a run (folder, hf://REPO[@REV] or adapter name) on a labelled dataset.

    On the data the run was trained on, the default is the split the run was scored
    on, drawn again as in training (its held-out images, not its training ones).
    Accuracy, loss, per-class precision, recall and F1, macro-F1 and top-k accuracy.
    """
    from zoo.run.inference import evaluate_run
    from zoo.run.load import open_run

    metrics = evaluate_run(open_run(run_ref), dataset, split, batch_size=batch_size, on_bad_image=on_bad_image,
                           seed=seed, top_k=top_k, log=log)
    if as_json:
        echo_json(metrics)
    else:
        echo_mapping({k: v for k, v in metrics.items() if k != "confusion"})


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.argument("paths", nargs=-1, required=True, metavar="FILE_OR_DIR...")
@click.option("--top-k", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
@json_option
@needs_tensorflow
def predict(run_ref: str, paths: tuple[str, ...], top_k: int, batch_size: int, as_json: bool) -> None:
    """Classify image files (or every image in folders) with a run."""
    from zoo.run.inference import predict_files
    from zoo.run.load import open_run

    rows = predict_files(open_run(run_ref), list(paths), top_k=top_k, batch_size=batch_size)
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        guesses = "  ".join(f"{p['label']} {p['probability']:.3f}" for p in row["predictions"])
        click.echo(f"{row['file']}\t{guesses}")


EXPORT_FORMATS = ("keras", "savedmodel", "tflite", "onnx")  # zoo.run.export.FORMATS, without importing it


@click.command()
@click.argument("run_ref", metavar="RUN")
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="keras", show_default=True)
@click.option("--out", required=True, help="Where to write: a .keras, .tflite or .onnx file, or a folder for savedmodel.")
@click.option("--quantize", type=click.Choice(["none", "dynamic", "int8"]), default="none", show_default=True,
              help="tflite and onnx: int8 weights (dynamic), or int8 weights and activations (int8).")
@click.option("--calibration", default=None, metavar="DATASET",
              help="Images to calibrate int8 on and to check the export on (default: the run's own dataset).")
@needs_tensorflow
def export(run_ref: str, fmt: str, out: str, quantize: str, calibration: str | None) -> None:
    """Write a run as one full model (preprocessing + backbone + head), raw RGB pixels in.

    The export is run in its own runtime on a few of the run's images and compared with
    the Keras model before it is kept; the agreement is printed and saved as OUT.check.json.
    """
    from zoo.run.export import export_run
    from zoo.run.load import open_run

    exported = export_run(open_run(run_ref), out, fmt, quantize=quantize, calibration=calibration, log=log)
    click.echo(exported.path)
    log(exported.summary())


def commands(catalog) -> list[click.Command]:
    return [build_train_command(catalog), run, evaluate, predict, export]
