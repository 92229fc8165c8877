"""The VAE app: its losses, train_step, generation functions, metrics, decoder export and CLI."""

import dataclasses

import numpy as np
import pytest

from apps.cli import main
from apps.errors import GlasswingError
from apps.vae import APP
from apps.vae.generate import VaeGenerator, grid, sample_scores
from apps.vae.model import kl_divergence, reconstruction_nll


def test_kl_is_zero_at_the_prior_and_positive_elsewhere():
    rng = np.random.default_rng(0)
    zeros = np.zeros((3, 4), np.float32)
    np.testing.assert_allclose(np.asarray(kl_divergence(zeros, zeros)), 0.0, atol=1e-7)
    mean = rng.normal(size=(50, 4)).astype(np.float32)
    log_var = rng.normal(size=(50, 4)).astype(np.float32)
    kl = np.asarray(kl_divergence(mean, log_var))
    assert (kl > 0).all()
    # Closed form for one dimension: 0.5 * (mu^2 + s^2 - 1 - log s^2).
    expected = 0.5 * (mean**2 + np.exp(log_var) - 1.0 - log_var).sum(-1)
    np.testing.assert_allclose(kl, expected, rtol=1e-5)


def test_reconstruction_nll_is_the_summed_bernoulli_likelihood():
    x = np.array([[[[1.0]], [[0.0]]]], np.float32)  # one "image" of two pixels
    p = np.array([[[[0.8]], [[0.3]]]], np.float32)
    expected = -(np.log(0.8) + np.log(0.7))
    np.testing.assert_allclose(np.asarray(reconstruction_nll(x, p)), [expected], rtol=1e-5)


@pytest.fixture(scope="module")
def fitted():
    """A small VAE and its loss on fake images before and after a few epochs."""
    import keras

    cfg = APP.Config.tiny(latent_dim=4, filters=8, dense_units=32)
    keras.utils.set_random_seed(cfg.seed)
    x, y = APP.fake_batch(cfg, 128)
    model = APP.build(cfg)
    before = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    after = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)
    return cfg, model, x, y, before, after, history


def test_train_step_tracks_losses_and_lowers_the_negative_elbo(fitted):
    _, _, _, _, before, after, history = fitted
    assert {"loss", "reconstruction_loss", "kl_loss"} <= set(history.history)
    assert all(v >= 0 for v in history.history["kl_loss"])
    # loss = reconstruction + beta * KL (beta = 1): the negative ELBO, per image in nats.
    assert after["loss"] == pytest.approx(after["reconstruction_loss"] + after["kl_loss"], rel=1e-4)
    assert after["loss"] < 0.8 * before["loss"], (before, after)


def test_beta_weights_the_kl_term():
    import keras

    cfg = APP.Config.tiny(beta=0.0)
    keras.utils.set_random_seed(cfg.seed)
    x, y = APP.fake_batch(cfg, 32)
    model = APP.build(cfg)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(logs["reconstruction_loss"], rel=1e-5) and logs["kl_loss"] > 0


def test_sample_is_deterministic_for_a_seed(fitted):
    _, model, *_ = fitted
    gen = VaeGenerator(model)
    a, b, c = gen.sample(6, seed=3), gen.sample(6, seed=3), gen.sample(6, seed=4)
    assert a.shape == (6, 28, 28, 1) and a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_interpolation_runs_between_the_two_reconstructions(fitted):
    _, model, x, *_ = fitted
    gen = VaeGenerator(model)
    path = gen.interpolate(x[0], x[1], steps=5)
    assert path.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(path[0], gen.reconstruct(x[0])[0], atol=1e-5)
    np.testing.assert_allclose(path[-1], gen.reconstruct(x[1])[0], atol=1e-5)
    assert gen.encode(x[:7]).shape == (7, gen.latent_dim)


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda g, x: g.sample(0), "n must be between 1"),
        (lambda g, x: g.sample(-3), "n must be between 1"),
        (lambda g, x: g.sample(10**6), "n must be between 1"),
        (lambda g, x: g.sample(2.5), "whole number"),
        (lambda g, x: g.interpolate(x[0], x[1], steps=1), "steps must be >= 2"),
        (lambda g, x: g.encode(np.zeros((5, 5))), "expected images of shape"),
        (lambda g, x: g.reconstruct(np.full((28, 28, 1), np.nan)), "NaN"),
        (lambda g, x: g.decode(np.zeros((2, 99))), "latent vectors of shape"),
    ],
)
def test_bad_arguments_are_clear_errors(fitted, call, fragment):
    _, model, x, *_ = fitted
    with pytest.raises(GlasswingError, match=fragment):
        call(VaeGenerator(model), x)


