"""The two schedules of Ganin & Lempitsky (2015), as functions of training progress ``p`` in [0, 1].

- the domain weight ``lambda_p = 2 / (1 + exp(-gamma p)) - 1`` (gamma = 10): 0 at the
  start, when the features are still noise, and close to 1 from about a third of the way;
- the learning rate ``mu_p = mu_0 / (1 + alpha p) ** beta`` (alpha = 10, beta = 0.75),
  for SGD with momentum 0.9, which the paper uses and without which the adversarial game
  tends to blow up.

Both read the optimizer's step counter, which checkpoints keep, so a resumed run
continues the schedules where it stopped.
"""

from __future__ import annotations

import math

GAMMA = 10.0
ALPHA = 10.0
BETA = 0.75


def dann_lambda(progress, gamma: float = GAMMA):
    """The paper's domain weight for ``progress`` in [0, 1] (a float or a tensor)."""
    p = _clipped(progress)
    return 2.0 / (1.0 + _exp(-gamma * p)) - 1.0


def annealed_lr(lr: float, progress, alpha: float = ALPHA, beta: float = BETA):
    """The paper's learning rate for ``progress`` in [0, 1] (a float or a tensor)."""
    return lr / (1.0 + alpha * _clipped(progress)) ** beta


def annealed_schedule(lr: float, total_steps: int, alpha: float = ALPHA, beta: float = BETA):
    """:func:`annealed_lr` as a Keras learning-rate schedule over ``total_steps`` optimizer steps."""
    import keras

    class AnnealedLearningRate(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            return annealed_lr(lr, keras.ops.cast(step, "float32") / float(max(total_steps, 1)), alpha, beta)

        def get_config(self):
            return {"lr": lr, "total_steps": total_steps, "alpha": alpha, "beta": beta}

    return AnnealedLearningRate()


def _clipped(progress):
    """``progress`` limited to [0, 1]: a Python float for a number, a float32 tensor otherwise."""
    if isinstance(progress, (int, float)):
        return min(max(float(progress), 0.0), 1.0)
    import keras

    return keras.ops.clip(keras.ops.cast(progress, "float32"), 0.0, 1.0)


def _exp(x):
    if isinstance(x, float):
        return math.exp(x)
    import keras

    return keras.ops.exp(x)
