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


def _image_models(*overrides):
    """A tiny image CNN with test-time averaging (default, or ``overrides``), and its weights without it."""
    from apps.app import apply_overrides
    from apps.image import APP
    from apps.train import with_weights_of

    keras.utils.set_random_seed(0)
    tiny = ["filters=4", "dense_units=8", "dense_dropout=0"]  # no dropout: training outputs compare
    tta = APP.build(apply_overrides(APP.Config(), [*tiny, *overrides]))
    return tta, with_weights_of(APP, apply_overrides(APP.Config(), [*tiny, "flip_tta=false"]), tta)


def _shifted(x, rows: int, cols: int):
    """``x`` moved ``rows`` down and ``cols`` right (up, left if negative), zeros filling in; with np.roll."""
    out = np.roll(x, (rows, cols), axis=(1, 2))
    out[:, : max(rows, 0)] = out[:, out.shape[1] + min(rows, 0) :] = 0
    out[:, :, : max(cols, 0)] = out[:, :, out.shape[2] + min(cols, 0) :] = 0
    return out


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_test_time_averaging_is_the_mean_of_every_views_logits(shift):
    tta, plain = _image_models(f"tta_shift={shift}")
    assert {"mirror_views", "mean_of_views"} <= {layer.name for layer in tta.layers}
    assert not {"mirror_views", "mean_of_views"} & {layer.name for layer in plain.layers}
    x = np.random.RandomState(1).rand(3, 28, 28, 1).astype("float32")
    features = keras.Model(plain.inputs, plain.get_layer("fc_drop").output)
    moves = [(0, shift), (0, -shift), (shift, 0), (-shift, 0)] if shift else []
    views = [v for m in (x, x[:, :, ::-1]) for v in [m, *(_shifted(m, *move) for move in moves)]]
    assert len(views) == tta.get_layer("mean_of_views").views == (10 if shift else 2)
    mean = np.mean([features(v) for v in views], axis=0)
    expected = tta.get_layer("probs")(mean)
    np.testing.assert_allclose(tta.predict(x, verbose=0), expected, atol=1e-5)
    # Mirror-invariant by construction, and not the plain model's answer.
    np.testing.assert_allclose(tta.predict(x[:, :, ::-1], verbose=0), expected, atol=1e-5)
    assert np.abs(plain.predict(x, verbose=0) - expected).max() > 1e-4
    # Training sees one view per image, as the data pipeline flipped it.
    np.testing.assert_allclose(tta(x, training=True), plain(x, training=True), atol=1e-5)


def test_flip_averaging_survives_save_and_load(tmp_path):
    tta, _ = _image_models()
    tta.save(tmp_path / "m.keras")
    loaded = artifacts.load_model(tmp_path / "m.keras")
    x = np.random.RandomState(2).rand(2, 28, 28, 1).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), tta.predict(x, verbose=0), atol=1e-6)


def test_explainers_read_the_unmirrored_view():
    import xai
    from apps.image import APP
    from xai import features

    tta, plain = _image_models()
    x = np.random.RandomState(3).rand(2, 28, 28, 1).astype("float32")
    # Inner layers run on both views; explainers get the rows of the images as given.
    maps = features.activations(tta, "block1_1_conv", x)
    np.testing.assert_allclose(maps, features.activations(plain, "block1_1_conv", x), atol=1e-5)
    cam = xai.EXPLAINERS["grad_cam"].explain(APP, tta, x[0], 3)
    assert cam.values.shape == (28, 28, 1) or cam.values.shape == (28, 28)
    assert np.isfinite(cam.values).all()
