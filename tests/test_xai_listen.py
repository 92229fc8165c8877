"""Listening to an explanation: masked log-mel -> sound, and the model's output on that sound."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
from xai_models import AUDIO_APP

from apps.speech import APP as SPEECH
from apps.speech.features import LogMel
from tests.conftest import ROOT
from tests.test_cli import run_cli
from xai import listen

RATE = 16_000


def voice_like(seconds: float = 1.0) -> np.ndarray:
    """Two partials inside the mel filterbank's range (20-7600 Hz), gated on in the first half."""
    t = np.arange(int(seconds * RATE)) / RATE
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1800 * t)
    return tone.astype(np.float32)


def test_resynthesis_inverts_the_features_and_is_linear_in_the_mask():
    layer = LogMel()
    signal = voice_like()
    x = np.asarray(layer(signal[None]))[0]
    whole = layer.resynthesize(signal, np.ones(x.shape))
    covered = slice(layer.fft_length, layer.frames(len(signal)) * layer.frame_step)  # full overlap-add
    np.testing.assert_allclose(whole[covered], signal[covered], atol=2e-3)
    # The same features come back: the resynthesis reads the STFT the layer computes.
    again = np.asarray(layer(whole[None]))[0]
    middle = slice(5, -5)
    np.testing.assert_allclose(again[middle], x[middle], atol=0.05)
    keep = (np.random.default_rng(0).uniform(size=x.shape) > 0.5).astype(np.float32)
    kept, removed = layer.resynthesize(signal, keep), layer.resynthesize(signal, 1 - keep)
    np.testing.assert_allclose(kept + removed, whole, atol=1e-5)


def test_keeping_early_frames_silences_the_rest_and_keeping_low_bands_drops_the_high_partial():
    layer = LogMel()
    signal = voice_like()
    frames = layer.frames(len(signal))
    keep = np.zeros((frames, layer.num_mel_bins, 1), np.float32)
    keep[: frames // 2] = 1
    early = layer.resynthesize(signal, keep)
    cut = (frames // 2) * layer.frame_step
    assert np.abs(early[: cut - 400]).mean() > 0.15
    assert np.abs(early[cut + layer.fft_length :]).max() < 1e-6
    band = np.zeros_like(keep)
    band[:, :12] = 1  # the lowest 12 mel bands stop well below 1800 Hz
    low = layer.resynthesize(signal, band)
    spectrum = np.abs(np.fft.rfft(low[2000:14000]))
    hz = np.fft.rfftfreq(12000, 1 / RATE)
    at = {f: spectrum[np.argmin(np.abs(hz - f))] for f in (440, 1800)}
    assert at[1800] < 0.01 * at[440]


def test_top_regions_keep_the_share_of_patches_with_the_highest_mean():
    x = np.zeros((40, 20, 1), np.float32)
    values = np.zeros_like(x)
    values[:5, :5] = 3.0  # inside patch (0, 0) of the 8 x 4 grid
    values[35:, 15:] = -3.0  # evidence against: never kept first
    keep = listen.top_regions(AUDIO_APP, x, values, fraction=1 / 32)
    assert keep[:5, :5].all() and keep.sum() == 5 * 5
    assert listen.top_regions(AUDIO_APP, x, values, 0.5).mean() == pytest.approx(0.5)
    assert not listen.top_regions(AUDIO_APP, x, values, 0.9)[35:, 15:].any()
    with pytest.raises(Exception, match="between 0 and 1"):
        listen.top_regions(AUDIO_APP, x, values, 1.0)


def test_listen_classifies_each_version_from_its_own_sound():
    import keras

    cfg = SPEECH.Config.tiny()
    keras.utils.set_random_seed(0)
    model = SPEECH.build(cfg)
    signal = SPEECH.raw.fake(cfg, 1)[0]
    frontend = SPEECH.raw.frontend(cfg)
    x = np.asarray(frontend(signal[None]))[0]
    values = np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    result = listen.listen(SPEECH, cfg, model, signal, values, fraction=0.25)
    assert result.sample_rate == cfg.sample_rate and result.keep.shape == x.shape
    assert 0.25 <= result.keep.mean() <= 0.3
    for version in listen.VERSIONS:
        sound = result.signals[version]
        expected = np.asarray(model(frontend(sound[None]), training=False))[0]
        np.testing.assert_allclose(result.probs[version], expected, atol=1e-5)
    np.testing.assert_allclose(result.signals["recorded"], signal)
    joined, spans = listen.sequence(result, gap_s=0.5)
    assert [s[0] for s in spans] == list(listen.VERSIONS)
    assert len(joined) == 3 * len(signal) + 2 * cfg.sample_rate // 2
    with pytest.raises(Exception, match="model input has"):
        listen.listen(SPEECH, cfg, model, signal, values[:-1], 0.25)
    assert not listen.supports(AUDIO_APP)  # no raw signal behind its input: nothing to play


@pytest.mark.skipif(not (ROOT / "models" / "speech" / "model.keras").is_file(), reason="no committed model")
def test_cli_writes_the_clip_three_ways_to_a_wav(capsys, tmp_path):
    import soundfile

    recording = tmp_path / "in.wav"
    soundfile.write(recording, voice_like(), RATE)
    base = ["explain", "speech", "--models-dir", str(ROOT / "models"), "--input", str(recording)]
    out_wav = tmp_path / "heard.wav"
    code, out, err = run_cli(capsys, *base, "--method", "grad_cam", "--out", str(out_wav), "--keep", "0.3")
    assert code == 0, err
    with wave.open(io.BytesIO(out_wav.read_bytes())) as f:
        assert f.getframerate() == RATE and f.getnframes() == 3 * RATE + RATE
    lines = [line for line in out.splitlines() if "heard as" in line]
    assert len(lines) == 3 and all(f" {v} " in line for v, line in zip(listen.VERSIONS, lines))
    code, _, err = run_cli(capsys, *base, "--method", "grad_cam", "--out", str(out_wav), "--keep", "1.5")
    assert code == 2 and "--keep must be between 0 and 1" in err
    code, _, err = run_cli(capsys, *base, "--method", "grad_cam", "--out", str(tmp_path / "x.mp3"))
    assert code == 2 and ".png or .wav" in err
