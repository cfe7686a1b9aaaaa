"""What a user can check about an adaptation run without any target label.

None of these says the target is classified right; each can say it is going wrong:

- ``domain_classifier_accuracy`` (DANN, CDAN): how well a classifier trained with the
  features tells source from target images it did not train on. 0.5 means it cannot, so
  the features of both domains look alike to it; it does NOT mean the classes line up
  (a target mapped onto the wrong classes can be just as indistinguishable);
- ``target_entropy``: the mean entropy of the target's predictions over ``log K``, 0 when
  every prediction is certain and 1 when it is uniform;
- ``target_class_shares`` and ``target_classes``: the fraction of target images predicted
  as each class, and ``exp`` of their entropy, the number of classes actually used (K if
  spread evenly, 1 if all in one). When the target's classes are about as balanced as the
  source's, a few classes taking most images means the adaptation collapsed.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

COLLAPSE_FRACTION = 0.5
"""Fewer classes used than this fraction of K: collapsed."""
COLLAPSE_OVERSHARE = 2.5
"""One class taking this many times the source's largest class share (at most 90%): collapsed."""


def prediction_signals(probs: np.ndarray, class_names: list[str], source_labels: np.ndarray) -> dict[str, Any]:
    """Entropy, class shares and classes used of the target's predictions ``probs`` (N, K)."""
    probs = np.asarray(probs, np.float64)
    k = probs.shape[1]
    entropy = -(probs * np.log(probs + 1e-12)).sum(axis=1) / math.log(max(k, 2))
    shares = np.bincount(probs.argmax(axis=1), minlength=k) / max(len(probs), 1)
    used = float(np.exp(-(shares * np.log(shares + 1e-12)).sum()))
    source_shares = np.bincount(np.asarray(source_labels, np.int64), minlength=k) / max(len(source_labels), 1)
    largest = int(shares.argmax())
    limit = min(0.9, COLLAPSE_OVERSHARE * float(source_shares.max()))
    collapsed = used < COLLAPSE_FRACTION * k or float(shares[largest]) > limit
    return {
        "target_entropy": round(float(entropy.mean()), 4),
        "target_classes": round(used, 2),
        "target_class_shares": {name: round(float(s), 4) for name, s in zip(class_names, shares)},
        "target_collapsed": bool(collapsed),
        "largest_target_class": class_names[largest],
        "largest_target_share": round(float(shares[largest]), 4),
        "largest_source_share": round(float(source_shares.max()), 4),
    }


def collapse_warning(signals: dict[str, Any], k: int) -> str | None:
    if not signals["target_collapsed"]:
        return None
    return (f"warning: the target's predictions use {signals['target_classes']:.1f} of {k} classes, and class "
            f"'{signals['largest_target_class']}' takes {signals['largest_target_share']:.0%} of the target images "
            f"(the source's largest class: {signals['largest_source_share']:.0%}): unless the target really is "
            f"that unbalanced, the adaptation collapsed; try a smaller --da-weight, another --method, or fewer "
            f"--epochs")


def epoch_line(epoch: int, logs: dict[str, Any], k: int) -> str:
    """One line of the signals the train step tracked over an epoch (target batch statistics)."""
    parts = [f"epoch {epoch + 1}: source accuracy {logs.get('accuracy', float('nan')):.3f}"]
    if "domain_accuracy" in logs:
        parts.append(f"domain classifier accuracy {logs['domain_accuracy']:.3f} (training batches)")
    parts.append(f"target entropy {logs.get('target_entropy', float('nan')):.3f}, "
                 f"target classes used {logs.get('target_classes', float('nan')):.1f} of {k}")
    return ", ".join(parts)


def signals_callback(log: Callable[[str], None], k: int):
    """A Keras callback that logs :func:`epoch_line` each epoch and warns once if the target collapses."""
    import keras

    class AdaptationSignals(keras.callbacks.Callback):
        warned = False

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            log(epoch_line(epoch, logs, k))
            used = logs.get("target_classes")
            if used is not None and used < COLLAPSE_FRACTION * k and not self.warned:
                self.warned = True
                log(f"warning: epoch {epoch + 1}: the target's predictions use only {used:.1f} of {k} classes")

    return AdaptationSignals()
