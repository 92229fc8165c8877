"""Speech app: dataset synthesis, features, augmentation, audio decoding and bad input."""

from __future__ import annotations

import dataclasses
import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from apps.errors import GlasswingError
from apps.speech import APP, audio, data, kokoro, synth
from apps.speech.features import LogMel, mel_matrix
from tests.conftest import TINY_SPEECH_DATA as TINY_DATA

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
RATE = 16_000


def tone(freq: float, seconds: float, rate: int = RATE, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, samples, rate, subtype=subtype, format=fmt)
    return buf.getvalue()


def dominant_hz(wave: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(wave))
    return float(np.fft.rfftfreq(len(wave), 1 / rate)[spectrum.argmax()])


# ----- dataset plan and synthesis -----


def test_plan_is_reproducible_and_splits_by_voice():
    variants = [f"v{i}" for i in range(40)]
    a = synth.plan(variants, 5, 10, 10, seed=3)
    assert a == synth.plan(variants, 5, 10, 10, seed=3)
    assert a != synth.plan(variants, 5, 10, 10, seed=4)
    assert len(a) == 20 * 5 + 10 + 10
    by_split = {
        s: {r["variant"] for r in a if r["split"] == s and r["variant"]} for s in data.datasets.SPLITS
    }
    assert not by_split["train"] & by_split["test"] and not by_split["train"] & by_split["validation"]
    assert not by_split["validation"] & by_split["test"]
    assert {r["label"] for r in a} == set(synth.LABELS)
    assert all(r["word"] not in synth.KEYWORDS for r in a if r["label"] == synth.UNKNOWN)
    assert not set(synth.UNKNOWN_WORDS) & (set(synth.KEYWORDS) | synth.HOMOPHONES)


def test_extra_unknown_rows_are_training_voices_after_an_unchanged_plan():
    variants = [f"v{i}" for i in range(40)]
    natural = [f"flite-{v}" for v in synth.FLITE_VOICES] + list(synth.FESTIVAL_VOICES)
    base = synth.plan(variants, 5, 10, 10, seed=3, natural=natural)
    more = synth.plan(variants, 5, 10, 10, seed=3, natural=natural, extra_unknown=300)
    assert more[: len(base)] == base and len(more) == len(base) + 300
    extra = more[len(base) :]
    assert {r["label"] for r in extra} == {synth.UNKNOWN} and {r["split"] for r in extra} == {"train"}
    split = {**synth.split_of_variants(variants, 3), **synth.natural_split(natural)}
    assert {split[r["variant"]] for r in extra} == {"train"}
    assert {r["engine"] for r in extra} == {"espeak-ng", "flite", "festival"}
    words = {r["word"] for r in extra}
    assert words & set(synth.MORE_UNKNOWN_WORDS) and words & set(synth.UNKNOWN_WORDS)
    assert len(set(synth.MORE_UNKNOWN_WORDS)) == len(synth.MORE_UNKNOWN_WORDS)
    assert not set(synth.MORE_UNKNOWN_WORDS) & (
        set(synth.KEYWORDS) | synth.HOMOPHONES | set(synth.UNKNOWN_WORDS)
    )


@pytest.mark.parametrize("kind", synth.NOISES)
def test_noise_kinds_are_unit_peak_or_silent(kind):
    x = synth.noise(kind, RATE, np.random.default_rng(0))
    assert x.shape == (RATE,) and x.dtype == np.float32
    assert np.abs(x).max() == pytest.approx(0.0 if kind == "zero" else 1.0, abs=1e-6)


def test_brown_noise_is_darker_than_white():
    rng = np.random.default_rng(1)
    low = lambda x: (np.abs(np.fft.rfft(x))[:200] ** 2).sum() / (np.abs(np.fft.rfft(x)) ** 2).sum()  # noqa: E731
    assert low(synth.noise("brown", RATE, rng)) > 10 * low(synth.noise("white", RATE, rng))


@pytest.fixture(scope="module")
def speech_data(speech_data_dir):
    """(cfg, prepare summary, progress calls) of the tiny synthesized dataset."""
    data_dir, summary, calls = speech_data_dir
    cfg = APP.Config.tiny(data_dir=str(data_dir), **TINY_DATA, batch_size=8)
    return cfg, summary, calls


def test_prepare_synthesizes_every_clip_with_progress(speech_data):
    cfg, summary, calls = speech_data
    rows = synth.read_manifest(data.clips_dir(cfg))
    assert len(rows) == 20 * 4 + 8 + 8 + 4 and calls[-1] == (len(rows), len(rows))
    assert "100 clips" in summary
    import soundfile

    for row in rows[::17]:
        clip, rate = soundfile.read(data.clips_dir(cfg) / row["path"], dtype="float32")
        assert rate == RATE and clip.shape == (RATE,)
        peak = np.abs(clip).max()
        if row["label"] == synth.SILENCE:
            assert peak <= 0.25
        else:
            assert peak == pytest.approx(float(row["gain"]), abs=0.01)


