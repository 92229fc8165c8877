"""The registered losses: right values, and a model compiled with one saves and loads safely."""

import dataclasses

import numpy as np
import pytest

from apps import artifacts
from apps.image import APP
from apps.losses import SmoothedSparseCrossentropy

Y = np.array([0, 2])
P = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], "float32")


def test_no_smoothing_is_the_plain_sparse_crossentropy():
    expected = -np.mean(np.log([0.7, 0.8]))
    assert float(SmoothedSparseCrossentropy(0.0)(Y, P)) == pytest.approx(expected, rel=1e-5)


def test_smoothing_moves_the_target_towards_uniform():
    s = 0.3
    target = np.full((2, 3), s / 3)
    target[[0, 1], Y] += 1 - s
    expected = np.mean(-(target * np.log(P)).sum(axis=1))
    assert float(SmoothedSparseCrossentropy(s)(Y, P)) == pytest.approx(expected, rel=1e-5)


def test_a_model_trained_with_smoothing_reloads_in_safe_mode(image_cfg, tmp_path):
    cfg = dataclasses.replace(image_cfg, label_smoothing=0.1)
    model = APP.build(cfg)
    x, y = APP.fake_batch(cfg, 16)
    model.fit(x, y, epochs=1, verbose=0)
    artifacts.save_model(model, tmp_path / "model.keras")
    reloaded = artifacts.load_model(tmp_path / "model.keras")
    assert isinstance(reloaded.loss, SmoothedSparseCrossentropy) and reloaded.loss.smoothing == 0.1
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
