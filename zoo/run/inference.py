"""Using a finished run: evaluate it on a dataset, predict files, export a full model."""

from __future__ import annotations

from typing import Any

import numpy as np

from zoo.errors import UsageError, ZooError


def evaluate_run(loaded, dataset: str | None = None, split: str | None = None, *, batch_size: int = 64,
                 on_bad_image: str = "skip", seed: int | None = None, catalog=None) -> dict[str, Any]:
    """Score a loaded run on a labelled split.

    ``seed`` (default: the run's) drives datasets that split or render with one, so the
    run's own data, or a generated domain such as ``digits-m``, is the one it saw.
    """
    from zoo.data.loading import load_dataset
    from zoo.data.tfdata import make_tf_dataset
    from zoo.train.evaluation import evaluate

    config = loaded.run.config
    ref = dataset or config["training"]["dataset"]
    training = config["training"]
    same_data = dataset is None or dataset == training["dataset"]
    # the run's own dataset is split exactly as in training: same fraction, same seed
    data = load_dataset(ref, catalog=catalog, seed=training.get("seed", 0) if seed is None else seed,
                        on_bad_image=on_bad_image,
                        val_split=(training.get("val_split") or None) if same_data else None)
    if data.class_names != loaded.run.class_names:
        raise UsageError(f"dataset '{ref}' has classes {data.class_names}, the run predicts "
                         f"{loaded.run.class_names}; evaluate on data with the same classes")
    names = [split] if split else ["test", "val", "train"]
    chosen = next((n for n in names if data.splits.get(n) is not None and len(data.splits[n])), None)
    if chosen is None:
        raise UsageError(f"dataset '{ref}' has no '{split}' split (it has {', '.join(data.splits)})" if split
                         else f"dataset '{ref}' has no examples")
    part = data.splits[chosen]
    if not part.labelled:
        raise UsageError(f"the '{chosen}' split of '{ref}' is not labelled, so it cannot be scored")
    images = make_tf_dataset(part, image_size=loaded.backbone.input_size, channels=loaded.backbone.spec.channels,
                             batch_size=batch_size, cache=False)
    metrics = evaluate(loaded.model, images, part.labels, loaded.run.class_names)
    metrics.update({"dataset": ref, "split": chosen,
                    "bad_files": [{"path": p, "reason": r} for p, r in data.bad_files]})
    return metrics


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
