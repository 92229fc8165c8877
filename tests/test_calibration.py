"""apps/calibration.py: one class's prior refit on validation and folded into the output bias."""

from __future__ import annotations

import dataclasses
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps import calibration
from apps.errors import GlasswingError


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _overconfident_background(n: int = 400, seed: int = 0):
    """Three classes; class 2 ("none of these") gets 1.5 logit too much and steals the others' examples."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), y] += 2.0
    logits[:, 2] += 1.5
    return _softmax(logits), y


def test_best_offset_undoes_a_prior_that_is_too_high():
    probs, y = _overconfident_background()
    offset, before, after = calibration.best_offset(probs, y, 2)
    assert -2.5 <= offset <= -0.5
    assert after >= before + 0.05
    # The same offset by hand gives the reported accuracy.
    shifted = np.log(probs)
    shifted[:, 2] += offset
    assert np.mean(shifted.argmax(1) == y) == pytest.approx(after)


def test_a_flat_optimum_keeps_the_model_as_it_is():
    probs = np.array([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05], [0.05, 0.05, 0.9]])
    offset, before, after = calibration.best_offset(probs, np.array([0, 1, 2]), 2)
    assert offset == 0.0 and before == after == 1.0


def _tiny_classifier(activation="softmax"):
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3, activation=activation, name="probs")(inputs))


def test_folding_the_offset_shifts_exactly_that_logit():
    model = _tiny_classifier()
    x = np.random.default_rng(1).normal(size=(16, 4)).astype("float32")
    before = np.asarray(model(x))
    calibration.fold_offset(model, 2, -1.25)
    expected = np.log(before)
    expected[:, 2] -= 1.25
    np.testing.assert_allclose(np.asarray(model(x)), _softmax(expected), atol=1e-5)


def test_a_model_without_a_softmax_output_is_refused_in_one_line():
    with pytest.raises(GlasswingError, match="last layer \\(probs\\) is not a softmax Dense layer"):
        calibration.fold_offset(_tiny_classifier("sigmoid"), 0, -1.0)


@dataclasses.dataclass
class _Cfg:
    calibrate_class: str = "none"
    data: str = ""


def _app(probs_model, x, y):
    return types.SimpleNamespace(
        labels=lambda cfg: ["a", "b", "none"],
        dataset=lambda cfg, split: tf.data.Dataset.from_tensor_slices((x, y)).batch(32),
    )


def test_calibrate_refits_on_validation_and_reports_it():
    probs, y = _overconfident_background(seed=3)
    # A model whose output is exactly these probabilities: identity features, log-prob weights.
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probs")(inputs))
    model.layers[-1].set_weights([np.eye(3, dtype="float32"), np.zeros(3, "float32")])
    x = np.log(probs).astype("float32")
    report = calibration.calibrate(_app(model, x, y), _Cfg(), model)
    assert report["class"] == "none" and report["logit_offset"] < 0
    before, after = report["validation_accuracy"]
    assert after > before
    assert np.mean(np.asarray(model(x)).argmax(1) == y) == pytest.approx(after)


# Off; a user's dataset (too few validation clips to fit a prior on), even with a class it lacks.
@pytest.mark.parametrize(("name", "data"), [("", ""), ("none", "user-1a2b"), ("_unknown_", "user-1a2b")])
def test_calibrate_is_a_no_op_without_a_class_to_refit(name, data):
    model = _tiny_classifier()
    weights = [w.copy() for w in model.get_weights()]
    app = _app(model, np.zeros((4, 4), "float32"), np.zeros(4, "int64"))
    assert calibration.calibrate(app, _Cfg(name, data), model) is None
    for a, b in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_class_the_model_does_not_predict_is_refused_before_training(tmp_path):
    from apps.cli import main
    from apps.speech import APP

    app = _app(None, np.zeros((4, 4), "float32"), np.zeros(4, "int64"))
    with pytest.raises(GlasswingError, match="calibrate_class='_unkown_' is not one of this model's classes"):
        calibration.check(app, _Cfg("_unkown_"))
    calibration.check(app, _Cfg("none"))  # a class it predicts
    # In the CLI: one line, before any data is read or a model built.
    args = ["train", "speech", "--tiny", "--models-dir", str(tmp_path), "--set", "calibrate_class=_unkown_"]
    assert main(args) == 2
    assert not (tmp_path / APP.name).exists()
