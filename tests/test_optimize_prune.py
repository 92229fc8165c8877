"""Magnitude pruning: schedule, exact masks, a callback that keeps pruned weights at zero."""

import dataclasses

import keras
import numpy as np
import pytest

from apps import artifacts
from apps.errors import GlasswingError
from apps.optimize import prune


def test_polynomial_decay_values():
    schedule = prune.PolynomialDecay(0.8, begin_step=10, end_step=110, frequency=25)
    assert schedule.sparsity(0) == 0.0 and schedule.sparsity(10) == 0.0
    # Half way: target * (1 - (1 - 0.5)**3) = 0.8 * 0.875.
    assert schedule.sparsity(60) == pytest.approx(0.7)
    assert schedule.sparsity(110) == pytest.approx(0.8) and schedule.sparsity(500) == pytest.approx(0.8)
    values = [schedule.sparsity(t) for t in range(10, 111)]
    assert all(a <= b for a, b in zip(values, values[1:]))
    assert [t for t in range(0, 200) if schedule.updates_at(t)] == [10, 35, 60, 85, 110]
    from_half = prune.PolynomialDecay(0.9, 0, 100, initial=0.5, power=1)
    assert from_half.sparsity(0) == pytest.approx(0.5) and from_half.sparsity(50) == pytest.approx(0.7)


def test_bad_schedules_and_sparsities_are_named():
    with pytest.raises(GlasswingError, match="initial"):
        prune.PolynomialDecay(0.5, 0, 10, initial=0.6)
    with pytest.raises(GlasswingError, match="end_step"):
        prune.PolynomialDecay(0.5, 10, 5)
    assert prune.parse_sparsities("0.8,0.5,0.8") == [0.5, 0.8]
    assert prune.parse_sparsities("0.9") == [0.9] and prune.parse_sparsities("0.5") == [0.5]
    for bad in ("0.95", "0.3", "1", "abc", "0.5,,0.8"):
        with pytest.raises(GlasswingError, match="--prune"):
            prune.parse_sparsities(bad)


def test_magnitude_mask_prunes_exactly_the_smallest():
    w = keras.Variable(np.array([[0.0, -3.0, 0.5], [0.0, 2.0, -0.1], [1.0, 0.0, 4.0]], np.float32))
    mask = keras.ops.convert_to_numpy(prune.magnitude_mask(w, 0.5))  # round(4.5) = 4 of 9
    assert mask.sum() == 5
    np.testing.assert_array_equal(mask, [[0, 1, 1], [0, 1, 0], [1, 0, 1]])
    assert keras.ops.convert_to_numpy(prune.magnitude_mask(w, 0.0)).sum() == 9


def _tiny_model():
    inputs = keras.Input((12,))
    # hidden/kernel: 12 x 96 = 1,152 entries (pruned); probs/kernel: 288 (< MIN_SIZE, stays dense).
    x = keras.layers.Dense(96, activation="relu", name="hidden")(inputs)
    x = keras.layers.BatchNormalization(name="norm")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(x)
    model = keras.Model(inputs, outputs, name="tiny")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    return model


def test_prunable_weights_are_kernels_only():
    model = _tiny_model()
    assert [w.path for w in prune.prunable_weights(model)] == ["hidden/kernel"]
    assert prune.MIN_SIZE == 1024  # probs/kernel (288 entries) is too small to prune


def test_callback_reaches_target_and_pruned_weights_stay_zero(tmp_path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(256, 12)).astype(np.float32), rng.integers(0, 3, 256)
    model = _tiny_model()
    # 8 steps per epoch; the ramp ends at step 12 (steps 0-15 in the first fit), then 20 more
    # steps at the target.
    schedule = prune.PolynomialDecay(0.75, begin_step=0, end_step=12, frequency=4)
    callback = prune.MagnitudePruning(schedule)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[callback], shuffle=False)
    zeros_at_end = {w.path: keras.ops.convert_to_numpy(w) == 0 for w in prune.prunable_weights(model)}
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[callback], shuffle=False)
    for w in prune.prunable_weights(model):
        values = keras.ops.convert_to_numpy(w)
        # Exactly round(0.75 * size) zeros, in the same places as when the ramp ended.
        assert int((values == 0).sum()) == round(0.75 * values.size), w.path
        np.testing.assert_array_equal(values == 0, zeros_at_end[w.path])
    measured = prune.sparsity_of(model)
    assert measured["prunable"] == pytest.approx(0.75, abs=1 / 1152)
    assert not (keras.ops.convert_to_numpy(model.get_layer("probs").kernel) == 0).any()
    assert measured["per_weight"]["hidden/kernel"] == pytest.approx(0.75)
    # Biases and the norm stay dense, so the whole model is less sparse than its kernels.
    assert measured["all_weights"] < measured["prunable"]

    # The saved model is a plain Keras model: no wrapper layers, reloads, keeps its zeros.
    artifacts.save_model(model, tmp_path / "model.keras")
    reloaded = artifacts.load_model(tmp_path / "model.keras")
    assert [type(layer).__name__ for layer in reloaded.layers] == [
        "InputLayer",
        "Dense",
        "BatchNormalization",
        "Dense",
    ]
    assert prune.sparsity_of(reloaded)["per_weight"] == measured["per_weight"]
    np.testing.assert_allclose(reloaded.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0), atol=1e-6)


def test_finetune_config_lowers_rate_and_applies_overrides():
    from apps.image import APP

    cfg = prune.finetune_config(APP, APP.Config(), 2, ["max_train_examples=100"])
    assert cfg.epochs == 2 and cfg.patience > 2 and cfg.warmup_fraction == 0
    assert cfg.learning_rate == pytest.approx(APP.Config().learning_rate / 10)
    assert cfg.max_train_examples == 100
    assert dataclasses.replace(cfg, max_train_examples=0) != APP.Config()