def test_prepare_resumes_and_refuses_a_different_plan(speech_data):
    cfg, _, _ = speech_data
    root = data.clips_dir(cfg)
    victim = root / synth.read_manifest(root)[5]["path"]
    victim.unlink()
    again = synth.generate(root, 4, 8, 8, cfg.data_seed, extra_unknown=4)
    assert again["written"] == 1 and again["skipped"] == 99 and victim.is_file()
    with pytest.raises(GlasswingError, match="other settings"):
        synth.generate(root, 5, 8, 8, cfg.data_seed, extra_unknown=4)
    with pytest.raises(GlasswingError, match="other settings"):  # fewer rows is not an extension
        synth.generate(root, 4, 8, 8, cfg.data_seed)


def test_prepare_extends_a_dataset_with_extra_unknown_clips(speech_data, tmp_path):
    """A dataset generated before extra_unknown_clips existed (or with fewer) gets only the new clips."""
    cfg, _, _ = speech_data
    root = tmp_path / "speech"
    shutil.copytree(data.clips_dir(cfg), root)
    manifest = (root / synth.MANIFEST).read_text().splitlines(keepends=True)
    (root / synth.MANIFEST).write_text("".join(manifest[:-4]))  # the plan without the 4 extra rows
    for row in synth.read_manifest(data.clips_dir(cfg))[-4:]:
        (root / row["path"]).unlink()
    before = synth.read_manifest(root)
    more = synth.generate(root, 4, 8, 8, cfg.data_seed, extra_unknown=4)
    assert more["written"] == 4 and more["skipped"] == 96
    rows = synth.read_manifest(root)
    assert rows[: len(before)] == before and all((root / r["path"]).is_file() for r in rows)
    again = synth.generate(root, 4, 8, 8, cfg.data_seed, extra_unknown=6)  # raised again: 2 more
    assert again["written"] == 2 and synth.read_manifest(root)[: len(rows)] == rows


@pytest.mark.parametrize("augment_on", ["features", "waveform"])
def test_dataset_batches_are_log_mel_with_labels(speech_data, augment_on):
    cfg, _, _ = speech_data
    cfg = dataclasses.replace(cfg, augment_on=augment_on)
    for split in ("train", "test"):
        x, y = next(iter(APP.dataset(cfg, split)))
        assert tuple(x.shape[1:]) == data.feature_shape(cfg) and np.isfinite(x.numpy()).all()
        assert set(y.numpy()) <= set(range(len(synth.LABELS)))


def test_raw_dataset_is_the_test_split_in_the_same_order(speech_data):
    """The cached log-mel of an unaugmented split is the front-end of its waveforms, batch for batch."""
    cfg, _, _ = speech_data
    cfg = dataclasses.replace(cfg, batch_size=5)  # batches that straddle the front-end's batches of 256
    features, raw = APP.dataset(cfg, "test"), APP.raw.dataset(cfg, "test")
    assert int(features.cardinality()) == int(raw.cardinality()) > 1
    pairs = list(zip(features, raw, strict=True))
    for (x, y), (wave, y_raw) in pairs:
        assert wave.shape[1:] == (cfg.clip_samples,)
        np.testing.assert_array_equal(y, y_raw)
        np.testing.assert_allclose(APP.raw.frontend(cfg)(wave), x, atol=1e-4)


# ----- features and augmentation -----


def test_logmel_peaks_at_the_mel_bin_of_a_tone():
    layer = LogMel()
    assert layer.frames(RATE) == 97
    edges = mel_matrix(40, 512, RATE, 20.0, 7600.0)
    for freq in (300.0, 1000.0, 4000.0):
        x = np.asarray(layer(tone(freq, 1.0)[None]))[0, :, :, 0]
        assert x.shape == (97, 40)
        bin_of_freq = int(np.argmax(edges[int(round(freq / (RATE / 512)))]))
        assert abs(int(x.mean(axis=0).argmax()) - bin_of_freq) <= 1


def test_logmel_of_silence_is_the_floor():
    x = np.asarray(LogMel()(np.zeros((1, RATE), np.float32)))
    np.testing.assert_allclose(x, np.log(1e-6), rtol=1e-5)


def test_wave_augment_shifts_scales_and_stays_in_range():
    # No neighbouring-word context: it would put another clip's word before this one's.
    cfg = APP.Config.tiny(noise_probability=0.0, min_gain=2.0, max_gain=2.0, context_probability=0.0)
    clip = np.zeros((4, RATE), np.int16)
    clip[:, 8000:8100] = 8000
    x, _ = data.wave_augment(cfg)(clip, np.zeros(4))
    x = x.numpy()
    assert x.shape == (4, RATE) and np.abs(x).max() <= 1.0
    starts = np.argmax(np.abs(x) > 0, axis=1)
    assert np.all(np.abs(starts - 8000) <= cfg.shift_ms * RATE / 1000)
    np.testing.assert_allclose(np.abs(x).max(axis=1), 2 * 8000 / 32768, rtol=1e-4)


