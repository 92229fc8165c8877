"""apps/layers.py: the fused BatchNorm trains exactly as Keras' own and saves as a plain layer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps import artifacts
from apps.layers import FusedBatchNormalization


def _pair(shape, momentum=0.5):
    """A Keras BatchNorm and a fused one with the same non-trivial gamma and beta."""
    layers = keras.layers.BatchNormalization(momentum=momentum), FusedBatchNormalization(momentum=momentum)
    channels = shape[-1]
    for layer in layers:
        layer.build(shape)
        layer.gamma.assign(np.linspace(0.5, 2.0, channels))
        layer.beta.assign(np.linspace(-0.3, 0.3, channels))
    return layers


def test_training_step_matches_keras_batchnorm():
    x = tf.constant(np.random.RandomState(0).randn(4, 5, 6, 3).astype("float32") * 3 + 1)
    plain, fused = _pair(x.shape)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        outputs = [layer(x, training=True) for layer in (plain, fused)]
        losses = [tf.reduce_sum(y**3) for y in outputs]  # a loss whose gradient depends on y
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)
    # The moving averages get the biased batch variance, as Keras' own layer does.
    np.testing.assert_allclose(plain.moving_mean, fused.moving_mean, atol=1e-6)
    np.testing.assert_allclose(plain.moving_variance, fused.moving_variance, rtol=1e-5)
    for wrt in ("input", "gamma", "beta"):
        grads = [
            tape.gradient(loss, x if wrt == "input" else getattr(layer, wrt))
            for loss, layer in zip(losses, (plain, fused))
        ]
        np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-3, err_msg=wrt)
    # Inference reads the moving statistics, as before.
    np.testing.assert_allclose(plain(x), fused(x), atol=1e-5)


@pytest.mark.parametrize("shape", [(8, 3), (2, 4, 4, 3)])
def test_falls_back_where_the_fused_kernel_does_not_apply(shape):
    # Rank 2 (a dense layer's output) and a non-last axis take Keras' path, and still train.
    x = tf.constant(np.random.RandomState(1).randn(*shape).astype("float32"))
    plain, fused = _pair(x.shape)
    np.testing.assert_allclose(plain(x, training=True), fused(x, training=True), atol=1e-5)
    assert fused._fused_applies(x, True, None) is (len(shape) == 4)
    assert not fused._fused_applies(x, False, None)


def test_saved_model_loads_and_predicts_the_same(tmp_path):
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(3, 3)(inputs)
    model = keras.Model(inputs, FusedBatchNormalization(name="bn")(x))
    x = np.random.RandomState(2).rand(5, 6, 6, 2).astype("float32")
    model(x, training=True)  # move the statistics off their initial values
    model.save(tmp_path / "m.keras")
    loaded = artifacts.load_model(tmp_path / "m.keras")
    assert type(loaded.get_layer("bn")) is FusedBatchNormalization
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
