"""Using a finished run: evaluate it on a dataset, predict files, export a full model."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from zoo.errors import UsageError, ZooError


def evaluate_run(loaded, dataset: str | None = None, split: str | None = None, *, batch_size: int = 64,
                 on_bad_image: str = "skip", seed: int | None = None, catalog=None, top_k: int | None = None,
                 log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score a loaded run on a labelled split.

    On the data the run was trained on (its own reference, or any dataset whose draw gives
    the very images it recorded: see :mod:`zoo.train.held_out`), the default split is the
    one the run was scored on, drawn again exactly as in training, so the held-out images
    are scored and not the training ones. Other data: its ``test``, else ``val``, else
    ``train`` split. The result names the split (``split``), how many images it scored
    (``n``) and whether they are the run's own held-out images (``same_split_as_run``).
    ``seed`` (default: the run's) drives datasets that render with one, such as
    ``digits-m``; the validation draw always uses the run's.
    """
    from zoo.data.loading import load_dataset
    from zoo.data.tfdata import make_tf_dataset
    from zoo.train.evaluation import TOP_K, evaluate

    training = loaded.run.config["training"]
    ref = dataset or training["dataset"]
    record = training.get("evaluated_split") if isinstance(training.get("evaluated_split"), dict) else None
    run_seed = training.get("seed", 0)
    data = load_dataset(ref, catalog=catalog, seed=run_seed if seed is None else seed, on_bad_image=on_bad_image)
    if data.class_names != loaded.run.class_names:
        raise UsageError(f"dataset '{ref}' has classes {data.class_names}, the run predicts "
                         f"{loaded.run.class_names}; evaluate on data with the same classes")
    data, same = as_in_training(data, record, training, same_ref=dataset is None or dataset == training["dataset"])
    names = [split] if split else ([record["split"]] if same else []) + ["test", "val", "train"]
    chosen = next((n for n in names if data.splits.get(n) is not None and len(data.splits[n])), None)
    if chosen is None:
        raise UsageError(f"dataset '{ref}' has no '{split}' split (it has {', '.join(data.splits)})" if split
                         else f"dataset '{ref}' has no examples")
    part = data.splits[chosen]
    if not part.labelled:
        raise UsageError(f"the '{chosen}' split of '{ref}' is not labelled, so it cannot be scored")
    images = make_tf_dataset(part, image_size=loaded.backbone.input_size, channels=loaded.backbone.spec.channels,
                             batch_size=batch_size, cache=False)
    metrics = evaluate(loaded.model, images, part.labels, loaded.run.class_names, top_k=top_k or TOP_K)
    own = same and record is not None and chosen == record["split"]
    metrics.update({"dataset": ref, "split": chosen, "same_split_as_run": own,
                    "bad_files": [{"path": p, "reason": r} for p, r in data.bad_files]})
    if log is not None:
        log(f"scored {len(part)} images: the '{chosen}' split of '{ref}'"
            + (", the held-out images the run was scored on" if own else
               "; these are not the images the run was scored on" if same and not split else ""))
    return metrics


def as_in_training(data, record: dict[str, Any] | None, training: dict[str, Any],
                   same_ref: bool) -> tuple[Any, bool]:
    """``(data split as the run split it, whether it is the run's own data)``.

    A dataset without a ``val`` split of its own gets the run's draw (same fraction, same
    seed) when that yields the images the run recorded, or, for a run that recorded no
    fingerprint (older runs, streamed data), when it is the run's own dataset reference.
    """
    from zoo.train.held_out import same_split

    fraction = (record or {}).get("val_split", training.get("val_split")) or None
    seed = (record or {}).get("seed", training.get("seed", 0))
    drawn = data
    if fraction and "val" not in data.splits and "train" in data.splits:
        try:
            drawn = data.with_val_split(fraction, seed)
        except UsageError:  # too small to draw from: it cannot be the run's data
            drawn = data
    if record is not None and record.get("fingerprint") is not None:
        scored = drawn.splits.get(record["split"])
        if scored is not None and same_split(record, scored):
            return drawn, True
        return data, False
    return (drawn, True) if same_ref else (data, False)


def predict_files(loaded, paths: list[str], *, top_k: int = 1, batch_size: int = 64) -> list[dict[str, Any]]:
    from zoo.data.images import expand_image_paths
    from zoo.data.tfdata import image_batches

    files = expand_image_paths(paths)
    classes = loaded.run.class_names
    top_k = max(1, min(top_k, len(classes)))
    batches = image_batches(files, loaded.backbone.input_size, channels=loaded.backbone.spec.channels,
                            batch_size=batch_size)
    probs = np.asarray(loaded.model.predict(batches, verbose=0), dtype=np.float32)
    if len(probs) != len(files):
        raise ZooError(f"{len(files) - len(probs)} of {len(files)} images could not be read; nothing predicted")
    rows = []
    for path, p in zip(files, probs):
        order = np.argsort(-p)[:top_k]
        rows.append({"file": path, "predictions": [{"label": classes[i], "probability": float(p[i])} for i in order]})
    return rows
