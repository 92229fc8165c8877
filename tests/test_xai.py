"""Explainers: registry, shapes, invariants with real tolerances, bad input.

Models here are tiny and built or trained in seconds; the committed image model
is exercised in ``test_xai_real.py`` (slow).
"""

from __future__ import annotations

import numpy as np
import pytest
from xai_models import (
    IMAGE_APP,
    TEXT_APP,
    TEXT_X,
    build_text_model,
    make_app,
    nested_cnn,
    trained_image_model,
)

import xai
from apps import APPS
from apps.errors import GlasswingError
from xai import _model, segments
from xai.comparison import rank_correlation


@pytest.fixture(scope="module")
def image_model():
    return trained_image_model()


@pytest.fixture(scope="module")
def text_model():
    return build_text_model()


# ---------------------------------------------------------------- registry


def test_registry_is_a_plain_dict_of_explainers():
    assert isinstance(xai.EXPLAINERS, dict)
    for name, explainer in xai.EXPLAINERS.items():
        assert explainer.name == name
        assert isinstance(explainer, xai.Explainer)


def test_available_filters_by_modality_and_task():
    assert set(xai.available(IMAGE_APP)) == set(xai.EXPLAINERS)
    assert "grad_cam" not in xai.available(TEXT_APP)
    assert "grad_cam" in xai.available(make_app("audio"))
    assert xai.available(make_app("image", task="generate")) == {}


def test_every_registered_classifier_app_has_explainers():
    for app in APPS.values():
        if app.task == "classify":
            assert {"integrated_gradients", "occlusion", "lime"} <= set(xai.available(app))


# ---------------------------------------------------------------- shapes


@pytest.mark.parametrize("method", sorted(xai.available(IMAGE_APP)))
def test_image_explainers_give_finite_maps_of_the_input_shape(image_model, method):
    model, xt, yt = image_model
    # The true class: Grad-CAM's map of a class with no positive evidence is all zero (ReLU).
    target = int(yt[0])
    result = xai.EXPLAINERS[method].explain(IMAGE_APP, model, xt[0], target=target)
    assert result.values.shape == xt[0].shape
    assert np.all(np.isfinite(result.values))
    assert result.target == target and result.method == method
    assert np.ptp(result.values) > 0


@pytest.mark.parametrize("method", sorted(xai.available(TEXT_APP)))
def test_text_explainers_give_one_value_per_token(text_model, method):
    result = xai.EXPLAINERS[method].explain(TEXT_APP, text_model, TEXT_X, tokens=list("abcdef"))
    assert result.values.shape == TEXT_X.shape
    assert np.all(np.isfinite(result.values))
    assert np.all(result.values[TEXT_X == 0] == 0), "padding is not a token"
    assert np.ptp(result.values[TEXT_X != 0]) > 0
    assert result.target == int(np.argmax(text_model(TEXT_X[None])))


# ---------------------------------------------------------------- invariants


def test_integrated_gradients_completeness_on_a_cnn(image_model):
    model, xt, yt = image_model
    for i in range(3):
        result = xai.EXPLAINERS["integrated_gradients"].explain(IMAGE_APP, model, xt[i], target=int(yt[i]))
        probs = np.asarray(model(np.stack([xt[i], np.zeros_like(xt[i])]), training=False))
        delta = probs[0, yt[i]] - probs[1, yt[i]]
        assert abs(delta) > 0.1, "baseline and input should score differently"
        assert abs(result.values.sum() - delta) <= 0.01 * abs(delta)
        assert result.extra["completeness_error"] == pytest.approx(abs(result.values.sum() - delta), abs=1e-6)
        assert result.base_value == pytest.approx(probs[1, yt[i]], abs=1e-5)


def test_integrated_gradients_completeness_on_token_embeddings(text_model):
    result = xai.EXPLAINERS["integrated_gradients"].explain(TEXT_APP, text_model, TEXT_X, steps=128)
    delta = result.extra["output_delta"]
    assert abs(delta) > 1e-4
    assert abs(result.values.sum() - delta) <= 0.01 * abs(delta) + 1e-7