def test_wave_augment_noise_hits_the_requested_snr():
    cfg = APP.Config.tiny(
        noise_probability=1.0,
        min_snr_db=10.0,
        max_snr_db=10.0,
        min_gain=1.0,
        max_gain=1.0,
        shift_ms=0.0,
        context_probability=0.0,
    )
    clip = (tone(440, 1.0, amplitude=0.3) * 32768).astype(np.int16)[None].repeat(8, 0)
    x, _ = data.wave_augment(cfg)(clip, np.zeros(8))
    noise = x.numpy() - clip / 32768.0
    power = lambda v: np.mean(np.square(v), axis=1)  # noqa: E731
    snr = 10 * np.log10(power(clip / 32768.0) / power(noise))
    np.testing.assert_allclose(snr, 10.0, atol=0.5)


def _plain(**overrides):
    """A tiny Config whose augmentation does only what ``overrides`` turn on."""
    off = dict(
        noise_probability=0.0, min_gain=1.0, max_gain=1.0, shift_ms=0.0, context_probability=0.0,
        time_masks=0, freq_masks=0,
    )  # fmt: skip
    return APP.Config.tiny(**{**off, **overrides})


def test_feature_augment_shifts_whole_frames_and_scales_power():
    cfg = _plain(shift_ms=100.0, min_gain=2.0, max_gain=2.0)
    layer = data.frontend(cfg)
    clip = np.zeros((16, RATE), np.float32)
    clip[:, 8000:9600] = tone(1000, 0.1)
    x = np.asarray(layer(clip))
    out, _ = data.feature_augment(cfg)(x, np.zeros(16))
    out = np.asarray(out)
    assert out.shape == x.shape and np.isfinite(out).all()
    loud = lambda v: v[:, :, :, 0].max(axis=2) > np.log(1e-3)  # noqa: E731
    moved = np.argmax(loud(out), axis=1) - np.argmax(loud(x), axis=1)
    assert np.abs(moved).max() <= 10 and len(set(moved)) > 3  # +-100 ms at a 10 ms hop, and it varies
    for row, k in zip(out, moved, strict=True):
        # Every frame moved by k, its power times 4 (gain 2).
        power = lambda v: np.exp(v) - 1e-6  # noqa: E731
        np.testing.assert_allclose(power(row[40:80]), 4 * power(x[0, 40 - k : 80 - k]), rtol=1e-3, atol=1e-9)


def test_babble_sums_training_other_words_into_the_bank_at_its_share(speech_data):
    cfg = dataclasses.replace(speech_data[0], babble_share=0.5)
    rows = synth.read_manifest(data.clips_dir(cfg))
    assert data.noise_bank(dataclasses.replace(cfg, babble_share=0.0)).shape == (16, 2 * RATE)
    bank = data.noise_bank(cfg)
    assert bank.shape == (32, 2 * RATE)  # 16 generated noises, then 16 babbles: half the draws
    babble = bank[16:]
    np.testing.assert_allclose(np.abs(babble).max(axis=1), 1.0, rtol=1e-6)
    # Speech-like: loud and quiet stretches (syllables), unlike stationary generated noise.
    frames = np.sqrt(np.mean(babble.reshape(16, -1, 320) ** 2, axis=-1))
    assert np.median(frames.max(axis=1) / np.maximum(frames.min(axis=1), 1e-6)) > 3
    # Only other words of training voices: a bank from a manifest without them cannot be built.
    root = data.clips_dir(cfg)
    assert {r["split"] for r in rows if r["label"] == synth.UNKNOWN} >= {"train"}
    empty = dataclasses.replace(cfg, data_dir=str(root.parent / "no-other-words"))
    folder = data.clips_dir(empty)
    folder.mkdir(parents=True, exist_ok=True)
    header, *lines = (root / synth.MANIFEST).read_text().splitlines(keepends=True)
    kept = [line for line in lines if f",{synth.UNKNOWN}," not in line]
    (folder / synth.MANIFEST).write_text(header + "".join(kept))
    with pytest.raises(GlasswingError, match="babble needs `_unknown_` train clips"):
        data.noise_bank(empty)


def test_babble_share_must_leave_room_for_generated_noise():
    with pytest.raises(GlasswingError, match=r"babble_share must be in \[0, 1\), got 1.0"):
        APP.Config(babble_share=1.0)


def test_feature_noise_bank_is_as_loud_as_its_waveform_at_the_same_snr():
    """Each noise, added to the log-mel at an SNR, has the mel power it has when added to the waveform."""
    cfg = APP.Config.tiny()
    layer = data.frontend(cfg)
    clip = tone(440, 1.0, amplitude=0.3) + tone(2500, 1.0, amplitude=0.1)
    signal = np.exp(np.asarray(layer(clip[None]))[0, ..., 0]) - 1e-6
    bank = data.noise_bank(cfg)
    power = data._noise_bank_power(layer, bank, cfg.data_seed + 7)
    frames = signal.shape[0]
    for k, row in enumerate(bank):
        noise = row[:RATE] * np.sqrt(np.mean(clip**2) / np.mean(row[:RATE] ** 2))  # 0 dB, as wave_augment
        by_wave = np.mean(np.exp(np.asarray(layer(noise[None]))[0, ..., 0]) - 1e-6)
        by_feature = signal.mean() * power[k, :frames, :-1].mean() / power[k, :frames, -1].mean()
        assert abs(10 * np.log10(by_feature / by_wave)) < 1.0, f"noise {k}"


