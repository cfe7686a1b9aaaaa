"""Commands that look at datasets: preview."""

from __future__ import annotations

import io
import math
from pathlib import Path

import click

from zoo.errors import UsageError

FIGURE_FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".pdf": "pdf", ".svg": "svg"}


def figure_format(out: Path) -> str:
    """The matplotlib format for ``out``'s suffix; checked before any data is loaded."""
    fmt = FIGURE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise UsageError(f"--out '{out}': write a .png, .jpg, .pdf or .svg file")
    return fmt


def write_grid(images, titles: list[str], out: Path, heading: str) -> None:
    """A grid of images with a title each, rendered in memory and then written atomically."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from zoo.util.files import atomic_write_bytes

    fmt = figure_format(out)
    columns = max(1, math.ceil(math.sqrt(len(images))))
    rows = max(1, math.ceil(len(images) / columns))
    figure = Figure(figsize=(1.4 * columns, 1.55 * rows + 0.4), dpi=100)
    FigureCanvasAgg(figure)
    figure.suptitle(heading, fontsize=9)
    for i in range(rows * columns):
        axis = figure.add_subplot(rows, columns, i + 1)
        axis.axis("off")
        if i < len(images):
            image = images[i]
            axis.imshow(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image,
                        cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            axis.set_title(titles[i], fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt)
    atomic_write_bytes(out, buffer.getvalue())


@click.command()
@click.argument("dataset")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Image file to write (.png, .jpg, .pdf, .svg).")
@click.option("--split", "split_name", default="train", show_default=True, help="Which split to show.")
@click.option("--n", "count", default=36, show_default=True, type=click.IntRange(1, 400), help="How many examples.")
@click.option("--seed", default=0, show_default=True, type=int, help="Which examples (and how generated datasets render).")
@click.option("--val-split", type=float, default=None, help="Hold out this fraction of train as 'val' when the dataset has none.")
@click.option("--on-bad-image", type=click.Choice(["skip", "fail"]), default="skip", show_default=True,
              help="What to do with unreadable images.")
def preview(dataset: str, out: str, split_name: str, count: int, seed: int, val_split: float | None,
            on_bad_image: str) -> None:
    """Write a grid of DATASET's examples with their labels to --out."""
    from zoo.data.loading import load_dataset
    from zoo.data.tfdata import sample_images

    out_path = Path(out)
    figure_format(out_path)  # a wrong suffix is known before minutes of loading
    loaded = load_dataset(dataset, val_split=val_split, seed=seed, on_bad_image=on_bad_image)
    split = loaded.require(split_name)
    images, labels = sample_images(split, count, seed)
    titles = [loaded.class_names[y] if 0 <= y < len(loaded.class_names) else "?" for y in labels]
    write_grid(images, titles, out_path, f"{dataset} [{split_name}]: {len(images)} of {len(split)}")
    if loaded.bad_files:
        path, reason = loaded.bad_files[0]
        click.echo(f"zoo: skipped {len(loaded.bad_files)} unreadable image(s), e.g. {path}: {reason}", err=True)
    click.echo(f"wrote {out_path} ({len(images)} examples from {dataset} {split_name})")


COMMANDS = [preview]