def test_gradient_x_input_and_ig_are_exact_on_a_linear_model():
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input((4, 4, 1))
    flat = keras.layers.Flatten()(inputs)
    out = keras.layers.Dense(3, use_bias=False)(flat)  # linear scores: s_t(x) = w_t . x
    model = keras.Model(inputs, out)
    weights = model.layers[-1].get_weights()[0]
    x = np.random.default_rng(0).uniform(0.2, 1.0, (4, 4, 1)).astype(np.float32)
    exact = (weights[:, 2] * x.reshape(-1)).reshape(x.shape)
    gxi = xai.EXPLAINERS["gradient_input"].explain(IMAGE_APP, model, x, target=2)
    ig = xai.EXPLAINERS["integrated_gradients"].explain(IMAGE_APP, model, x, target=2, steps=4)
    saliency = xai.EXPLAINERS["saliency"].explain(IMAGE_APP, model, x, target=2)
    np.testing.assert_allclose(gxi.values, exact, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ig.values, exact, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(saliency.values.reshape(-1), np.abs(weights[:, 2]), rtol=1e-5)


def test_grad_cam_reaches_the_last_conv_inside_a_nested_model():
    import tensorflow as tf

    model, backbone, pooled, dense = nested_cnn()
    x = np.random.default_rng(3).uniform(0, 1, (12, 12, 1)).astype(np.float32)
    result = xai.EXPLAINERS["grad_cam"].explain(IMAGE_APP, model, x, target=1)
    assert result.extra["layer"] == "inner_last"
    assert result.values.shape == x.shape and np.all(result.values >= 0)
    # Reference Grad-CAM computed by hand from the backbone's output (= inner_last's),
    # with the gradient of the target's pre-softmax logit.
    stem = model.get_layer("stem")
    activations = backbone(stem(x[None]))
    with tf.GradientTape() as tape:
        tape.watch(activations)
        score = (tf.matmul(pooled(activations), dense.kernel) + dense.bias)[:, 1]
    grads = tape.gradient(score, activations)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    expected = np.maximum(np.asarray(tf.reduce_sum(weights * activations, axis=-1))[0], 0)
    np.testing.assert_allclose(result.extra["cam"], expected, rtol=1e-4, atol=1e-7)


def test_grad_cam_passes_over_a_frozen_side_model_and_follows_the_graph():
    """A frozen pretrained branch beside a trained conv (speech's embedding_head): the trained map.

    The layer list interleaves the branches (``a_conv, a_bn, side, a_relu, b_bn, ...``): its
    last conv is the frozen one's, and a walk down the list steps from it into the other branch.
    """
    import keras

    keras.utils.set_random_seed(4)
    inputs = keras.Input((12, 12, 1))
    a = keras.layers.Conv2D(6, 3, padding="same", use_bias=False, name="a_conv")(inputs)
    a = keras.layers.ReLU(name="a_relu")(keras.layers.BatchNormalization(name="a_bn")(a))
    side_in = keras.Input((12, 12, 1))
    side = keras.Model(side_in, keras.layers.Conv2D(4, 3, strides=4, name="side_conv")(side_in), name="side")
    side.trainable = False
    b = keras.layers.Flatten(name="b_flat")(keras.layers.BatchNormalization(name="b_bn")(side(inputs)))
    joined = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling2D()(a), b])
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(joined))
    assert _model.rectified_conv_layer(model).name == "a_relu"
    side.trainable = True  # unfrozen, it is a trained conv too and the last one (the walk stays in its model)
    assert _model.rectified_conv_layer(model).name == "side_conv"
    x = np.random.default_rng(0).uniform(0, 1, (12, 12, 1)).astype(np.float32)
    side.trainable = False
    assert xai.EXPLAINERS["grad_cam"].explain(IMAGE_APP, model, x, target=0).extra["layer"] == "a_relu"


def _band_region(label: int) -> np.ndarray:
    region = np.zeros((28, 28, 1), dtype=bool)
    region[2 * label + 4 : 2 * label + 6] = True
    return region


@pytest.mark.parametrize("method", ["occlusion", "lime", "integrated_gradients", "shap_partition"])
def test_explainers_find_the_informative_band(image_model, method):
    model, xt, yt = image_model
    for i in range(3):
        result = xai.EXPLAINERS[method].explain(IMAGE_APP, model, xt[i], target=int(yt[i]))
        band = _band_region(int(yt[i]))
        inside, outside = result.values[band].mean(), result.values[~band].mean()
        assert inside > outside + 0.5 * np.abs(result.values).std(), (method, inside, outside)


def test_lime_is_batched_and_fast(image_model):
    import time

    model, xt, _ = image_model
    lime = xai.EXPLAINERS["lime"]
    lime.explain(IMAGE_APP, model, xt[0])  # warm the traced predict
    start = time.perf_counter()
    result = lime.explain(IMAGE_APP, model, xt[1])
    assert time.perf_counter() - start < 3.0
    assert result.extra["samples"] == 1000


def test_prediction_only_explainers_take_any_predict_callable(image_model):
    model, xt, _ = image_model
    predict = _model.as_predict(model)

    def callable_only(batch):
        return predict(batch)

    for method in sorted(xai.PREDICTION_ONLY):
        a = xai.EXPLAINERS[method].explain(IMAGE_APP, model, xt[0])
        b = xai.EXPLAINERS[method].explain(IMAGE_APP, callable_only, xt[0])
        np.testing.assert_allclose(a.values, b.values, atol=1e-5)


def test_compare_reports_rank_correlation_of_two_models(image_model):
    model, xt, _ = image_model
    predict = _model.as_predict(model)

    def rescaled(batch):  # a stand-in for an exported copy whose scores are affinely off
        return predict(batch) * 0.98 + 0.002

    same = xai.compare(model, rescaled, xt[0], IMAGE_APP)
    assert same["rank_correlation"] > 0.999 and same["top_overlap"] == pytest.approx(1.0)
    assert 0 < same["max_prob_diff"] < 0.03
    assert same["float"].target == same["tflite"].target

    def unrelated(batch):
        rng = np.random.default_rng(1)
        return rng.dirichlet(np.ones(10), len(batch))

    other = xai.compare(model, unrelated, xt[0], IMAGE_APP)
    assert abs(other["rank_correlation"]) < 0.5 and other["top_overlap"] < 0.5


