"""Contract test over every registered app (keras-hub's run_task_test and friends).

A new app is covered by adding it to ``apps.APPS``.
"""

import numpy as np
import pytest

from apps import APPS
from apps.artifacts import load_model
from apps.conversion import export_inputs, export_model, exported_model
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
    if getattr(model, "inputs", None):
        expected = tuple(model.inputs[0].shape[1:])
        # None = any size (e.g. a language model's sequence length).
        assert len(x.shape[1:]) == len(expected)
        assert all(d is None or d == s for d, s in zip(expected, x.shape[1:])), (x.shape, expected)
    else:  # subclassed models (custom train_step) have no symbolic inputs: they must accept x
        assert np.isfinite(np.asarray(model(x[:2], training=False))).all()
    assert len(x) == len(y) == 32


def test_fit_one_epoch_gives_a_finite_loss(trained):
    history = trained[5]
    assert np.isfinite(history.history["loss"][0])


def test_predict_shape_and_probabilities(trained):
    app, cfg, model, x, _, _ = trained
    out = np.asarray(model(x[:5], training=False))
    assert out.shape[0] == 5 and np.isfinite(out).all()
    if app.task == "classify":
        assert out.shape == (5, len(app.labels(cfg)))
        np.testing.assert_allclose(out.sum(axis=-1), 1.0, atol=1e-5)


def test_generators_offer_their_functions(trained, tmp_path):
    app, cfg, model, _, _, _ = trained
    if app.task != "generate":
        pytest.skip("not a generator")
    assert app.generative is not None, "task='generate' apps provide Generative hooks"
    for name, text in (app.artifact_files(cfg) if app.artifact_files else {}).items():
        (tmp_path / name).write_text(text)
    generator = app.generator(model, tmp_path)
    wanted = {"image": ("sample", "reconstruct", "interpolate", "encode", "grid"), "text": ("generate",)}
    assert all(callable(getattr(generator, f, None)) for f in wanted[app.modality])


def test_keras_file_round_trip(trained, tmp_path):
    _, _, model, x, _, _ = trained
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = load_model(path)
    np.testing.assert_allclose(
        np.asarray(reloaded(x[:8], training=False)), np.asarray(model(x[:8], training=False)), atol=1e-6
    )


def test_float32_tflite_matches_keras(trained, tmp_path):
    app, cfg, model, x, _, _ = trained
    # What `glasswing export` converts: the export variant (e.g. a VAE's decoder) on its
    # inputs; for raw-input apps (speech) with the front-end folded in, on raw signals.
    exported = exported_model(app, model, cfg, "float32")
    inputs = app.raw.fake(cfg, 8) if app.raw else np.asarray(export_inputs(app, model, cfg, x[:8]))
    path = tmp_path / "float32.tflite"
    export_model(exported, path, "float32")
    runner = LiteRTModel(path)
    assert list(runner.input_details["shape"]) == [1, *inputs.shape[1:]]
    np.testing.assert_allclose(runner(inputs), np.asarray(exported(inputs, training=False)), atol=1e-4)


def test_raw_input_frontend_gives_the_model_input(trained):
    app, cfg, model, x, _, _ = trained
    if app.raw is None:
        pytest.skip("the exported file takes the model input itself")
    signals = app.raw.fake(cfg, 3)
    assert signals.shape == (3, *app.raw.shape(cfg))
    features = np.asarray(app.raw.frontend(cfg)(signals))
    assert features.shape == (3, *x.shape[1:]) and np.isfinite(features).all()
    # preprocess is the same front-end (of the default Config, which preprocess uses) applied to
    # one loaded signal.
    clip, _ = app.raw.load(signals[0], cfg)
    default = np.asarray(app.raw.frontend(app.Config())(signals[:1]))[0]
    np.testing.assert_allclose(app.preprocess(clip), default, rtol=1e-5, atol=1e-4)
