"""Speech pages: the log-mel model, its waveform .tflite, and scanning an uploaded recording."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.dashboard_helpers import (
    COMMITTED,
    assert_ok,
    captions_of,
    copy_app,
    open_page,
)

# ----- speech: log-mel model, waveform .tflite -----


@pytest.fixture(scope="module")
def speech_models(tmp_path_factory, speech_data_dir):
    """The committed speech model reading the tiny synthesized dataset."""
    if not (COMMITTED / "speech" / "model.keras").is_file():
        pytest.skip("no committed speech model")
    root = tmp_path_factory.mktemp("speech_models")
    copy_app("speech", root, speech_data_dir[0])
    config = json.loads((root / "speech" / "config.json").read_text())
    from tests.conftest import TINY_SPEECH_DATA

    config.update(TINY_SPEECH_DATA)  # the tiny dataset's plan, so it is not regenerated
    (root / "speech" / "config.json").write_text(json.dumps(config))
    return root


def test_speech_playground_feeds_the_waveform_tflite(speech_models, monkeypatch):
    at = open_page(speech_models, monkeypatch, "speech", "playground")
    current = at.session_state["glasswing_input:speech"]
    assert current.x.shape == (97, 40 + 32, 1) and current.raw.shape == (16_000,)  # DS-CNN + embedding bands
    keras_pred, lite_pred = (m.value for m in at.metric)
    assert keras_pred == lite_pred
    at.selectbox(key="playground:mode").set_value("int8").run()
    assert_ok(at)
    assert "int8.tflite" in (at.success or at.warning)[0].value


def test_speech_explain_maps_the_log_mel_and_says_why_no_tflite_maps(speech_models, monkeypatch):
    at = open_page(speech_models, monkeypatch, "speech", "explain")
    assert "deletion AUC" in captions_of(at)
    assert any("take the raw signal" in i.value for i in at.info)
    # Each map can be heard: the clip as recorded, only its top regions, and without them,
    # each with what the model hears in that sound.
    methods = at.multiselect(key="explain:methods").value
    assert len(at.get("audio")) >= 3 * len(methods) + 1
    heard = [c for c in captions_of(at).splitlines() if "heard as" in c]
    assert len(heard) == 3 * len(methods) and any("only the top 25% regions" in c for c in heard)


def test_speech_playground_scans_an_uploaded_recording(speech_models, monkeypatch):
    import io

    import soundfile

    from apps import APPS, artifacts
    from apps.dashboard.core import Current
    from apps.scan import is_background

    app = APPS["speech"]
    cfg = artifacts.load_config(app, speech_models / "speech")
    model = artifacts.load_model(speech_models / "speech" / "model.keras")
    signals, y = (np.asarray(t) for t in next(iter(app.raw.dataset(cfg, "test"))))
    probs = np.asarray(model(app.raw.frontend(cfg)(signals), training=False))
    labels = app.labels(cfg)
    # A test clip the model hears confidently as a keyword, said 1 s into a 3-s recording.
    i = next(
        i
        for i in range(len(y))
        if not is_background(labels[y[i]]) and probs[i].argmax() == y[i] and probs[i].max() > 0.9
    )
    silence = np.zeros(16_000, np.float32)
    buf = io.BytesIO()
    soundfile.write(buf, np.concatenate([silence, signals[i], silence]), 16_000, format="WAV")
    raw = buf.getvalue()

    at = open_page(speech_models, monkeypatch, "speech", "playground")
    at.radio(key="playground:source").set_value("Your own")
    # What an upload of that file sets (the uploader itself cannot be driven by AppTest).
    at.session_state["glasswing_input:speech"] = Current(app.preprocess(raw, cfg), "talk.wav", None, raw)
    at.run()
    assert_ok(at)
    assert "scan to find every keyword" in captions_of(at)
    at.toggle(key="playground:scan").set_value(True).run()
    assert_ok(at)
    assert "9 windows over 3.00 s" in captions_of(at)
    table = at.dataframe[-1].value
    assert labels[y[i]] in set(table["keyword"]), table
    row = table[table["keyword"] == labels[y[i]]].iloc[0]
    assert row["from s"] <= 1.25 and row["to s"] >= 1.75