# ---------------------------------------------------------------- segments


def test_superpixels_cover_the_image_and_masks_switch_them_off():
    x = IMAGE_APP.fake_batch(IMAGE_APP.Config.tiny(), 1)[0][0]
    seg = segments.segment("image", x)
    k = segments.n_segments(seg)
    assert seg.shape == x.shape and seg.min() == 0 and 4 <= k <= 80
    keep = np.ones((2, k), dtype=int)
    keep[1, 0] = 0
    batch = segments.apply(x, seg, keep, segments.fill_value("image", x))
    np.testing.assert_array_equal(batch[0], x)
    assert np.all(batch[1][seg == 0] == 0) and np.array_equal(batch[1][seg != 0], x[seg != 0])


def test_token_segments_skip_padding_and_audio_patches_tile():
    seg = segments.segment("text", TEXT_X)
    assert list(seg) == [0, 1, 2, 3, 4, 5, -1, -1, -1, -1, -1, -1]
    batch = segments.apply(TEXT_X, seg, np.zeros((1, 6), dtype=int), segments.fill_value("text", TEXT_X))
    assert np.all(batch == 0)
    mel = np.random.default_rng(0).normal(size=(40, 16)).astype(np.float32)
    patches = segments.segment("audio", mel)
    assert segments.n_segments(patches) == 32 and patches.shape == mel.shape
    assert np.all(segments.fill_value("audio", mel) == mel.min())


# ---------------------------------------------------------------- bad input


def test_bad_inputs_raise_errors_that_name_the_problem(image_model, text_model):
    model, xt, _ = image_model
    ig = xai.EXPLAINERS["integrated_gradients"]
    with pytest.raises(GlasswingError, match=r"shape \(28, 28\).*\(28, 28, 1\)"):
        ig.explain(IMAGE_APP, model, xt[0, ..., 0])
    with pytest.raises(GlasswingError, match=r"target=10 is outside the label range 0..9"):
        ig.explain(IMAGE_APP, model, xt[0], target=10)
    with pytest.raises(GlasswingError, match=r"'grad_cam' does not support app 'toy_text'"):
        xai.EXPLAINERS["grad_cam"].explain(TEXT_APP, text_model, TEXT_X)
    with pytest.raises(GlasswingError, match="needs gradients"):
        ig.explain(IMAGE_APP, _model.as_predict(model), xt[0])
    with pytest.raises(GlasswingError, match="NaN"):
        xai.EXPLAINERS["occlusion"].explain(IMAGE_APP, model, np.full((28, 28, 1), np.nan, np.float32))
    with pytest.raises(GlasswingError, match="Unknown method='nope'"):
        xai.get_explainer("nope")
    with pytest.raises(GlasswingError, match="prediction-only"):
        xai.compare(model, model, xt[0], IMAGE_APP, method="saliency")


def test_rank_correlation_is_nan_for_constant_maps():
    assert np.isnan(rank_correlation(np.zeros(5), np.arange(5)))
    assert rank_correlation(np.arange(5), np.arange(5) * 2.0) == pytest.approx(1.0)


def test_compare_models_over_many_inputs_with_intervals(image_model):
    from xai_models import quadrant_model

    model, xt, _ = image_model
    same = xai.compare_models(IMAGE_APP, model, model, xt[:6], ["gradient_input", "occlusion"])
    assert [a.method for a in same] == ["gradient_input", "occlusion"]
    assert all(a.rank_correlation[0] == pytest.approx(1.0) and a.same_prediction == 1.0 for a in same)
    assert same[0].n == 6 and same[0].top_overlap == (pytest.approx(1.0), pytest.approx(0.0))
    other = xai.compare_models(
        IMAGE_APP, model, quadrant_model((28, 28, 1), classes=10), xt[:6], ["occlusion"]
    )
    assert other[0].rank_correlation[0] < 0.8 and other[0].rank_correlation[1] > 0
    with pytest.raises(GlasswingError, match="different inputs"):
        xai.compare_models(IMAGE_APP, model, quadrant_model((12, 12, 1)), xt[:2], ["occlusion"])


def test_agreement_leaves_text_padding_out():
    from xai.comparison import agreement

    x = np.array([5, 9, 3, 7] + [0] * 60, np.int32)
    a = np.where(x > 0, [1.0, 2.0, 3.0, 4.0] + [0] * 60, 0.0)
    b = np.where(x > 0, [4.0, 3.0, 2.0, 1.0] + [0] * 60, 0.0)
    assert rank_correlation(a, b) > 0.5  # 60 tied zeros make opposite maps look alike
    rho, overlap = agreement(TEXT_APP, x, a, b)
    assert rho == pytest.approx(-1.0) and overlap == 0.0
