"""The ``csv:PATH`` dataset kind: a CSV file of ``file,label`` rows, image paths relative to it.

An optional ``split`` column (``train``, ``val`` or ``test``) assigns rows to splits;
without it every row is training data and zoo draws the validation split itself.
"""

from __future__ import annotations

import csv
from pathlib import Path

from zoo.api import LoadedDataset, Split, UsageError, drop_bad_images

SPLITS = ("train", "val", "test")


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise UsageError(f"csv dataset '{path}' does not exist")
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise UsageError(f"csv dataset '{path}' needs a header row with 'file' and 'label' columns")
    for number, row in enumerate(rows, start=2):
        if row.get("split", "train") not in SPLITS:
            raise UsageError(f"{path}, line {number}: split must be one of {', '.join(SPLITS)}, not {row['split']!r}")
    return rows


def load(argument: str, *, on_bad_image: str = "skip") -> LoadedDataset:
    """``on_bad_image`` is one of the standard options: zoo passes it because the loader names it."""
    path = Path(argument).expanduser()
    rows = read_rows(path)
    class_names = sorted({row["label"] for row in rows})
    splits, bad_files = {}, []
    for name in SPLITS:
        chosen = [row for row in rows if row.get("split", "train") == name]
        if not chosen:
            continue
        files = [str((path.parent / row["file"]).resolve()) for row in chosen]
        labels = [class_names.index(row["label"]) for row in chosen]
        files, labels, bad = drop_bad_images(files, labels, on_bad_image, where=f"csv dataset '{path}'")
        splits[name] = Split(labels=labels, files=files)
        bad_files += bad
    return LoadedDataset(f"csv:{argument}", class_names, splits, bad_files)


def describe(argument: str) -> dict:
    """What ``zoo info csv:PATH`` shows; reads only the CSV, never an image or TensorFlow."""
    rows = read_rows(Path(argument).expanduser())
    return {"classes": sorted({row["label"] for row in rows}), "examples": len(rows)}