def test_feature_augment_adds_a_slice_of_the_bank_at_the_drawn_snr():
    cfg = _plain(noise_probability=1.0, min_snr_db=10.0, max_snr_db=10.0)
    layer = data.frontend(cfg)
    clean = np.asarray(layer(tone(440, 1.0, amplitude=0.3)[None].repeat(32, 0)))
    out, _ = data.feature_augment(cfg)(clean, np.zeros(32))
    power = lambda v: np.exp(np.asarray(v)[..., 0]) - 1e-6  # noqa: E731
    added = (power(out) - power(clean)).mean(axis=(1, 2)) / power(clean).mean(axis=(1, 2)) * 10.0
    bank = data._noise_bank_power(layer, data.noise_bank(cfg), cfg.data_seed + 7)
    frames = clean.shape[1]
    slices = [
        bank[k, s : s + frames, :-1].mean() / bank[k, s : s + frames, -1].mean()
        for k in range(len(bank))
        for s in range(bank.shape[1] - frames + 1)
    ]
    slices = np.asarray(slices)
    nearest = np.min(np.abs(slices[None] / added[:, None] - 1), axis=1)
    np.testing.assert_array_less(nearest, 1e-3)


def test_context_power_puts_the_fragment_beside_the_word_and_spares_silence():
    import tensorflow as tf

    cfg = dataclasses.replace(APP.Config(), context_probability=1.0, context_ms=200.0)
    silence = data.labels(cfg).index(synth.SILENCE)
    p = np.full((3, 97, 40), 1e-9, np.float32)
    p[0, 37:56] = 1.0  # a "word" at frames 37-55
    p[1, 50:75] = 4.0  # another at frames 50-74
    p[2] = 1e-4 * np.random.default_rng(0).random((97, 40))  # background noise
    y = np.array([0, 1, silence])
    for seed in range(5):
        tf.random.set_seed(seed)
        out = np.asarray(data.add_context_power(tf.constant(p), tf.constant(y), cfg, silence))
        np.testing.assert_array_equal(out[2], p[2])  # _silence_ stays silence
        added = (out[1] - p[1]).sum(axis=1)
        np.testing.assert_allclose(added[50:75], 0)  # the word itself is untouched
        where = np.flatnonzero(added > 1e-6)
        assert where.size and where.size <= 20, "a fragment of 30-200 ms"
        assert (where.max() < 50 and where.min() >= 50 - 25) or (where.min() >= 75 and where.max() < 75 + 25)
        # At 0.3-1x the clip's peak amplitude: 0.09-1x its loudest frame's power.
        assert 0.09 * 4.0 - 1e-6 <= added.max() / 40 <= 4.0 + 1e-6


def test_spec_augment_masks_stripes_to_the_minimum():
    cfg = APP.Config.tiny(time_masks=2, time_mask_frames=10, freq_masks=2, freq_mask_bins=5)
    x = np.random.default_rng(0).normal(size=(16, 97, 40, 1)).astype(np.float32)
    out = data.spec_augment(x, cfg).numpy()
    changed = out != x
    assert changed.mean() < 0.5
    assert np.all(out[changed] == np.broadcast_to(x.min(axis=(1, 2, 3), keepdims=True), x.shape)[changed])
    none = data.spec_augment(x, dataclasses.replace(cfg, time_masks=0, freq_masks=0)).numpy()
    np.testing.assert_array_equal(none, x)


# ----- reading a user's audio -----


def test_48khz_stereo_float_file_is_mixed_down_and_resampled():
    left = tone(1000, 0.5, 48_000)
    stereo = np.stack([left, left], axis=1)
    clip, note = audio.load_clip(wav_bytes(stereo, 48_000, "FLOAT"), RATE, RATE)
    assert clip.shape == (RATE,)
    assert dominant_hz(clip[clip != 0]) == pytest.approx(1000, abs=5)
    assert "48000 Hz, 2 channels" in note and "16 kHz mono" in note and "padded 0.50 s" in note


@pytest.mark.parametrize(
    ("subtype", "fmt"), [("PCM_U8", "WAV"), ("PCM_24", "FLAC"), ("VORBIS", "OGG"), ("MPEG_LAYER_III", "MP3")]
)
def test_other_encodings_decode(subtype, fmt):
    clip, _ = audio.load_clip(wav_bytes(tone(500, 1.0, 22_050), 22_050, subtype, fmt), RATE, RATE)
    assert clip.shape == (RATE,) and dominant_hz(clip) == pytest.approx(500, abs=5)
    assert np.abs(clip).max() == pytest.approx(0.5, abs=0.05)


