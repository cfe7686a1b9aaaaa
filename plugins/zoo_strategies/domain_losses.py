"""The pieces of unsupervised domain adaptation, each small enough to check by hand.

- :func:`reverse_gradient` and the ``GradientReversal`` layer (Ganin & Lempitsky 2015):
  identity going forward, the gradient times ``-scale`` going back, so the features
  learn to fool the domain classifier that learns to tell source from target.
- :func:`coral_loss` (Sun & Saenko 2016, Deep CORAL): squared Frobenius distance
  between the feature covariances of the two domains, over ``4 d^2``.
- :func:`mmd_loss`: squared maximum mean discrepancy with a sum of Gaussian kernels
  (Long et al. 2015's multi-kernel form, bandwidths relative to the mean distance).
- :func:`multilinear_map` and :func:`certainty_weights` (CDAN+E, Long et al. 2018): the
  domain classifier sees features conditioned on the predicted classes, and confident
  examples weigh more.
- :func:`mcc_loss` (Minimum Class Confusion, Jin et al. 2020): no domain classifier; the
  target's predictions are pushed to confuse fewer classes with each other.

The schedules (the DANN lambda, the annealed learning rate) are in
:mod:`zoo_strategies.schedules`.
"""

from __future__ import annotations

import functools


def reverse_gradient(x, scale):
    """``x`` unchanged; the gradient flowing back through it is multiplied by ``-scale``."""
    import tensorflow as tf

    @tf.custom_gradient
    def reverse(inputs):
        def grad(upstream):
            return -tf.cast(scale, upstream.dtype) * upstream

        return tf.identity(inputs), grad

    return reverse(x)


@functools.lru_cache(maxsize=None)
def gradient_reversal_layer():
    """The ``GradientReversal`` layer class, made (and registered) once, on first use, so
    this module imports without Keras."""
    import keras

    @keras.saving.register_keras_serializable(package="zoo")
    class GradientReversal(keras.layers.Layer):
        """Gradient reversal with a settable ``scale`` (a non-trainable variable: the DANN lambda)."""

        def __init__(self, scale: float = 1.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(scale),
                                         trainable=False, name="scale", dtype="float32",
                                         aggregation="only_first_replica")  # set in replica context
            self.built = True  # its one weight is made here

        def call(self, inputs):
            return reverse_gradient(inputs, self.scale)

        def get_config(self):
            return {**super().get_config(), "scale": float(self.scale.numpy())}

    return GradientReversal


def covariance(x):
    """Unbiased feature covariance (rows are examples), ``(d, d)``."""
    import tensorflow as tf

    n = tf.cast(tf.shape(x)[0], tf.float32)
    centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
    return tf.matmul(centred, centred, transpose_a=True) / (n - 1.0)


def coral_loss(source, target):
    """``||C_s - C_t||_F^2 / (4 d^2)``, covariances unbiased (n - 1), as in Deep CORAL."""
    import tensorflow as tf

    source = tf.cast(source, tf.float32)
    target = tf.cast(target, tf.float32)
    d = tf.cast(tf.shape(source)[1], tf.float32)
    diff = covariance(source) - covariance(target)
    return tf.reduce_sum(tf.square(diff)) / (4.0 * d * d)


MMD_BANDWIDTHS = (0.5, 1.0, 2.0, 4.0, 8.0)


def mmd_loss(source, target, bandwidths=MMD_BANDWIDTHS):
    """Biased MMD^2 estimate, kernel ``sum_b exp(-||x - y||^2 / (b * m))``.

    ``m`` is the mean squared distance over both domains in the batch (not
    differentiated), so the kernels follow the features' scale.
    """
    import tensorflow as tf

    source = tf.cast(source, tf.float32)
    target = tf.cast(target, tf.float32)
    joined = tf.concat([source, target], axis=0)
    squared = tf.reduce_sum(tf.square(joined), axis=1, keepdims=True)
    distances = tf.maximum(squared - 2.0 * tf.matmul(joined, joined, transpose_b=True) + tf.transpose(squared), 0.0)
    scale = tf.stop_gradient(tf.reduce_mean(distances)) + 1e-8
    kernel = tf.add_n([tf.exp(-distances / (scale * b)) for b in bandwidths])
    n = tf.shape(source)[0]
    k_ss, k_tt, k_st = kernel[:n, :n], kernel[n:, n:], kernel[:n, n:]
    return tf.reduce_mean(k_ss) + tf.reduce_mean(k_tt) - 2.0 * tf.reduce_mean(k_st)


def entropy(probs):
    """Per-row Shannon entropy (nats) of class probabilities."""
    import tensorflow as tf

    probs = tf.cast(probs, tf.float32)
    return -tf.reduce_sum(probs * tf.math.log(probs + 1e-7), axis=1)


def certainty_weights(probs):
    """CDAN+E's and MCC's example weights ``1 + exp(-H(p))``, scaled to average 1 over the batch.

    Confident predictions count more: their class (CDAN's conditioning, MCC's confusion)
    is more likely right than that of a near-uniform one.
    """
    import tensorflow as tf

    weights = 1.0 + tf.exp(-entropy(probs))
    return tf.stop_gradient(weights / tf.reduce_mean(weights))


RANDOM_MAP_LIMIT = 4096
RANDOM_MAP_DIM = 1024


def multilinear_map_size(feature_dim: int, num_classes: int) -> int:
    """The width of CDAN's conditioned features: ``d * K``, or a random projection's above 4,096."""
    product = feature_dim * num_classes
    return product if product <= RANDOM_MAP_LIMIT else RANDOM_MAP_DIM


def multilinear_map(features, probs, projections=None):
    """CDAN's conditioning (Long et al. 2018): the outer product ``f (x) p`` flattened to ``d * K``.

    With ``projections`` (two fixed random matrices, for large ``d * K``) the randomised map
    ``(f R_f) * (p R_p) / sqrt(m)`` of the paper instead.
    """
    import tensorflow as tf

    features = tf.cast(features, tf.float32)
    probs = tf.cast(probs, tf.float32)
    if projections is not None:
        by_features, by_probs = projections
        width = float(by_features.shape[1])
        return tf.matmul(features, by_features) * tf.matmul(probs, by_probs) / width ** 0.5
    outer = features[:, :, None] * probs[:, None, :]
    return tf.reshape(outer, (-1, features.shape[1] * probs.shape[1]))


MCC_TEMPERATURE = 2.5


def mcc_loss(probs, temperature: float = MCC_TEMPERATURE):
    """Minimum Class Confusion (Jin et al. 2020) on a batch of target predictions.

    The predictions are softened by ``temperature`` (applied to their log-probabilities,
    which are the logits up to a per-row constant), weighted by certainty, and their
    class-correlation matrix ``P^T W P`` is normalised per class (each row sums to 1);
    the loss is the mass off its diagonal over ``K``: how often the batch confuses one
    class with another. It is 0 when every prediction is one-hot, whatever the class.
    """
    import tensorflow as tf

    probs = tf.cast(probs, tf.float32)
    softened = tf.nn.softmax(tf.math.log(probs + 1e-7) / temperature, axis=1)
    weights = certainty_weights(softened)
    correlation = tf.matmul(softened * weights[:, None], softened, transpose_a=True)
    correlation = correlation / (tf.reduce_sum(correlation, axis=1, keepdims=True) + 1e-7)
    classes = tf.cast(tf.shape(probs)[1], tf.float32)
    return (tf.reduce_sum(correlation) - tf.linalg.trace(correlation)) / classes
