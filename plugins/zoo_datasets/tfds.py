"""``tfds:NAME``: a TensorFlow Datasets dataset that is already prepared on this machine.

zoo never downloads: NAME (``mnist``, ``mnist:3.0.1``, ``cifar10/config:1.0.0``) must
already be built in the TFDS data dir: ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``
(the same default as TFDS and ``tfds build``). From Python, ``load_dataset("tfds:NAME",
data_dir=...)`` overrides both for loading; ``zoo info`` always looks in that data dir.
The prepared folder is opened with ``tfds.builder_from_directory``, which needs neither
the network nor the dataset's code. Splits ``train``, ``validation`` (as ``val``) and
``test`` keep their roles; others keep their names.

``on_bad_image`` does not apply: TFDS checked every image when it prepared the dataset,
and the images are decoded from its record files while they stream, so nothing is
screened or skipped here; a record that fails to decode stops the run with TensorFlow's
error.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from zoo.api import LoadedDataset, Split, UsageError, check_on_bad_image

SPLIT_NAMES = {"validation": "val", "valid": "val", "val": "val"}


def tfds_data_dir(option: str | os.PathLike | None = None) -> Path:
    """``option``, else ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``, as TFDS itself decides."""
    chosen = option or os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets"
    return Path(chosen).expanduser()


def _require_tfds(name: str) -> None:
    if importlib.util.find_spec("tensorflow_datasets") is None:
        raise UsageError(f"tfds:{name} needs tensorflow-datasets, which is not installed; "
                         f"pip install tensorflow-datasets, then prepare {name} with `tfds build {name}` "
                         f"(zoo never downloads datasets)")


def _version_key(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (-1,)


def _prepared_versions(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.is_dir() and (p / "dataset_info.json").is_file()]
    return sorted(found, key=lambda p: _version_key(p.name))


def prepared_dir(name: str | None, root: Path) -> Path:
    """The folder holding ``dataset_info.json`` for NAME[/CONFIG][:VERSION] under ``root``."""
    if not name:
        raise UsageError("dataset 'tfds' needs a name: write tfds:NAME, e.g. tfds:mnist")
    base, _, version = name.partition(":")
    folder = root / base
    not_prepared = (f"tfds:{name} is not prepared in {root}; run `tfds build {base}` on a machine with "
                    f"internet and copy its folder there, or set TFDS_DATA_DIR (zoo never downloads datasets)")
    if version:
        if not (folder / version / "dataset_info.json").is_file():
            raise UsageError(not_prepared)
        return folder / version
    versions = _prepared_versions(folder)
    if versions:
        return versions[-1]
    if "/" not in base and folder.is_dir():  # no version folders: maybe configs
        configs = sorted(p.name for p in folder.iterdir() if _prepared_versions(p))
        if len(configs) == 1:
            return _prepared_versions(folder / configs[0])[-1]
        if configs:
            raise UsageError(f"tfds:{name} has several prepared configs ({', '.join(configs)}); "
                             f"write tfds:{base}/CONFIG")
    raise UsageError(not_prepared)


def _read_info(version_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((version_dir / "dataset_info.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {version_dir / 'dataset_info.json'}: {exc}") from None


def _label_key(info: dict[str, Any]) -> str:
    keys = info.get("supervisedKeys") or {}
    if "tuple" in keys:
        items = keys["tuple"].get("items", [])
        if len(items) == 2:
            return items[1].get("featureKey", "label")
    return keys.get("output", "label")


def read_class_names(labels_file: Path) -> list[str]:
    """TFDS' ``LABEL.labels.txt``: one class name per line (names may hold spaces), or [] without it."""
    if not labels_file.is_file():
        return []
    try:
        text = labels_file.read_text(encoding="utf-8")
    except (OSError, UnicodeError) as exc:
        raise UsageError(f"cannot read the class names in {labels_file}: {exc}") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _import_tfds():
    """``tensorflow_datasets``, importing TensorFlow first without its start-up notices."""
    from zoo.api import import_tensorflow, stderr_silenced, verbose

    import_tensorflow()
    if not verbose():
        try:
            with stderr_silenced():
                import tensorflow_datasets  # noqa: F401 (imported once, quietly)
        except OSError:  # no real file descriptor 2 (embedded use): import normally below
            pass
    import tensorflow_datasets as tfds

    return tfds


def _split_name(name: str) -> str:
    return SPLIT_NAMES.get(name, name)


def describe(argument: str | None) -> dict[str, Any]:
    """Classes and split sizes from ``dataset_info.json`` (TensorFlow is not imported)."""
    _require_tfds(argument or "NAME")
    version_dir = prepared_dir(argument, tfds_data_dir())
    info = _read_info(version_dir)
    classes = read_class_names(version_dir / f"{_label_key(info)}.labels.txt")
    splits = {_split_name(s["name"]): int(sum(int(n) for n in s.get("shardLengths", [])) or s.get("numExamples", 0))
              for s in info.get("splits", [])}
    return {
        "path": str(version_dir),
        "version": info.get("version"),
        "classes": classes,
        "num_classes": len(classes),
        "splits": splits,
    }


def _keys(builder) -> tuple[str, str]:
    """The (image, label) feature names of a supervised image dataset."""
    tfds = _import_tfds()

    if builder.info.supervised_keys and len(builder.info.supervised_keys) == 2:
        image_key, label_key = builder.info.supervised_keys
        if isinstance(image_key, str) and isinstance(label_key, str):
            return image_key, label_key
    features = builder.info.features
    images = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    labels = [k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)]
    if not images or not labels:
        raise UsageError(f"tfds:{builder.info.name} is not an image classification dataset "
                         f"(no Image and ClassLabel features); zoo cannot train on it")
    return images[0], labels[0]


def load(argument: str | None, *, seed: int = 0, on_bad_image: str = "skip", data_dir: str | None = None,
         **options: Any) -> LoadedDataset:
    """The prepared splits, streamed from their TFRecord files; labels are read up front.

    ``on_bad_image`` is checked for a valid value only (see the module docstring).
    """
    if options:
        raise UsageError(f"dataset 'tfds' takes no option {', '.join(sorted(options))} (it takes: data_dir)")
    check_on_bad_image(on_bad_image)
    _require_tfds(argument or "NAME")
    version_dir = prepared_dir(argument, tfds_data_dir(data_dir))
    tfds = _import_tfds()

    builder = tfds.builder_from_directory(str(version_dir))
    image_key, label_key = _keys(builder)
    class_names = list(builder.info.features[label_key].names)

    def stream(split_name: str):
        def make():
            examples = builder.as_dataset(split=split_name, shuffle_files=False)
            return examples.map(lambda ex: (ex[image_key], ex[label_key]))
        return make

    splits = {}
    for split_name in builder.info.splits:
        labels_only = builder.as_dataset(split=split_name, shuffle_files=False,
                                         decoders={image_key: tfds.decode.SkipDecoding()})
        labels = [batch.numpy() for batch in labels_only.map(lambda ex: ex[label_key]).batch(8192)]
        labels = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
        splits[_split_name(split_name)] = Split(labels=labels, make_tf_dataset=stream(split_name))
    return LoadedDataset(ref=f"tfds:{argument}", class_names=class_names, splits=splits)