def test_long_file_uses_the_loudest_window():
    wave = np.zeros(10 * 60 * RATE, np.float32)  # 10 minutes of silence ...
    burst = int(451.5 * RATE)  # ... and one word-like burst at 7:31.5
    wave[burst : burst + 8000] = tone(700, 0.5)
    clip, note = audio.load_clip(wav_bytes(wave, RATE), RATE, RATE)
    assert np.abs(clip).max() > 0.4 and "of 600.00 s" in note
    start = float(note.split(": ")[-1].split("-")[0])
    assert start <= 451.5 and start + 1 >= 452.0


def test_windows_of_a_long_recording_hop_a_quarter_second_to_the_end():
    wave = np.arange(int(2.6 * RATE), dtype=np.float32) / (3 * RATE)
    clips, spans, note = audio.load_windows(wav_bytes(wave, RATE, "FLOAT"), RATE, RATE)
    # 0, 0.25, ..., 1.5 s, then one flush with the end at 1.6 s.
    np.testing.assert_allclose(spans[:, 0], [0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.6])
    np.testing.assert_allclose(spans[:, 1] - spans[:, 0], 1.0)
    assert clips.shape == (8, RATE)
    # The file's windows, less its DC offset (the ramp's mean).
    centred = wave - wave.mean()
    np.testing.assert_allclose(clips[3], centred[int(0.75 * RATE) : int(1.75 * RATE)], atol=1e-6)
    assert "8 windows over 2.60 s" in note
    # The loudest window load_clip picks is one of them (the ramp is loudest at the end).
    loudest, _ = audio.load_clip(wav_bytes(wave, RATE, "FLOAT"), RATE, RATE)
    np.testing.assert_array_equal(loudest, clips[-1])
    short, spans, note = audio.load_windows(tone(300, 0.4), RATE, RATE)
    assert short.shape == (1, RATE) and spans.tolist() == [[0.0, 1.0]] and "1 window over 0.40 s" in note


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"this is not audio at all, just text renamed to .wav" * 10, "not a readable"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "not a readable"),
    ],
)
def test_bad_files_give_one_clear_message(payload, message):
    with pytest.raises(GlasswingError, match=message):
        audio.load_clip(payload, RATE, RATE)


