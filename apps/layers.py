"""Layers the apps build with, registered so saved models load anywhere (``safe_mode``)."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="glasswing")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras ``BatchNormalization`` whose training step is TensorFlow's fused kernel.

    Keras 3 normalizes a batch with separate mean, variance, subtract, scale and shift
    ops (and as many again for the gradient), each a pass over the whole feature map.
    On a CPU those passes cost more than the convolutions around them: in the image
    CNN they were a quarter of the training step. ``FusedBatchNormV3`` does the same
    in one oneDNN kernel each way (bench/results.md, "BatchNorm on TensorFlow's fused kernel").

    Everything else is the parent's: inference (so export and explanations see a plain
    BatchNorm), other backends, masks, renorm, synchronized BN, non-image ranks and
    non-float32 inputs. The moving averages get the same biased batch variance Keras uses.
    """

    def call(self, inputs, training=None, mask=None):
        if not self._fused_applies(inputs, training, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True
        )
        # The fused kernel returns the unbiased variance; Keras averages the biased one.
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), variance.dtype)
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return y

    def _fused_applies(self, inputs, training, mask) -> bool:
        return bool(
            training
            and self.trainable
            and mask is None
            and keras.backend.backend() == "tensorflow"
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and self.center
            and self.scale
            and not self.renorm
            and not getattr(self, "synchronized", False)
            and keras.backend.standardize_dtype(inputs.dtype) == "float32"
        )
