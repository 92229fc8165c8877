"""Model FLOPs and this machine's matmul peak, for utilisation figures in the benches."""

from __future__ import annotations

import time

import numpy as np

# Layers whose cost is kernel size x output positions: convolutions and dense layers
# (EinsumDense too). Recurrent, attention-score and pooling costs are not counted, so
# for models built mostly of those the figure is a lower bound (the benches say so).
_COUNTED = (
    "Conv1D",
    "Conv2D",
    "Conv2DTranspose",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "Dense",
    "EinsumDense",
)


def forward_flops(model) -> tuple[float, bool]:
    """FLOPs (2 x multiply-adds) of one example's forward pass; and whether all weighted layers counted."""
    total, complete = 0.0, True
    for layer in _leaf_layers(model):
        if not layer.weights:
            continue
        if type(layer).__name__ not in _COUNTED:
            # Normalizations (subclasses too) are cheap next to the layers they follow.
            complete = complete and isinstance(layer, _norm_types())
            continue
        # A conv's output positions (a transposed conv's input ones); () for a dense layer.
        spatial = (layer.input if type(layer).__name__ == "Conv2DTranspose" else layer.output).shape[1:-1]
        if any(d is None for d in spatial):  # a variable length (a sequence model): not counted
            complete = False
            continue
        positions = float(np.prod(spatial)) if len(spatial) else 1.0
        kernels = [
            w for w in layer.weights if w.path.endswith(("kernel", "depthwise_kernel", "pointwise_kernel"))
        ]
        if type(layer).__name__ == "DepthwiseConv2D":
            positions /= layer.output.shape[-1]  # one filter per channel, not per channel pair
        total += 2 * positions * sum(float(np.prod(k.shape)) for k in kernels)
    return total, complete


def _norm_types() -> tuple:
    import keras

    return (keras.layers.BatchNormalization, keras.layers.LayerNormalization)


def train_flops(model) -> tuple[float, bool]:
    """Training FLOPs per example: about 3x the forward pass (forward, input and weight gradients)."""
    flops, complete = forward_flops(model)
    return 3 * flops, complete


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of an ``n``-cubed float32 matmul in TensorFlow: best of ``repeats``."""
    import tensorflow as tf

    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    (a @ b).numpy()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        (a @ b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def _leaf_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _leaf_layers(layer)
        else:
            yield layer
