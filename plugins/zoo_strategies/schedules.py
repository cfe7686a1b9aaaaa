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
    if isinstance(progress, (int, float)):
        p = min(max(float(progress), 0.0), 1.0)
        return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0
    import tensorflow as tf

    p = tf.clip_by_value(tf.cast(progress, tf.float32), 0.0, 1.0)
    return 2.0 / (1.0 + tf.exp(-gamma * p)) - 1.0


def annealed_lr(lr: float, progress: float, alpha: float = ALPHA, beta: float = BETA) -> float:
    p = min(max(float(progress), 0.0), 1.0)
    return lr / (1.0 + alpha * p) ** beta


def annealed_schedule(lr: float, total_steps: int, alpha: float = ALPHA, beta: float = BETA):
    """``annealed_lr`` as a Keras learning-rate schedule over ``total_steps`` optimizer steps."""
    import keras

    class AnnealedLearningRate(keras.optimizers.schedules.LearningRateSchedule):
        def __call__(self, step):
            progress = keras.ops.minimum(keras.ops.cast(step, "float32") / float(max(total_steps, 1)), 1.0)
            return lr / keras.ops.power(1.0 + alpha * progress, beta)

        def get_config(self):
            return {"lr": lr, "total_steps": total_steps, "alpha": alpha, "beta": beta}

    return AnnealedLearningRate()