def test_truncated_wav_keeps_what_is_there():
    full = wav_bytes(tone(440, 1.0), RATE)
    clip, _ = audio.load_clip(full[: len(full) // 2], RATE, RATE)
    assert clip.shape == (RATE,) and np.abs(clip).max() > 0.4


def test_header_only_wav_has_no_samples():
    with pytest.raises(GlasswingError, match="no audio samples|not a readable"):
        audio.load_clip(wav_bytes(np.zeros(0, np.float32), RATE), RATE, RATE)


def test_over_long_file_is_refused():
    rate = 1000  # a tiny rate keeps a 16-minute file small
    with pytest.raises(GlasswingError, match="limit is 15 min"):
        audio.load_clip(wav_bytes(np.zeros(16 * 60 * rate, np.float32), rate), RATE, RATE)


def test_silence_and_clipping_are_noted_and_still_processed(tmp_path):
    silent, note = audio.load_clip(wav_bytes(np.zeros(RATE, np.float32), RATE), RATE, RATE)
    assert "digital silence" in note and not silent.any()
    clipped, note = audio.load_clip(
        wav_bytes(np.clip(tone(300, 1.0, amplitude=3.0), -1, 1), RATE), RATE, RATE
    )
    assert "clipped" in note
    path = tmp_path / "silence.wav"
    path.write_bytes(wav_bytes(np.zeros(RATE, np.float32), RATE))
    x = APP.preprocess(path)
    assert x.shape == data.feature_shape(APP.Config()) and np.isfinite(x).all()


def test_missing_file_and_wrong_array_shape():
    with pytest.raises(GlasswingError, match="does not exist"):
        APP.preprocess("/no/such/file.wav")
    with pytest.raises(GlasswingError, match="1-D"):
        APP.preprocess(np.zeros((2, 100), np.float32))


# ----- export of the waveform model -----


@pytest.mark.slow  # 10-18 s end to end: in `make test-slow`, so the default run stays under 10 min
def test_int8_waveform_tflite_agrees_with_keras(tmp_path):
    import keras

    from apps.conversion import export_model, exported_model, float_layers
    from apps.litert import LiteRTModel

    # A steady tone is the same in every frame, so per-utterance mean removal would erase it:
    # this test of the int8 file uses the batch-norm front-end instead.
    cfg = APP.Config.tiny(filters=16, input_norm="batch")
    keras.utils.set_random_seed(0)
    # Tones whose class is their pitch band: a decisive model, so agreement means something.
    waves = APP.raw.fake(cfg, 128)
    y = np.digitize([dominant_hz(w) for w in waves], [900, 1600, 2300])
    model = APP.build(cfg)
    # 60 epochs: at 40 the model was right on only ~70 % and decisive on 7 of 32 tones.
    model.fit(np.asarray(APP.raw.frontend(cfg)(waves)), y, epochs=60, batch_size=16, verbose=0)
    wrapped = exported_model(APP, model, cfg, "int8")
    waves = waves[:32]
    path = tmp_path / "int8.tflite"
    export_model(
        wrapped, path, "int8", lambda: ([w[None]] for w in waves), float_layers=float_layers(APP, cfg)
    )
    lite = LiteRTModel(path)
    assert list(lite.input_details["shape"]) == [1, cfg.clip_samples]
    # The front-end stays float (so does the waveform input); the DS-CNN body and output are int8.
    assert lite.input_details["dtype"] == np.float32 and lite.output_details["dtype"] == np.int8
    kinds = {t["dtype"] for t in lite._interp.get_tensor_details() if "block1_pw" in t["name"]}
    assert np.int8 in kinds
    keras_probs = np.asarray(wrapped(waves, training=False))
    lite_probs = lite(waves)
    assert np.abs(lite_probs - keras_probs).max() < 0.1
    top2 = np.sort(keras_probs, axis=1)[:, -2:]
    confident = top2[:, 1] - top2[:, 0] > 0.2  # int8 noise cannot flip a clear decision
    assert confident.sum() >= 8
    np.testing.assert_array_equal(lite_probs[confident].argmax(1), keras_probs[confident].argmax(1))


# ----- end to end: train, export, predict a user's file -----


@pytest.mark.slow  # 10-18 s end to end: in `make test-slow`, so the default run stays under 10 min
def test_train_export_and_predict_a_stereo_48khz_file(speech_data, tmp_path, capsys):
    from apps.cli import main
    from apps.train import train

    cfg, _, _ = speech_data
    models = tmp_path / "models"
    train(APP, dataclasses.replace(cfg, epochs=1), models, verbose=0)
    # `_unknown_`'s prior was refit on validation after training (apps/calibration.py).
    calibrated = __import__("json").loads((models / "speech" / "metrics.json").read_text())["calibration"]
    assert calibrated["class"] == "_unknown_"
    assert calibrated["validation_accuracy"][1] >= calibrated["validation_accuracy"][0]
    assert main(["export", "speech", "--quant", "float32", "--models-dir", str(models)]) == 0
    meta = __import__("json").loads((models / "speech" / "tflite" / "metadata.json").read_text())
    assert meta["raw_input"]["sample_rate"] == RATE and meta["raw_input"]["clip_samples"] == RATE
    assert meta["files"]["float32"]["input"]["shape"] == [1, RATE]
    left = tone(800, 1.5, 48_000)
    wav = tmp_path / "mine.wav"
    wav.write_bytes(wav_bytes(np.stack([left, 0.5 * left], axis=1), 48_000))
    capsys.readouterr()
    assert (
        main(["predict", "speech", "--input", str(wav), "--tflite", "float32", "--models-dir", str(models)])
        == 0
    )
    out = capsys.readouterr().out
    assert "input: 48000 Hz, 2 channels; converted to 16 kHz mono; loudest 1-s window of 1.50 s" in out
    assert "tflite float32" in out and "top-1 agreement: yes" in out
    scan = ["predict", "speech", "--input", str(wav), "--scan", "--models-dir", str(models)]
    assert main([*scan, "--min-prob", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "input: 48000 Hz, 2 channels; converted to 16 kHz mono; 3 windows over 1.50 s" in out
    assert "from s" in out or "no keyword heard" in out
    assert main([*scan, "--min-prob", "0"]) == 2 and "--min-prob must be in (0, 1]" in capsys.readouterr().err
    # --scan --tflite: detections from the exported file, checked window by window against Keras.
    assert main([*scan, "--tflite", "float32", "--min-prob", "0.01"]) == 0
    assert "float32.tflite: top-1 agrees with the Keras model on 3/3 windows" in capsys.readouterr().out
    assert main([*scan, "--tflite", "int8"]) == 2
    assert "int8.tflite. Export it with `glasswing export speech --quant int8`" in capsys.readouterr().err
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert main(["predict", "speech", "--input", str(empty), "--models-dir", str(models)]) == 2
    assert "empty (0 bytes)" in capsys.readouterr().err


# ----- voices of two engines and acoustic channels -----


def test_plan_holds_out_voices_of_each_engine_and_whole_speakers():
    natural = (
        [f"flite-{v}" for v in synth.FLITE_VOICES]
        + list(synth.FESTIVAL_VOICES)
        + [f"kokoro-{v}" for v in kokoro.VOICES]
    )
    rows = synth.plan([f"v{i}" for i in range(40)], 20, 40, 10, seed=3, natural=natural)
    assert {r["engine"] for r in rows} == {"espeak-ng", "flite", "festival", "kokoro", "noise"}
    splits = {}
    for r in rows:
        if r["engine"] != "noise":
            speaker = synth.SPEAKERS.get(r["variant"], r["variant"])
            splits.setdefault(r["split"], set()).add(speaker)
    assert splits["test"] and not splits["train"] & splits["test"]
    assert not splits["train"] & splits["validation"]
    # Every rendition of a speaker (flite's kal, kal16 and festival's kal) is on one side.
    assert {r["split"] for r in rows if synth.SPEAKERS.get(r["variant"]) == "kal"} == {"train"}
    assert {r["split"] for r in rows if r["variant"] == "festival-ked"} == {"test"}
    # A female neural voice is held out; the other three women and the man train.
    assert {r["split"] for r in rows if r["variant"] == "kokoro-jf_tebukuro"} == {"test"}
    assert {r["split"] for r in rows if r["variant"] == "kokoro-jf_nezumi"} == {"validation"}
    assert {r["split"] for r in rows if r["variant"] == "kokoro-jf_alpha"} == {"train"}
    share = np.mean([r["engine"] not in ("espeak-ng", "noise") for r in rows if r["engine"] != "noise"])
    assert abs(share - synth.NATURAL_SHARE) < 0.08
    for engine, stretches in synth.STRETCHES.items():
        assert {int(r["speed"]) for r in rows if r["engine"] == engine} <= set(stretches)
    assert any(r["channel"] for r in rows) and all(not r["channel"] for r in rows if r["engine"] == "noise")


@pytest.mark.skipif(shutil.which("festival") is None, reason="festival is not installed")
def test_festival_words_are_cached_once_per_voice_and_rendered_from_the_cache(tmp_path):
    rows = [
        {
            "id": str(i),
            "label": w,
            "word": w,
            "engine": "festival",
            "voice": v,
            "speed": 100,
            "gain": 0.5,
            "offset": 0.5,
            "channel": "",
        }
        for i, (w, v) in enumerate(
            [("yes", "festival-kal"), ("yes", "festival-kal"), ("stop", "festival-slt")]
        )
    ]
    cache = tmp_path / "renditions"
    assert synth.prerender(cache, rows, workers=2) == 2  # the repeated word is rendered once
    assert synth.prerender(cache, rows, workers=2) == 0  # resumed: nothing left to do
    assert not list(cache.rglob(".*tmp*"))
    cached = synth.render(rows[0], seed=0, cache=cache)
    direct = synth.render(rows[0], seed=0)  # no cache: synthesized on the spot, same audio
    assert cached.shape == (synth.CLIP_SAMPLES,) and np.abs(cached).max() == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(cached, direct, atol=1e-4)
    # The word is placed at the offset: the start of the clip is silent.
    assert np.abs(cached[:200]).max() < 0.01


def test_kokoro_says_a_word_in_each_voice_and_its_renditions_are_cached(tmp_path):
    # espeak-ng's IPA mapped to Kokoro's English symbols: diphthongs are one symbol.
    assert kokoro.phonemes("eight") == "ˈAt" and kokoro.phonemes("go") == "ɡˈO"
    assert synth.engine_of("kokoro-jm_kumo") == "kokoro" and synth.engine_of("festival-ked") == "festival"
    # Opt-in (--set neural_voices=true), in a folder of its own so the default data stays as it is.
    assert "kokoro-jf_alpha" in synth.natural_variants(neural=True)
    assert not any(v.startswith("kokoro") for v in synth.natural_variants())
    cfg = APP.Config(neural_voices=True)
    assert data.clips_dir(cfg).name == "speech-neural" and data.clips_dir(APP.Config()).name == "speech"
    # Its tfds copy too: switching between the two sets rebuilds neither.
    assert data.tfds_dir(cfg) != data.tfds_dir(APP.Config()) == Path(APP.Config().data_dir) / "tfds"
    lengths = {}
    for stretch in (0.85, 1.25):
        audio = kokoro.say("kokoro-jf_alpha", "seven", stretch)
        lengths[stretch] = len(audio) / kokoro.RATE
        assert audio.dtype == np.float32 and 0.02 < np.sqrt(np.mean(audio**2)) < 0.5
    assert 0.3 < lengths[0.85] < lengths[1.25] < 1.6  # a stretch says it slower
    row = {
        "id": "0",
        "label": "seven",
        "word": "seven",
        "engine": "kokoro",
        "voice": "kokoro-jm_kumo",
        "speed": 105,
        "gain": 0.5,
        "offset": 0.5,
        "channel": "",
    }
    cache = tmp_path / "renditions"
    assert synth.prerender(cache, [row, dict(row, id="1")], workers=2) == 1
    assert not list(cache.rglob(".*tmp*"))
    clip = synth.render(row, seed=0, cache=cache)
    assert clip.shape == (synth.CLIP_SAMPLES,) and np.abs(clip).max() == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(clip, synth.render(row, seed=0), atol=1e-4)  # same audio uncached


def _tone(freq, n=RATE):
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(n) / RATE)).astype(np.float32)


def test_channels_do_what_they_say():
    from apps.speech import channel

    rng = np.random.default_rng(0)
    assert channel.draw(np.random.default_rng(5)) == channel.draw(np.random.default_rng(5))
    high = _tone(6000)
    assert np.abs(channel.apply(high, "phone", rng)).max() == pytest.approx(0.5)  # level kept ...
    band = channel._round_trip_8k(high.astype(np.float64), band=True)
    assert np.sqrt(np.mean(band**2)) < 0.01  # ... but 6 kHz is gone through a telephone line
    speech_band = channel._round_trip_8k(_tone(1000).astype(np.float64), band=True)
    assert np.sqrt(np.mean(speech_band[1000:-1000] ** 2)) > 0.3
    burst = np.zeros(RATE, np.float32)
    burst[:800] = _tone(500, 800)
    wet = channel.apply(burst, "reverb=0.6", rng)
    assert np.abs(wet[4000:8000]).max() > 0.01 > np.abs(burst[4000:8000]).max()  # a tail after the word
    # 8-bit mu-law: coarse steps near full scale, fine ones for quiet samples.
    assert np.abs(channel._mulaw(np.linspace(-1, 1, 101)) - np.linspace(-1, 1, 101)).max() < 0.025
    assert np.abs(channel._mulaw(np.linspace(-0.01, 0.01, 101)) - np.linspace(-0.01, 0.01, 101)).max() < 5e-4
    slow = channel.speed(_tone(1000, 8000), "eq=3@500;speed=0.800")
    assert len(slow) == 10000 and dominant_hz(np.pad(slow, (0, RATE - 10000))) == pytest.approx(800, abs=5)
    assert np.abs(channel.apply(burst, "dc=0.05;clip=4.0", rng)).max() == pytest.approx(0.5)


def test_utterance_norm_removes_a_fixed_coloration():
    from apps.speech.model import UtteranceNorm

    rng = np.random.default_rng(0)
    x = rng.normal(0, 3, size=(2, 97, 40, 1)).astype(np.float32)
    coloured = x + np.linspace(-5, 5, 40)[None, None, :, None].astype(np.float32)  # a mic's EQ, in log units
    layer = UtteranceNorm()
    np.testing.assert_allclose(np.asarray(layer(coloured)), np.asarray(layer(x)), atol=1e-4)
    quiet = np.full((1, 97, 40, 1), -12.0, np.float32) + rng.normal(0, 0.1, (1, 97, 40, 1)).astype(np.float32)
    assert np.abs(np.asarray(layer(quiet))).max() < 0.5  # the floor keeps near-silence near zero


def test_context_puts_a_neighbouring_word_fragment_outside_the_word_and_spares_silence():
    import tensorflow as tf

    cfg = dataclasses.replace(APP.Config(), context_probability=1.0, context_ms=200.0)
    silence = data.labels(cfg).index(synth.SILENCE)
    x = np.zeros((3, RATE), np.float32)
    x[0, 6_000:9_000] = _tone(440)[:3_000]  # a "word" at 0.375-0.56 s
    x[1, 8_000:12_000] = _tone(1000)[:4_000]  # another at 0.5-0.75 s
    x[2] = 0.01 * np.random.default_rng(0).standard_normal(RATE)  # background noise
    y = np.array([0, 1, silence])
    for seed in range(5):
        tf.random.set_seed(seed)
        out = np.asarray(data.add_context(tf.constant(x), tf.constant(y), cfg, silence))
        np.testing.assert_array_equal(out[2], x[2])  # _silence_ stays silence
        added = out[1] - x[1]
        np.testing.assert_allclose(added[8_000:12_000], 0, atol=1e-6)  # the word itself is untouched
        where = np.flatnonzero(np.abs(added) > 1e-4)
        assert where.size, "clip 1 got no fragment"
        # Clip 0's tone, within 200 ms + 50 ms of clip 1's word, on one side, at most its peak.
        assert (where.max() < 8_000 and where.min() >= 8_000 - 4_000) or (
            where.min() >= 12_000 and where.max() < 12_000 + 4_000
        )
        assert where.size <= 3_200 + 1 and np.abs(added).max() <= np.abs(x[1]).max() + 1e-6


def test_context_settings_are_checked():
    with pytest.raises(GlasswingError, match="context_probability must be in"):
        APP.Config(context_probability=1.5)
    with pytest.raises(GlasswingError, match="context_ms must be > 0"):
        APP.Config(context_ms=0)
    with pytest.raises(GlasswingError, match="augment_on='fft'"):
        APP.Config(augment_on="fft")


def test_a_dc_offset_is_removed_so_padding_adds_no_step():
    wave = tone(500, 0.5) + 0.1  # a sound card's constant offset
    clip, note = audio.load_clip(wav_bytes(wave, RATE, "FLOAT"), RATE, RATE)
    word = clip[4000:12000]
    assert abs(float(word.mean())) < 1e-3 and np.abs(word).max() == pytest.approx(0.5, abs=0.01)
    assert clip[0] == 0.0 and "DC offset +0.100 removed" in note
    _, plain = audio.load_clip(wav_bytes(tone(500, 0.5), RATE, "FLOAT"), RATE, RATE)
    assert "DC offset" not in plain


def test_a_very_quiet_recording_is_named_in_the_note():
    _, note = audio.load_clip(wav_bytes(tone(500, 0.5, amplitude=0.002), RATE, "FLOAT"), RATE, RATE)
    assert "very quiet (peak -54 dBFS" in note
    _, note = audio.load_clip(wav_bytes(tone(500, 0.5, amplitude=0.05), RATE, "FLOAT"), RATE, RATE)
    assert "quiet" not in note
