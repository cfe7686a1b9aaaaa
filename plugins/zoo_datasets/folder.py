"""``folder:PATH``: images in one sub-folder per class, like Keras' image_dataset_from_directory.

Two layouts are understood:

- ``PATH/CLASS/*.png``: one split, ``train`` (hold out validation with a val-split fraction);
- ``PATH/train/CLASS/*.png`` with ``PATH/val/`` (or ``valid/``, ``validation/``) and
  optional ``PATH/test/``: the splits as given. This layout is used only when every
  sub-folder of PATH is one of these split names; a class folder that happens to be
  called ``train`` or ``test`` beside other class folders is a class like the others.

Class names are the sub-folder names, sorted, so label indices do not depend on the
file system's listing order. Images inside a class folder may sit in nested folders.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from zoo.api import LoadedDataset, Split, UsageError, check_on_bad_image, class_counts, drop_bad_images, is_image_file

SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
SPLIT_OF_FOLDER = {name: split for split, names in SPLIT_FOLDERS.items() for name in names}


def _subfolders(path: Path) -> list[Path]:
    return sorted((p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _images_under(folder: Path) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(os.path.join(root, f) for f in sorted(files) if is_image_file(f))
    return found


def _root(argument: str | None) -> Path:
    if not argument:
        raise UsageError("dataset 'folder' needs a path: write folder:PATH")
    root = Path(argument).expanduser()
    if not root.exists():
        raise UsageError(f"dataset folder '{argument}' does not exist")
    if not root.is_dir():
        raise UsageError(f"dataset folder '{argument}' is a file, not a folder of class sub-folders")
    return root


def split_folders(root: Path) -> dict[str, Path]:
    """``{"train": PATH/train, "val": PATH/val, ...}`` when ``root`` uses the split layout, else {}.

    The split layout needs every sub-folder to be a split name, ``train`` among them: a
    class folder that happens to be called ``train`` or ``test`` next to other classes
    is a class.
    """
    folders = _subfolders(root)
    if not folders or any(folder.name.lower() not in SPLIT_OF_FOLDER for folder in folders):
        return {}
    found: dict[str, Path] = {}
    for folder in folders:
        split = SPLIT_OF_FOLDER[folder.name.lower()]
        if split in found:
            raise UsageError(f"dataset folder '{root}' has both {found[split].name}/ and {folder.name}/ as its "
                             f"{split} split; keep one")
        found[split] = folder
    return found if "train" in found else {}


def scan(argument: str | None) -> tuple[list[str], dict[str, tuple[list[str], list[int]]]]:
    """Class names and, per split, the image files and their labels (unscreened)."""
    root = _root(argument)
    layout = split_folders(root) or {"train": root}
    classes = sorted({c.name for folder in layout.values() for c in _subfolders(folder)})
    if not classes:
        where = layout["train"]
        raise UsageError(f"dataset folder '{where}' has no class sub-folders; "
                         f"expected {where}/CLASS_NAME/IMAGE.jpg (jpg, png, bmp or gif)")
    index = {name: i for i, name in enumerate(classes)}
    splits = {}
    for split, folder in layout.items():
        files, labels = [], []
        for class_folder in _subfolders(folder):
            found = _images_under(class_folder)
            files.extend(found)
            labels.extend([index[class_folder.name]] * len(found))
        splits[split] = (files, labels)
    if not splits["train"][0]:
        raise UsageError(f"dataset folder '{layout['train']}' has class sub-folders but no jpg/png/bmp/gif images in them")
    return classes, splits


def load(argument: str | None, *, seed: int = 0, on_bad_image: str = "skip", **options: Any) -> LoadedDataset:
    """Every split found, each image screened with Pillow; bad ones skipped or refused.

    ``seed`` is unused here (``zoo.data.loading.load_dataset`` draws the validation split).
    """
    if options:
        raise UsageError(f"dataset 'folder' takes no option {', '.join(sorted(options))}")
    check_on_bad_image(on_bad_image)
    classes, found = scan(argument)
    splits, bad_files = {}, []
    for split, (files, labels) in found.items():
        files, labels, bad = drop_bad_images(files, labels, on_bad_image, where=f"folder:{argument}")
        bad_files.extend(bad)
        splits[split] = Split(labels=labels, files=files)
    return LoadedDataset(ref=f"folder:{argument}", class_names=classes, splits=splits, bad_files=bad_files)


def describe(argument: str | None) -> dict[str, Any]:
    """Classes and image counts from the folder listing alone (images are not opened)."""
    classes, found = scan(argument)
    layout = "train/val/test sub-folders" if split_folders(_root(argument)) else "one sub-folder per class"
    return {
        "path": str(Path(argument).expanduser().resolve()),
        "layout": layout,
        "classes": classes,
        "num_classes": len(classes),
        "splits": {split: len(files) for split, (files, _) in found.items()},
        "counts": {split: class_counts(labels, classes) for split, (_, labels) in found.items()},
    }
