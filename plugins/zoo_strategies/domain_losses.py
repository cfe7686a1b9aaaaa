"""The pieces of unsupervised domain adaptation, each small enough to check by hand.

- :class:`GradientReversal` (Ganin & Lempitsky 2015): identity going forward, the
  gradient times ``-lambda`` going back, so the features learn to fool the domain
  classifier that learns to tell source from target.
- :func:`dann_lambda`: their schedule, ``2 / (1 + exp(-10 p)) - 1`` for training
  progress ``p`` in [0, 1], so the domain signal fades in as the classifier settles.
- :func:`coral_loss` (Sun & Saenko 2016, Deep CORAL): squared Frobenius distance
  between the feature covariances of the two domains, over ``4 d^2``.
- :func:`mmd_loss`: maximum mean discrepancy with a sum of Gaussian kernels.
"""

from __future__ import annotations


def dann_lambda(progress, gamma: float = 10.0):
    import tensorflow as tf

    progress = tf.clip_by_value(tf.cast(progress, tf.float32), 0.0, 1.0)
    return 2.0 / (1.0 + tf.exp(-gamma * progress)) - 1.0


def _reverse(x, scale):
    import tensorflow as tf

    @tf.custom_gradient
    def reverse(inputs):
        def grad(upstream):
            return -scale * upstream

        return tf.identity(inputs), grad

    return reverse(x)


def gradient_reversal_layer():
    """The layer class, made on first use so this module imports without Keras."""
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="zoo")
    class GradientReversal(keras.layers.Layer):
        def __init__(self, scale: float = 1.0, **kwargs):
            super().__init__(**kwargs)
            self.scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(scale),
                                         trainable=False, name="scale", dtype="float32")

        def call(self, inputs):
            return _reverse(inputs, tf.cast(self.scale, inputs.dtype))

        def get_config(self):
            return {**super().get_config(), "scale": float(self.scale.numpy())}

    return GradientReversal


def coral_loss(source, target):
    """||C_s - C_t||_F^2 / (4 d^2), covariances unbiased (n - 1), as in Deep CORAL."""
    import tensorflow as tf

    source = tf.cast(source, tf.float32)
    target = tf.cast(target, tf.float32)
    d = tf.cast(tf.shape(source)[1], tf.float32)

    def covariance(x):
        n = tf.cast(tf.shape(x)[0], tf.float32)
        centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
        return tf.matmul(centred, centred, transpose_a=True) / (n - 1.0)

    diff = covariance(source) - covariance(target)
    return tf.reduce_sum(tf.square(diff)) / (4.0 * d * d)


def mmd_loss(source, target, bandwidths=(0.5, 1.0, 2.0, 4.0, 8.0)):
    """Biased MMD^2 estimate with a mixture of Gaussian kernels on L2-scaled distances."""
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
