"""Contract test over every registered app (keras-hub's run_task_test and friends).

A new app is covered by adding it to ``apps.APPS``.
"""

import numpy as np
import pytest

from apps import APPS
from apps.artifacts import load_model
from apps.export import export_model
from apps.litert import LiteRTModel


@pytest.fixture(scope="module", params=sorted(APPS))
def trained(request, tmp_path_factory):
    """(app, cfg, model, x, y): a tiny model fitted for one epoch on fake_batch."""
    import keras

    app = APPS[request.param]
    cfg = app.Config.tiny()
    keras.utils.set_random_seed(cfg.seed)
    x, y = app.fake_batch(cfg, 32)
    model = app.build(cfg)
    history = model.fit(x, y, epochs=1, batch_size=cfg.batch_size, verbose=0)
    return app, cfg, model, x, y, history


def test_fake_batch_matches_the_model_input(trained):
    app, cfg, model, x, y, _ = trained
    assert x.shape[1:] == tuple(model.inputs[0].shape[1:])
    assert len(x) == len(y) == 32


def test_fit_one_epoch_gives_a_finite_loss(trained):
    history = trained[5]
    assert np.isfinite(history.history["loss"][0])


def test_predict_shape_and_probabilities(trained):
    app, cfg, model, x, _, _ = trained
    out = np.asarray(model(x[:5], training=False))
    if app.task == "classify":
        assert out.shape == (5, len(app.labels(cfg)))
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-5)


def test_keras_file_round_trip(trained, tmp_path):
    _, _, model, x, _, _ = trained
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = load_model(path)
    np.testing.assert_allclose(
        np.asarray(reloaded(x[:8], training=False)), np.asarray(model(x[:8], training=False)), atol=1e-6
    )


def test_float32_tflite_matches_keras(trained, tmp_path):
    _, _, model, x, _, _ = trained
    path = tmp_path / "float32.tflite"
    export_model(model, path, "float32")
    runner = LiteRTModel(path)
    assert list(runner.input_details["shape"]) == [1, *x.shape[1:]]
    np.testing.assert_allclose(runner(x[:8]), np.asarray(model(x[:8], training=False)), atol=1e-4)
