"""Built-in plugin: ``zoo demo``, the three transfer strategies compared offline.

It is an ordinary plugin: it adds one command through ``zoo_commands`` and trains
through the public API (:mod:`zoo.api`), naming its own backbone and domains, which
the core knows nothing of.
"""

from zoo.api import hookimpl


@hookimpl
def zoo_commands(cli):
    import click

    from zoo.api import needs_tensorflow

    @cli.command()
    @click.option("--out", default="zoo-demo", show_default=True, help="Folder for the runs, results.json and the plot.")
    @click.option("--seeds", type=click.IntRange(min=1), default=3, show_default=True,
                  help="Repeat with this many seeds.")
    @click.option("--quick", is_flag=True, help="A few epochs only: a smoke test, not a result.")
    @click.option("--precision", type=click.Choice(["float32", "auto"]), default="float32", show_default=True,
                  help="Every stage's --precision (auto: mixed bfloat16 or float16 where the hardware has it).")
    @needs_tensorflow
    def demo(out: str, seeds: int, quick: bool, precision: str) -> None:
        """Compare the strategies offline: digits (source) -> digits-m (target).

        Trains a small AlexNet on the labelled source, then scores on the target's
        test split: the source model alone, feature extraction and fine-tuning with
        10 labelled target images per class, and domain adaptation (DANN, per-domain
        BatchNorm) with the unlabelled target images. Writes every run, results.json
        and comparison.png to --out. The default (3 seeds) takes about 3 minutes on
        2 CPU cores.
        """
        from pathlib import Path

        from zoo_demo.demo import run_demo, table

        def log(message: str) -> None:
            click.echo(f"zoo: {message}", err=True)

        results = run_demo(Path(out), seeds=seeds, quick=quick, log=log, verbose=0, precision=precision)
        click.echo(table(results))
        click.echo(f"results: {Path(out) / 'results.json'}  plot: {Path(out) / 'comparison.png'}  "
                   f"({results['total_s']:.0f} s)")
