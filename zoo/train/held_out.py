"""Which images a run was scored on, recorded so that ``zoo evaluate`` can score the same ones.

A run scores its ``test`` split, else its ``val`` split, which zoo may have drawn from
``train`` itself (``--val-split``, stratified, by ``--seed``). The run's ``config.json``
keeps, under ``training.evaluated_split``, that split's name and size, the fraction and
seed of the draw and a fingerprint of the split's examples: their labels and contents
(the bytes of each image file, wherever the folder now is; the pixels of an array). A
dataset given to ``zoo evaluate`` that yields the same fingerprint under the same draw is
the run's own data, wherever it lives now; a folder of other images with the same names
is not.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from zoo.util.files import sha256_file


def split_fingerprint(split) -> str | None:
    """A sha256 over the split's (label, example) pairs, in any order; ``None`` for a streamed split."""
    if split is None or split.kind == "stream":
        return None
    if split.files is not None:
        keys = [sha256_file(f).encode() for f in split.files]
    else:
        keys = [hashlib.sha256(np.ascontiguousarray(image).tobytes()).digest() for image in split.images]
    pairs = sorted(int(label).to_bytes(8, "little", signed=True) + key for label, key in zip(split.labels, keys))
    digest = hashlib.sha256()
    for pair in pairs:
        digest.update(len(pair).to_bytes(4, "little") + pair)
    return digest.hexdigest()


def evaluated_split_record(name: str, split, val_split: float, seed: int) -> dict[str, Any]:
    return {"split": name, "images": len(split), "fingerprint": split_fingerprint(split),
            "val_split": val_split, "seed": seed}


def same_split(record: dict[str, Any] | None, split) -> bool:
    """Whether ``split`` holds exactly the images ``record`` (an :func:`evaluated_split_record`) describes."""
    return bool(record) and record.get("fingerprint") is not None and len(split) == record.get("images") \
        and split_fingerprint(split) == record["fingerprint"]
