"""Real-data checks of the committed speech model (slow: synthesizes the full dataset once, ~2-5 min)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from apps.speech import APP, audio, synth
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
FOLDER = ROOT / "models" / "speech"


@pytest.fixture(scope="module")
def committed():
    """(cfg, model, metrics, export report) of the committed model, with the dataset prepared."""
    from apps import artifacts

    if not (FOLDER / "model.keras").is_file():
        pytest.skip("no committed speech model")
    cfg = dataclasses.replace(artifacts.load_config(APP, FOLDER), data_dir=str(ROOT / "data"))
    APP.prepare(cfg)
    model = artifacts.load_model(FOLDER / "model.keras")
    metrics = json.loads((FOLDER / "metrics.json").read_text())
    report = json.loads((FOLDER / "export.json").read_text())
    return cfg, model, metrics, report


def test_regenerated_test_split_reproduces_the_recorded_accuracy(committed):
    """The dataset is regenerated from its seed: the held-out voices give the same accuracy."""
    from apps.evaluate import evaluate

    cfg, model, metrics, _ = committed
    again = evaluate(APP, model, cfg, "test")
    assert again["n_examples"] == metrics["n_examples"]
    assert abs(again["accuracy"] - metrics["accuracy"]) < 0.01
    assert metrics["accuracy"] >= 0.93


def test_int8_file_on_the_held_out_voices(committed):
    """The committed int8 .tflite (waveform in) classifies the test split about as well as Keras."""
    from apps.litert import LiteRTModel

    cfg, _, metrics, report = committed
    lite = LiteRTModel(FOLDER / "tflite" / "int8.tflite")
    waves, labels = [], []
    for x, y in APP.raw.dataset(dataclasses.replace(cfg, batch_size=500), "test"):
        waves.append(np.asarray(x))
        labels.append(np.asarray(y))
    waves, labels = np.concatenate(waves), np.concatenate(labels)
    accuracy = float((lite(waves).argmax(1) == labels).mean())
    assert accuracy >= metrics["accuracy"] - 0.015
    assert report["modes"]["int8"]["accuracy"] == pytest.approx(accuracy, abs=1e-3)


def test_a_new_recording_of_an_unseen_voice_at_48khz_stereo(committed, tmp_path):
    """Words synthesized now by a held-out voice, saved as 48 kHz stereo with lead-in, are recognized."""
    import soundfile
    from scipy.signal import resample_poly

    from apps.cli import main

    cfg, model, _, _ = committed
    test_voice = next(
        r for r in synth.read_manifest(ROOT / "data" / "speech") if r["split"] == "test" and r["variant"]
    )
    hits = 0
    for word in ("yes", "stop", "seven", "left", "go"):
        row = {
            **test_voice,
            "word": word,
            "label": word,
            "speed": 150,
            "pitch": 50,
            "gain": 0.7,
            "offset": 0.5,
        }
        clip = synth.render(row, seed=0)
        long = np.concatenate([np.zeros(16_000, np.float32), clip, np.zeros(8_000, np.float32)])
        wide = resample_poly(long, 3, 1).astype(np.float32)
        path = tmp_path / f"{word}.wav"
        soundfile.write(path, np.stack([wide, 0.8 * wide], axis=1), 48_000)
        x = APP.preprocessor(FOLDER)(path)
        _, note = audio.load_clip(path, cfg.sample_rate, cfg.clip_samples)
        assert "48000 Hz, 2 channels" in note and "loudest" in note
        probs = np.asarray(model(x[None], training=False))[0]
        hits += APP.labels(cfg)[int(probs.argmax())] == word
    assert hits >= 4
    assert main(["predict", "speech", "--input", str(tmp_path / "go.wav"), "--tflite", "int8"]) == 0
