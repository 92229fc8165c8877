"""The dashboard on a model trained on a user's data: the sidebar, every page, and the Data page.

One tiny image model ("parts", two classes of a few PNGs, one epoch) is trained
once per module in seconds, beside a copy of the committed image model.
"""

from __future__ import annotations

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard_helpers import SCRIPT, assert_ok, captions_of, copy_app, open_page
from tests.test_userdata import _write_images


def _train_parts(tmp, models) -> None:
    """Trains "parts" on 5 pictures per class, plus a broken picture and a stray file (both skipped)."""
    from apps import cli

    photos = _write_images(tmp / "photos", per_class=5)
    (photos / "top" / "broken.png").write_bytes(b"not an image")
    (photos / "stray.png").write_bytes(b"outside any class folder")
    code = cli.main(
        ["train", "image", "--data", str(photos), "--name", "parts", "--tiny", "--set", "epochs=1"]
        + ["--set", "max_train_examples=0", "--set", f"data_dir={tmp / 'data'}", "--models-dir", str(models)]
    )
    assert code == 0


@pytest.fixture(scope="module")
def models(tmp_path_factory, image_data_dir):
    """A models folder with the committed image model and the user's "parts" model."""
    tmp = tmp_path_factory.mktemp("own")
    root = tmp / "models"
    root.mkdir()
    copy_app("image", root, image_data_dir, tflite=("float32",))
    _train_parts(tmp, root)
    return root


def _labels(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def test_sidebar_lists_user_models_after_the_builtins(models, tmp_path, monkeypatch):
    # A folder whose app.json is corrupt cannot be opened: it is left out, not an error.
    shutil.copytree(models, tmp_path / "models")
    (tmp_path / "models" / "broken").mkdir()
    shutil.copy(models / "parts" / "model.keras", tmp_path / "models" / "broken")
    (tmp_path / "models" / "broken" / "app.json").write_text("{")
    at = open_page(tmp_path / "models", monkeypatch)
    box = at.sidebar.selectbox(key="glasswing_app")
    assert box.options == ["image · image classify", "parts · image classify"]
    assert [h.value for h in at.header] == ["image · image classify", "parts · image classify"]


# What each page shows when it worked on "parts" (its classes are "bottom" and "top").
PAGE_SHOWS = {
    "overview": lambda at: at.header[0].value == "parts · image classify",
    "playground": lambda at: at.metric[0].value in ("bottom", "top") and "No .tflite" in at.info[0].value,
    "explain": lambda at: "deletion AUC" in captions_of(at),
    "features": lambda at: len(at.image) >= 3 and "the star is the current input" in captions_of(at),
    "errors": lambda at: "test examples misclassified" in captions_of(at),
    "export": lambda at: "no TF Lite export yet" in at.info[0].value,
}


@pytest.mark.parametrize("page", list(PAGE_SHOWS))
def test_every_page_works_on_a_user_model(models, monkeypatch, page):
    at = open_page(models, monkeypatch, "parts", page)
    assert "Your image classifier 'parts'" in at.sidebar.caption[0].value
    assert PAGE_SHOWS[page](at)


def test_data_page_of_a_user_model_counts_examples_and_skipped_files(models, monkeypatch):
    at = open_page(models, monkeypatch, "parts", "data")
    counts = at.dataframe[0].value.set_index("class")
    # 5 readable pictures per class: 1 validation, 1 test, 3 train.
    assert counts.loc["bottom"].to_dict() == {"train": 3, "validation": 1, "test": 1, "total": 5}
    assert counts.loc["all classes", "total"] == 10
    assert "**bottom**" in _labels(at) and "**top**" in _labels(at)
    assert len(at.image) == 2  # one row of pictures per class
    skipped = at.dataframe[1].value.set_index("file")["why"].to_dict()
    assert set(skipped) == {"stray.png", "top/broken.png"}
    assert "Cannot read the image" in skipped["top/broken.png"]
    at.slider(key="data:per_class").set_value(2).run()
    assert_ok(at)
    assert len(at.image) == 2


def test_data_page_of_a_builtin_shows_its_split_sizes(models, monkeypatch):
    at = open_page(models, monkeypatch, "image", "data")
    sizes = at.dataframe[0].value.set_index("split")["examples"].to_dict()
    assert sizes == {"train": 54000, "validation": 6000, "test": 10000}
    assert "not trained with `--data`" in captions_of(at)


def test_data_page_without_the_prepared_copy_shows_one_error(models, tmp_path, monkeypatch):
    shutil.copytree(models / "parts", tmp_path / "parts")
    config = json.loads((tmp_path / "parts" / "config.json").read_text())
    config["data_dir"] = str(tmp_path / "elsewhere")  # e.g. the model copied to another machine
    (tmp_path / "parts" / "config.json").write_text(json.dumps(config))
    at = _data_page_of_copy(tmp_path, monkeypatch)
    assert len(at.error) == 1 and "is missing" in at.error[0].value
    assert len(at.dataframe) == 2  # the counts and the skipped files still show


def test_data_page_with_a_corrupt_report_shows_one_error(models, tmp_path, monkeypatch):
    shutil.copytree(models / "parts", tmp_path / "parts")
    (tmp_path / "parts" / "data.json").write_text("{broken")
    at = _data_page_of_copy(tmp_path, monkeypatch)
    assert len(at.error) == 1 and "corrupt" in at.error[0].value


def _data_page_of_copy(models_dir, monkeypatch) -> AppTest:
    """The Data page of the model copied to ``models_dir/parts``, run once without an exception."""
    monkeypatch.setenv("GLASSWING_MODELS_DIR", str(models_dir))
    at = AppTest.from_file(SCRIPT, default_timeout=120)
    at.session_state["glasswing_app"] = "parts"
    at.switch_page("views/data.py")
    at.run()
    assert not at.exception
    return at


def _stored_examples(modality: str, examples: list) -> None:
    import types

    from apps.dashboard import render

    app = types.SimpleNamespace(modality=modality, name="toy")
    render.stored_examples(app, types.SimpleNamespace(sample_rate=8000), examples)


def test_stored_text_and_audio_examples_show_as_quotes_and_players():
    import numpy as np

    texts = [b"my invoice is *wrong*", "x" * 400, b"<b>"]
    at = AppTest.from_function(_stored_examples, args=("text", texts)).run()
    assert_ok(at)
    quotes = [m.value for m in at.markdown]
    assert quotes[0] == "> my invoice is *wrong*" and quotes[1].endswith(" ...") and "&lt;b&gt;" in quotes[2]
    # int16 clips, one of them silent (st.audio would divide by zero rescaling it).
    clips = [np.zeros(8000, np.int16), (np.sin(np.arange(8000) / 5) * 3000).astype(np.int16)]
    at = AppTest.from_function(_stored_examples, args=("audio", clips)).run()
    assert_ok(at)
    assert len(at.get("audio")) == 2


def test_wav_bytes_keep_the_samples_and_rate():
    import io
    import wave

    import numpy as np

    from xai.listen import wav_bytes

    signal = np.array([0, 1000, -32768, 32767], np.int16)
    with wave.open(io.BytesIO(wav_bytes(signal, 16_000))) as f:
        assert (f.getframerate(), f.getnchannels(), f.getsampwidth()) == (16_000, 1, 2)
        assert np.array_equal(np.frombuffer(f.readframes(4), "<i2"), signal)