def test_grid_tiles_images_with_gaps():
    images = np.ones((5, 28, 28, 1), np.float32)
    picture = grid(images)
    assert picture.shape == (2 * 28 + 2, 3 * 28 + 4) and picture.dtype == np.uint8
    assert picture.max() == 255 and picture[:, 28:30].max() == 0


def test_sample_scores_reward_confident_and_diverse_predictions():
    confident_diverse = np.eye(10)[np.arange(100) % 10]
    scores = sample_scores(confident_diverse)
    assert scores["inception_style_score"] == pytest.approx(10.0)
    assert scores["mean_prediction_entropy"] == pytest.approx(0.0)
    collapsed = sample_scores(np.eye(10)[np.zeros(100, int)])
    assert collapsed["inception_style_score"] == pytest.approx(1.0)
    uniform = sample_scores(np.full((20, 10), 0.1))
    assert uniform["inception_style_score"] == pytest.approx(1.0)
    assert uniform["marginal_entropy"] == pytest.approx(np.log(10))


@pytest.fixture(scope="module")
def trained_vae(image_data_dir, tmp_path_factory):
    """A tiny VAE trained through the shared path on synthetic data, decoder exported to int8."""
    from apps import export
    from apps.train import train

    models = tmp_path_factory.mktemp("models")
    cfg = dataclasses.replace(
        APP.Config.tiny(latent_dim=4, filters=8, dense_units=32),
        data_dir=str(image_data_dir),
        epochs=2,
        max_train_examples=512,
    )
    folder = train(APP, cfg, models)
    report = export.export(APP, models, "int8")
    return models, folder, report


def test_training_writes_elbo_and_classifier_scores(trained_vae):
    from apps import artifacts

    _, folder, _ = trained_vae
    metrics = artifacts.read_json(folder / "metrics.json")
    assert metrics["kl"] >= 0 and metrics["reconstruction_nll"] > 0
    assert metrics["elbo"] == pytest.approx(-(metrics["reconstruction_nll"] + metrics["kl"]), rel=1e-6)
    assert 0.0 <= metrics["classifier_accuracy_on_reconstructions"] <= 1.0
    assert 1.0 <= metrics["samples"]["inception_style_score"] <= 10.0 + 1e-6
    card = (folder / "MODEL_CARD.md").read_text()
    assert "Inception-Score-style" in card and "our own Fashion-MNIST classifier" in card


def test_decoder_export_records_quality_against_the_float_decoder(trained_vae):
    from apps import artifacts

    _, folder, report = trained_vae
    row = report["int8"]
    full = artifacts.read_json(folder / "export.json")
    assert full["keras"]["mse_vs_float"] == 0.0 and full["keras"]["classifier_agreement"] == 1.0
    if "error" in row:  # a failed mode is reported, not hidden
        assert row["error"].startswith("int8")
        return
    assert row["input"]["shape"] == [1, 4] and row["output"]["shape"] == [1, 28, 28, 1]
    assert row["finite"] and 0.0 <= row["mse_vs_float"] < 0.05
    assert 0.0 <= row["classifier_agreement"] <= 1.0


def test_cli_generate_writes_a_grid_and_rejects_bad_n(trained_vae, tmp_path, capsys):
    from PIL import Image

    models, *_ = trained_vae
    out = tmp_path / "grid.png"
    assert main(["generate", "vae", "--n", "6", "--out", str(out), "--models-dir", str(models)]) == 0
    assert Image.open(out).size == (3 * 28 + 4, 2 * 28 + 2)
    capsys.readouterr()
    assert main(["generate", "vae", "--n", "0", "--out", str(out), "--models-dir", str(models)]) == 2
    assert "n must be between 1" in capsys.readouterr().err
    assert main(["generate", "vae", "--models-dir", str(models)]) == 2
    assert "--out" in capsys.readouterr().err


def test_cli_generate_refuses_a_classifier_and_predict_refuses_a_generator(capsys, tmp_path):
    assert main(["generate", "image", "--out", str(tmp_path / "x.png")]) == 2
    assert "does not generate" in capsys.readouterr().err
    assert main(["predict", "vae", "--text", "x"]) == 2
    assert "glasswing generate vae" in capsys.readouterr().err
