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


# Test-time flip averaging: at inference the batch goes through the network twice over, as
# itself and mirrored, and the two views' features are averaged before the classifier; in
# training both layers pass their input through (the data pipeline flips at random instead).
# Both are pure ops (concat, reverse, slice), so the exported .tflite graphs keep them.


@keras.saving.register_keras_serializable(package="glasswing")
class MirrorViews(keras.layers.Layer):
    """At inference, ``(n, h, w, c)`` -> ``(2n, h, w, c)``: the batch, then its left-right mirror.

    Layers between this and :class:`MeanOfViews` see both views; an explainer that reads
    one of them for example ``i`` gets the unmirrored view in row ``i``.
    """

    def call(self, inputs, training=None):
        if training:
            return inputs
        return keras.ops.concatenate([inputs, keras.ops.flip(inputs, axis=2)], axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="glasswing")
class MeanOfViews(keras.layers.Layer):
    """At inference, ``(2n, ...)`` from :class:`MirrorViews` -> ``(n, ...)``: the mean of both views.

    Placed before a linear classifier, the mean of the features is the mean of the logits.
    """

    def call(self, inputs, training=None):
        if training:
            return inputs
        half = keras.ops.shape(inputs)[0] // 2
        return (inputs[:half] + inputs[half:]) / 2.0

    def compute_output_shape(self, input_shape):
        return input_shape
