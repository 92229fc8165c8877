"""Losses the apps compile with, registered so saved models load anywhere (``safe_mode``)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="glasswing")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels against targets smoothed towards uniform.

    Keras' sparse cross-entropy has no ``label_smoothing``; this one-hots the
    labels and uses the categorical loss's. ``smoothing=0`` is the plain loss.
    """

    def __init__(self, smoothing: float = 0.1, name: str = "smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smoothing = float(smoothing)

    def call(self, y_true, y_pred):
        classes = ops.shape(y_pred)[-1]
        onehot = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(onehot, y_pred, label_smoothing=self.smoothing)

    def get_config(self) -> dict:
        return {**super().get_config(), "smoothing": self.smoothing}
