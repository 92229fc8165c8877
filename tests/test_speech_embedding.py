"""The speech embedding rebuilt in Keras matches the ONNX files it was read from (onnxruntime)."""

import keras
import numpy as np
import onnxruntime
import pytest

from apps.errors import GlasswingError
from apps.speech import embedding


def _session(name):
    return onnxruntime.InferenceSession(str(embedding.resource(name)), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def clips():
    """Noise, a tone in faint noise, and a quiet chirp: 1 s at 16 kHz."""
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 16000
    return np.stack(
        [
            0.1 * rng.standard_normal(16000),
            0.5 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(16000),
            0.01 * np.sin(2 * np.pi * (200 + 3000 * t) * t),
        ]
    ).astype(np.float32)


@pytest.fixture(scope="module")
def onnx_mels(clips):
    session = _session(embedding.MEL_FILE)
    # The package feeds int16-scaled samples and maps its dB output to x / 10 + 2.
    return np.stack(
        [session.run(None, {"input": c[None] * embedding.INT16_SCALE})[0][0, 0] / 10 + 2 for c in clips]
    )


def test_frontend_matches_the_onnx_melspectrogram(clips, onnx_mels):
    ours = np.asarray(embedding.frontend(clips))
    assert ours.shape == (3, 97, embedding.MEL_BINS, 1)
    np.testing.assert_allclose(ours[..., 0], onnx_mels, atol=1e-3)


def test_stack_matches_the_onnx_model_window_by_window(onnx_mels):
    session = _session(embedding.STACK_FILE)
    stack = embedding.build_stack()
    assert not stack.trainable_weights and stack.count_params() > 300_000
    whole = np.asarray(stack(onnx_mels[..., None].astype(np.float32)))
    assert whole.shape == (3, embedding.windows(97), 1, embedding.DIM) and embedding.windows(97) == 3
    for w in range(3):
        start = w * embedding.STEP_FRAMES
        window = onnx_mels[:, start : start + embedding.WINDOW_FRAMES, :, None].astype(np.float32)
        expected = session.run(None, {"input_1": window})[0][:, 0, 0]
        # One pass over the whole clip gives every window's vector (the stack is convolutional).
        np.testing.assert_allclose(whole[:, w, 0], expected, rtol=1e-4, atol=1e-3)


def test_embed_runs_from_waveforms(clips):
    vectors = embedding.embed(clips)
    assert vectors.shape == (3, 3, embedding.DIM) and np.isfinite(vectors).all()
    # Different sounds, different vectors.
    assert np.abs(vectors[0] - vectors[1]).max() > 1.0


def test_missing_wheel_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(embedding, "PACKAGE", "livekit.no_such_package")
    with pytest.raises(GlasswingError, match="make install"):
        embedding.resource(embedding.STACK_FILE)


# ----- the embedding's bands in the app's front-end, and the model that reads them -----


def _plain_cfg(**overrides):
    from apps.speech import APP

    return APP.Config.tiny(**overrides)


def _head_cfg(**overrides):
    from apps.speech import APP

    return APP.Config.tiny(embedding_head=True, **overrides)


def test_the_embedding_is_the_default_and_older_models_load_without_it():
    """A config.json written before ``embedding_head`` existed is a DS-CNN alone (the field's
    default is True now; those models take 40 bands)."""
    from apps.app import config_from_dict, config_to_dict
    from apps.speech import APP

    assert APP.Config().embedding_head and not APP.Config.tiny().embedding_head
    saved = config_to_dict(APP.Config())
    assert config_from_dict(APP, saved).embedding_head
    older = {k: v for k, v in saved.items() if k != "embedding_head"}
    assert config_from_dict(APP, older) == APP.Config(embedding_head=False)


def test_logmel_appends_the_embedding_bands_with_their_own_floor(clips):
    from apps.speech import data
    from apps.speech.features import LogMel

    plain, both = data.frontend(_plain_cfg()), data.frontend(_head_cfg())
    assert (plain.bins, both.bins) == (40, 40 + embedding.MEL_BINS)
    x = np.asarray(both(clips))
    np.testing.assert_allclose(x[:, :, :40], np.asarray(plain(clips)), atol=1e-5)
    # Through EmbeddingInput, the last 32 bands are what the package's front-end gives.
    np.testing.assert_allclose(
        np.asarray(embedding.EmbeddingInput()(x[:, :, 40:])), np.asarray(embedding.frontend(clips)), atol=1e-3
    )
    assert both.floors[0] == 1e-6 and both.floors[-1] == np.float32(embedding.FLOOR)
    again = LogMel.from_config(both.get_config())
    np.testing.assert_array_equal(np.asarray(again(clips)), x)
    with pytest.raises(ValueError, match="extra_filters"):
        LogMel(extra_filters="wav2vec")
    with pytest.raises(ValueError, match="512-point FFT"):
        LogMel(fft_length=1024, extra_filters="speech_embedding")


def test_spec_augment_fills_each_band_from_its_own_floor():
    from apps.speech import data

    cfg = _head_cfg(time_masks=0, freq_masks=4, freq_mask_bins=20)
    floors = np.log(data.frontend(cfg).floors)[None, None, :, None]
    x = (floors + np.random.default_rng(0).uniform(1, 5, size=(8, 97, 72, 1))).astype(np.float32)
    out = data.spec_augment(x, cfg).numpy()
    changed = out != x
    assert changed.any()
    lift = (x - floors).min(axis=(1, 2, 3), keepdims=True)
    np.testing.assert_allclose(out[changed], np.broadcast_to(floors + lift, x.shape)[changed], rtol=1e-5)


def test_embedding_head_model_keeps_the_stack_frozen_and_the_dscnn_on_its_bands(clips):
    from apps.speech import data, model

    cfg = _head_cfg()
    net = model.build(cfg)
    assert net.input_shape[1:] == data.feature_shape(cfg) == (97, 72, 1)
    stack = net.get_layer("speech_embedding")
    before = [w.copy() for w in stack.get_weights()]
    x = np.asarray(data.frontend(cfg)(clips))
    net.fit(x, np.array([0, 1, 2]), epochs=2, verbose=0)
    for a, b in zip(before, stack.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert net.get_layer("embedding_dense").trainable_weights
    assert net.get_layer("dscnn_bands").output.shape[2] == cfg.mel_bins


def test_embedding_tune_trains_only_the_stacks_last_convolutions_and_survives_a_save(clips, tmp_path):
    from apps import artifacts
    from apps.speech import APP, data, model

    cfg = _head_cfg(embedding_tune=1)
    net = model.build(cfg)
    stack = net.get_layer("speech_embedding")
    convs = [layer for layer in stack.layers if isinstance(layer, keras.layers.Conv2D)]
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in convs}
    x = np.asarray(data.frontend(cfg)(clips))
    net.fit(x, np.array([0, 1, 2]), epochs=2, verbose=0)
    moved = [c.name for c in convs if any((a != b).any() for a, b in zip(before[c.name], c.get_weights()))]
    assert moved == [convs[-1].name]
    net.save(tmp_path / "m.keras")
    again = artifacts.load_model(tmp_path / "m.keras").get_layer("speech_embedding")
    assert [layer.name for layer in again.layers if layer.trainable_weights] == [convs[-1].name]
    with pytest.raises(GlasswingError, match="embedding_tune must be 0 to 20 "):
        model.build(_head_cfg(embedding_tune=21))
    with pytest.raises(GlasswingError, match="embedding_head=true"):
        APP.Config.tiny(embedding_tune=1)  # tiny: no embedding


@pytest.mark.slow  # trains and exports twice: ~1 min
def test_embedding_head_trains_exports_and_runs_on_waveforms(speech_data_dir, tmp_path):
    import dataclasses
    import json

    from apps import artifacts
    from apps.cli import main
    from apps.litert import LiteRTModel
    from apps.speech import APP
    from apps.train import train
    from tests.conftest import TINY_SPEECH_DATA

    cfg = APP.Config.tiny(data_dir=str(speech_data_dir[0]), **TINY_SPEECH_DATA, batch_size=8)
    models = tmp_path / "models"
    train(APP, dataclasses.replace(cfg, epochs=1, embedding_head=True), models, verbose=0)
    folder = models / "speech"
    loaded_cfg, model = artifacts.load_trained(APP, folder)
    assert loaded_cfg.embedding_head and model.get_layer("speech_embedding").trainable is False
    waves = APP.raw.fake(loaded_cfg, 8)
    keras_probs = np.asarray(model(APP.raw.frontend(loaded_cfg)(waves), training=False))
    for mode in ("float32", "int8"):
        assert main(["export", "speech", "--quant", mode, "--models-dir", str(models)]) == 0
        assert mode in json.dumps(json.loads((folder / "export.json").read_text()))
        lite = LiteRTModel(folder / "tflite" / f"{mode}.tflite")
        assert list(lite.input_details["shape"]) == [1, loaded_cfg.clip_samples]
        diff = np.abs(lite(waves) - keras_probs)
        if mode == "float32":
            assert diff.max() < 1e-4
        else:
            # A one-epoch model on noise sits near its decision boundaries, where int8 steps move a
            # probability far (a clean-clone run: 0.255 on one of 176; here 0.21), on average not
            # (here 0.0026).
            assert diff.mean() < 0.02, diff.mean()
            confident = keras_probs.max(1) > 0.99  # their top class must not move
            assert confident.any()
            np.testing.assert_array_equal(lite(waves)[confident].argmax(1), keras_probs[confident].argmax(1))


def test_float16_tflite_of_the_bands_keeps_digital_silence_finite(tmp_path):
    """The embedding bands' floor (~1e-19) is below float16's range: it must not become log(0)."""
    import keras
    import tensorflow as tf

    from apps.litert import LiteRTModel
    from apps.speech import data

    inputs = keras.Input((16000,))
    model = keras.Model(inputs, data.frontend(_head_cfg())(inputs))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    path = tmp_path / "bands.tflite"
    path.write_bytes(converter.convert())
    silence_and_speechlike = np.stack(
        [np.zeros(16000), 0.1 * np.random.default_rng(0).standard_normal(16000)]
    ).astype(np.float32)
    lite, ours = LiteRTModel(path)(silence_and_speechlike), np.asarray(model(silence_and_speechlike))
    assert np.isfinite(lite).all()
    np.testing.assert_allclose(lite, ours, atol=0.05)
    assert ours[0, 0, -1, 0] == pytest.approx(np.log(embedding.FLOOR), abs=1e-3)


def test_band_groups_name_the_dscnn_and_embedding_bands_and_the_dashboard_draws_them():
    """The dashboard's band axis says where the DS-CNN's 40 bands end and the embedding's 32 begin."""
    import types

    from apps.dashboard import render
    from apps.speech import APP, data

    assert data.bands(APP.Config()) == [(0, "log-mel (40)"), (40, "embedding's (32)")]
    assert data.bands(APP.Config(embedding_head=False)) == [(0, "log-mel (40)")]
    plain = render.overlay_png(
        types.SimpleNamespace(modality="audio"), np.zeros((97, 72, 1)), np.ones((97, 72, 1))
    )
    marked = render.overlay_png(
        types.SimpleNamespace(modality="audio"),
        np.zeros((97, 72, 1)),
        np.ones((97, 72, 1)),
        "",
        data.bands(APP.Config()),
    )
    assert plain.startswith(b"\x89PNG") and marked.startswith(b"\x89PNG") and marked != plain
    # Each group on its own colour scale: the embedding's far lower floor does not wash out the DS-CNN's.
    image = np.concatenate([np.full((97, 40), -2.0), np.full((97, 32), -20.0)], axis=1)
    image[10:20, 5] = 3.0
    image[10:20, 50] = -10.0
    scaled = render._band_scaled(image, data.bands(APP.Config()))
    assert scaled[:, :40].min() == 0 and scaled[:, :40].max() == 1 and scaled[15, 5] == 1
    assert scaled[:, 40:].min() == 0 and scaled[15, 50] == 1
    np.testing.assert_array_equal(render._band_scaled(image, []), image)
