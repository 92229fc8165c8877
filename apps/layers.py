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


# Test-time averaging: at inference the batch goes through the network several times over,
# as itself, mirrored and (optionally) shifted a pixel or two each way, and the views'
# features are averaged before the classifier; in training both layers pass their input
# through (the data pipeline flips and shifts at random instead). Both are pure ops
# (concat, reverse, pad, slice), so the exported .tflite graphs keep them.


def _shifted(images, rows: int, cols: int):
    """``images`` moved ``rows`` down and ``cols`` right (up, left if negative), zeros filling
    in as in training's random shifts."""
    height, width = images.shape[1], images.shape[2]
    padding = [[0, 0], [max(rows, 0), max(-rows, 0)], [max(cols, 0), max(-cols, 0)], [0, 0]]
    padded = keras.ops.pad(images, padding)
    top, left = max(-rows, 0), max(-cols, 0)
    return padded[:, top : top + height, left : left + width, :]


@keras.saving.register_keras_serializable(package="glasswing")
class MirrorViews(keras.layers.Layer):
    """At inference, ``(n, h, w, c)`` -> ``(v * n, h, w, c)``: the batch and its left-right mirror,
    then both again moved by each ``(rows, cols)`` pixel pair of ``shifts`` (``v = 2 * (1 + len(shifts))``).

    Layers between this and :class:`MeanOfViews` see every view; an explainer that reads
    one of them for example ``i`` gets the original view in row ``i``.
    """

    def __init__(self, shifts=(), **kwargs):
        super().__init__(**kwargs)
        self.shifts = tuple((int(rows), int(cols)) for rows, cols in shifts)

    @property
    def views(self) -> int:
        """How many views of each image the layer makes."""
        return 2 * (1 + len(self.shifts))

    def call(self, inputs, training=None):
        if training:
            return inputs
        both = keras.ops.concatenate([inputs, keras.ops.flip(inputs, axis=2)], axis=0)
        return keras.ops.concatenate([both, *(_shifted(both, *shift) for shift in self.shifts)], axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "shifts": [list(shift) for shift in self.shifts]}


@keras.saving.register_keras_serializable(package="glasswing")
class MeanOfViews(keras.layers.Layer):
    """At inference, ``(views * n, ...)`` from :class:`MirrorViews` -> ``(n, ...)``: the mean over the views.

    Placed before a linear classifier, the mean of the features is the mean of the logits.
    """

    def __init__(self, views: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.views = int(views)

    def call(self, inputs, training=None):
        if training:
            return inputs
        # The views were stacked along the batch, view after view: split that axis in two.
        by_view = keras.ops.reshape(inputs, (self.views, -1, *inputs.shape[1:]))
        return keras.ops.mean(by_view, axis=0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "views": self.views}
