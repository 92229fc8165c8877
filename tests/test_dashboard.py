"""Every dashboard page under ``streamlit.testing.v1.AppTest``, uploads, and the served dashboard.

The pages run on copies of the committed models whose ``config.json`` points the
image app at the small synthetic Fashion-MNIST of ``conftest`` (200 test
images), so nothing here needs the real datasets and every page is seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

SCRIPT = str(ROOT / "apps" / "dashboard" / "streamlit_app.py")
COMMITTED = ROOT / "models"
ARTIFACTS = ROOT / ".ci-artifacts" / "dashboard"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def _copy_app(name: str, models, data_dir, tflite=("float32", "int8")) -> None:
    """Copies a committed app folder (a few .tflite files only), pointing its data at ``data_dir``."""
    source, target = COMMITTED / name, models / name
    (target / "tflite").mkdir(parents=True)
    for f in source.iterdir():
        if f.is_file():
            shutil.copy(f, target / f.name)
    for mode in tflite:
        shutil.copy(source / "tflite" / f"{mode}.tflite", target / "tflite")
    shutil.copy(source / "tflite" / "metadata.json", target / "tflite")
    config = json.loads((source / "config.json").read_text())
    config["data_dir"] = str(data_dir)
    (target / "config.json").write_text(json.dumps(config))


@pytest.fixture(scope="module")
def models(tmp_path_factory, image_data_dir):
    """A models folder with the committed image and sentiment models (synthetic test splits).

    The sentiment pages read a 40-sentence synthetic test split: the committed
    encoder is 22M parameters, and the real 1,060-sentence split's projections
    and error lists belong in the slow tests.
    """
    from tests.test_sentiment import corpus_dir

    root = tmp_path_factory.mktemp("models")
    _copy_app("image", root, image_data_dir)
    text_data = corpus_dir(tmp_path_factory.mktemp("sentiment_data"))
    _copy_app("sentiment", root, text_data, tflite=("dynamic",))
    return root


@pytest.fixture(scope="module")
def image_only(tmp_path_factory, image_data_dir):
    """A models folder holding only the image app."""
    root = tmp_path_factory.mktemp("image_only")
    _copy_app("image", root, image_data_dir)
    return root


def _open(models, monkeypatch, app: str | None = None, page: str | None = None) -> AppTest:
    monkeypatch.setenv("GLASSWING_MODELS_DIR", str(models))
    at = AppTest.from_file(SCRIPT, default_timeout=120)
    # Straight to the page with the app chosen: one script run instead of three.
    if app is not None:
        at.session_state["glasswing_app"] = app
    if page is not None:
        at.switch_page(f"views/{page}.py")
    at.run()
    _assert_ok(at)
    if app is not None:
        assert at.sidebar.selectbox(key="glasswing_app").value == app
    return at


def _assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def _markdown(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def _captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


# ----- Overview -----


def test_overview_shows_each_trained_app_and_how_to_train_the_rest(image_only, monkeypatch):
    at = _open(image_only, monkeypatch)
    assert [h.value for h in at.header] == ["image · image classify"]
    assert "297,666 parameters" in _markdown(at)
    metrics, sizes = at.dataframe[0].value, at.dataframe[1].value
    assert metrics.set_index("metric").loc["accuracy", "value"] == pytest.approx(0.9344)
    assert list(sizes["mode"]) == ["float32", "dynamic", "float16", "int8"]
    assert "glasswing train sentiment" in _markdown(at)
    assert len(at.image) >= 1  # the confusion-matrix heatmap
    assert any("Model card" in e.label for e in at.expander)


def test_every_page_without_models_says_how_to_train(tmp_path, monkeypatch):
    for page in (None, "data", "playground", "explain", "features", "errors", "export"):
        at = _open(tmp_path / "empty", monkeypatch, page=page)
        assert "glasswing train image" in at.code[0].value


def test_corrupt_metrics_show_one_error_and_the_page_stays_up(tmp_path, image_only, monkeypatch):
    shutil.copytree(image_only / "image", tmp_path / "image")
    (tmp_path / "image" / "metrics.json").write_text("{broken")
    monkeypatch.setenv("GLASSWING_MODELS_DIR", str(tmp_path))
    at = AppTest.from_file(SCRIPT, default_timeout=120).run()
    assert not at.exception
    assert len(at.error) == 1 and "corrupt" in at.error[0].value


# ----- Playground -----


def test_playground_test_example_keras_and_tflite_side_by_side(models, monkeypatch):
    at = _open(models, monkeypatch, "image", "playground")
    at.number_input(key="playground:index").set_value(3).run()
    _assert_ok(at)
    assert at.session_state["glasswing_input:image"].index == 3
    keras_pred, lite_pred = (m.value for m in at.metric)
    assert keras_pred == lite_pred  # float32.tflite is chosen first
    assert "agree" in at.success[0].value
    at.selectbox(key="playground:mode").set_value("int8").run()
    _assert_ok(at)
    assert "int8.tflite" in (at.success or at.warning)[0].value
    assert len(at.dataframe) == 2 and len(at.dataframe[0].value) == 5


def test_playground_typed_text_is_classified_and_empty_text_is_not(models, monkeypatch):
    at = _open(models, monkeypatch, "sentiment", "playground")
    at.radio(key="playground:source").set_value("Your own").run()
    at.text_area(key="playground:text").input("A wonderful, moving and funny film.").run()
    _assert_ok(at)
    assert at.session_state["glasswing_input:sentiment"].source == "typed text"
    assert at.metric[0].value in ("negative", "positive")
    assert not any("no word of this text" in w.value for w in at.warning)
    at.text_area(key="playground:text").input("!!! ??? 123").run()
    assert any("no word of this text" in w.value for w in at.warning)  # classified, but marked
    assert at.metric[0].value in ("negative", "positive")
    at.text_area(key="playground:text").input("   ").run()
    _assert_ok(at)
    assert "Type something" in _captions(at)


# ----- Explain -----


def test_explain_image_methods_faithfulness_and_float_vs_tflite(models, monkeypatch):
    at = _open(models, monkeypatch, "image", "explain")
    assert at.multiselect(key="explain:methods").value == ["saliency", "integrated_gradients", "grad_cam"]
    at.multiselect(key="explain:methods").set_value(["saliency", "occlusion"]).run()
    _assert_ok(at)
    captions = _captions(at)
    assert captions.count("deletion AUC") == 2
    assert "top-10% overlap" in captions  # the float vs int8.tflite comparison
    assert at.selectbox(key="explain:cmp_mode").value == "int8"


def test_explain_text_highlights_tokens(models, monkeypatch):
    at = _open(models, monkeypatch, "sentiment", "explain")
    at.multiselect(key="explain:methods").set_value(["integrated_gradients"]).run()
    _assert_ok(at)
    html = _markdown(at)
    assert "<span" in html and "background:rgba" in html
    assert "deletion AUC" in _captions(at)


# ----- Features -----


def test_features_layer_maps_filters_kernels_and_projection(models, monkeypatch):
    at = _open(models, monkeypatch, "image", "features")
    layers = at.selectbox(key="features:layer").options
    assert layers[0] == "block1_1_conv"
    at.selectbox(key="features:layer").set_value(layers[1]).run()
    _assert_ok(at)
    # input, feature maps, filter visualizations, kernels, projection
    assert len(at.image) == 5
    assert "the star is the current input" in _captions(at)


def test_features_of_a_model_without_convolutions_explain_why(models, monkeypatch):
    at = _open(models, monkeypatch, "sentiment", "features")
    assert any("no convolution" in i.value.lower() for i in at.info)


# ----- Errors -----


def test_errors_filter_and_click_through_to_explain(models, monkeypatch):
    at = _open(models, monkeypatch, "image", "errors")
    assert "misclassified" in _captions(at)
    at.multiselect(key="errors:true").set_value(["Trouser"]).run()
    _assert_ok(at)
    rows = [m.value for m in at.markdown if m.value.startswith("**#")]
    assert rows and all("true **Trouser**" in row for row in rows)
    first = rows[0].split("**#")[1].split("**")[0]
    at.button(key=f"errors:explain:{first}").click().run()
    _assert_ok(at)
    assert at.title[0].value == "Explain"
    assert at.session_state["glasswing_input:image"].index == int(first)


# ----- Export -----


def test_export_table_charts_downloads_and_run_button(models, monkeypatch):
    import apps.export

    at = _open(models, monkeypatch, "image", "export")
    table = at.dataframe[0].value.set_index("mode")
    # The page shows what the committed export measured in LiteRT.
    recorded = json.loads((COMMITTED / "image" / "export.json").read_text())["modes"]["int8"]["accuracy"]
    assert table.loc["int8", "accuracy"] == pytest.approx(recorded)
    assert "Intel" in _captions(at) or "Measured on" in _captions(at)
    labels = [d.label for d in at.get("download_button")]
    assert any(label.startswith("float32.tflite") for label in labels)
    assert any(label.startswith("metadata.json") for label in labels)
    calls = []
    # The real conversion takes minutes; the page's progress and messages are what is tested.
    monkeypatch.setattr(apps.export, "export", lambda app, root, mode: calls.append(mode) or {mode: {}})
    at.multiselect(key="export:modes").set_value(["float32", "int8"]).run()
    at.button(key="export:run").click().run()
    _assert_ok(at)
    assert calls == ["float32", "int8"]
    assert "Exported float32, int8" in at.success[0].value


# ----- uploads -----


class _Upload:
    def __init__(self, name: str, data: bytes):
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


def _png(size=(40, 30)) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 200, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def _text_preprocess():
    from apps import APPS

    return APPS["sentiment"].preprocessor(COMMITTED / "sentiment")


@pytest.mark.parametrize(
    ("kind", "name", "data", "message"),
    [
        ("image", "shirt.png", _png()[:40], "Cannot read the image"),
        ("image", "shirt.png", b"", "empty"),
        ("image", "shirt.png", b"\x89PNG" + b"0" * (6 * 2**20), "limit is 5 MB"),
        ("image", "shirt.pdf", _png(), "not accepted"),
        ("text", "review.txt", b"   \n", "empty"),
        ("text", "review.png", b"great film", "not accepted"),
        ("text", "review.txt", b"x" * (6 * 2**20), "limit is 5 MB"),
        ("audio", "clip.wav", b"not a riff header", "not a readable WAV, FLAC or OGG"),
        ("audio", "clip.wav", b"", "empty"),
        ("audio", "clip.exe", b"RIFF....", "not accepted"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else "data",
)
def test_bad_uploads_raise_one_readable_error(kind, name, data, message):
    from apps import APPS
    from apps.dashboard import core, render
    from apps.errors import GlasswingError

    preprocess = {
        "image": lambda: APPS["image"].preprocess,
        "text": _text_preprocess,
        "audio": lambda: APPS["speech"].preprocess,
    }[kind]()
    with pytest.raises(GlasswingError, match=message):
        core.read_upload(APPS["image"], _Upload(name, data), preprocess, render.UPLOAD_TYPES[kind])


def test_good_uploads_are_preprocessed_by_the_app():
    from apps import APPS
    from apps.dashboard import core, render

    x = core.read_upload(
        APPS["image"], _Upload("a.PNG", _png()), APPS["image"].preprocess, render.IMAGE_TYPES
    )
    assert x.shape == (28, 28, 1)
    ids = core.read_upload(
        APPS["sentiment"], _Upload("r.txt", b"a fine film"), _text_preprocess(), render.TEXT_TYPES
    )
    # WordPiece ids: [CLS] a fine film [SEP]
    assert ids.dtype == np.int32 and (ids > 0).sum() == 5
    import io

    import soundfile

    wav = io.BytesIO()
    soundfile.write(wav, np.zeros((8000, 2), np.float32), 44_100, format="WAV")
    mel = core.read_upload(
        APPS["speech"], _Upload("me.wav", wav.getvalue()), APPS["speech"].preprocess, render.AUDIO_TYPES
    )
    assert mel.shape == (97, 40, 1) and np.isfinite(mel).all()


# ----- the served dashboard in a real browser -----


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(port: int, proc, seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        assert proc.poll() is None, "the dashboard exited early"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read().decode() == "ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the dashboard did not answer on port {port} within {seconds} s")


def _settle(page, title: str | None = None, seconds: float = 300) -> None:
    """Waits for the page ``title`` and until no script run has been going for 1.5 s."""
    from playwright.sync_api import expect

    if title is not None:
        expect(page.locator("h1").first).to_have_text(title)
    deadline, quiet = time.time() + seconds, 0
    while quiet < 3:
        assert time.time() < deadline, "the page kept running"
        running = page.get_by_test_id("stStatusWidget").count() > 0
        quiet = 0 if running else quiet + 1
        page.wait_for_timeout(500)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)")
def test_browser_upload_predict_and_explain(image_only, tmp_path):
    """`glasswing dashboard` on localhost, driven by headless Chromium: upload, predict, explain."""
    from playwright.sync_api import expect, sync_playwright

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.cli", "dashboard", "--port", str(port), "--models-dir", str(image_only)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    good, bad = tmp_path / "shirt.png", tmp_path / "broken.png"
    good.write_bytes(_png((60, 80)))
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        _wait_healthy(port, proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            # Bounded waits: the first page load imports TensorFlow and loads the model
            # (generous, because CI machines are slower than a warm developer machine).
            page.set_default_timeout(120_000)
            expect.set_options(timeout=120_000)
            try:
                page.goto(f"http://127.0.0.1:{port}/")
                expect(page.get_by_text("image · image classify").first).to_be_visible()
                page.screenshot(path=ARTIFACTS / "overview.png")
                nav = page.locator("[data-testid=stSidebarNav]")
                nav.get_by_text("Playground", exact=True).click()
                page.get_by_text("Your own").click()
                page.locator("input[type=file]").set_input_files(str(bad))
                expect(page.locator("[data-testid=stAlertContentError]")).to_contain_text(
                    "Cannot read the image"
                )
                page.locator("input[type=file]").set_input_files(str(good))
                captions = page.get_by_test_id("stImageCaption")
                expect(captions.filter(has_text="shirt.png").first).to_be_visible()
                # Until the run ends, Streamlit still shows the test example's stale panels
                # below the new ones (CI once saw two "Keras model" headings): settle first.
                _settle(page, "Playground", 120)
                expect(page.get_by_text("Keras model", exact=True)).to_have_count(1)
                expect(page.get_by_text("test example #", exact=False)).to_have_count(0)
                expect(page.locator("[data-testid=stAlertContentError]")).to_have_count(0)
                expect(page.locator("[data-testid=stMetricValue]").first).not_to_be_empty()
                page.screenshot(path=ARTIFACTS / "playground.png")
                nav.get_by_text("Explain", exact=True).click()
                expect(page.get_by_text("deletion AUC").first).to_be_visible()
                _settle(page, "Explain", 120)
                # The upload, not a test example, is what is explained (checked once the
                # run has ended, so a stale Playground caption cannot pass for it).
                expect(captions.filter(has_text="shirt.png").first).to_be_visible()
                expect(page.get_by_text("test example #", exact=False)).to_have_count(0)
                page.screenshot(path=ARTIFACTS / "explain.png")
            except Exception:
                # Leave evidence for a failure seen only on a loaded machine.
                page.screenshot(path=ARTIFACTS / "failure.png", full_page=True)
                print("page text at failure:", page.inner_text("body")[:2000])
                raise
            browser.close()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)
    assert (ARTIFACTS / "explain.png").stat().st_size > 10_000


def test_render_draws_every_modality():
    """render.py is the one modality switch: images, token highlights and time x mel maps all draw."""
    import types

    from apps.dashboard import render

    rng = np.random.default_rng(0)
    for modality, shape in (("image", (28, 28, 1)), ("audio", (40, 16, 1))):
        app = types.SimpleNamespace(modality=modality, name="toy")
        png = render.overlay_png(app, rng.random(shape), rng.normal(size=shape), "map")
        assert png.startswith(b"\x89PNG")
    html = render.highlighted_tokens(["a", "", "<b>"], [1.0, 0.0, -0.5])
    assert html.count("<span") == 2 and "&lt;b&gt;" in html and "rgba(44,123,182,0.50)" in html
    assert render.confusion_png([[3, 1], [0, 4]], ["x", "y"]).startswith(b"\x89PNG")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)")
def test_browser_screenshots_of_every_page_with_the_committed_models():
    """Every page of every committed app in Chromium, saved under .ci-artifacts/dashboard/pages/."""
    from playwright.sync_api import expect, sync_playwright

    from apps import APPS, artifacts
    from apps.artifacts import list_trained

    out = ARTIFACTS / "pages"
    out.mkdir(parents=True, exist_ok=True)
    # Data first, outside the pages' time limits: a fresh clone synthesizes the speech set
    # (~8 min on 2 cores) on its first use, which a page would otherwise have to wait for.
    for name in list_trained(COMMITTED):
        app = APPS[name]
        app.prepare(artifacts.load_config(app, COMMITTED / name))
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.cli", "dashboard", "--port", str(port)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_healthy(port, proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 2000})
            page.set_default_timeout(300_000)
            expect.set_options(timeout=300_000)  # first visits read and predict whole test splits
            page.goto(f"http://127.0.0.1:{port}/")
            nav = page.locator("[data-testid=stSidebarNav]")
            for name in [n for n in APPS if n in list_trained(COMMITTED)]:
                page.locator("[data-testid=stSidebar] [data-testid=stSelectbox]").click()
                page.get_by_role("option", name=f"{name} ·").click()
                titles = ["Overview", "Export"]
                titles += ["Generate"] if APPS[name].task == "generate" else []
                titles += (
                    ["Data", "Playground", "Explain", "Features", "Errors"]
                    if APPS[name].task == "classify"
                    else []
                )
                for title in titles:
                    nav.get_by_text(title, exact=True).click()
                    _settle(page, "Glasswing models" if title == "Overview" else title)
                    expect(page.locator("[data-testid=stException]")).to_have_count(0)
                    page.screenshot(path=out / f"{name}-{title.lower()}.png")
            browser.close()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)


# ----- speech: log-mel model, waveform .tflite -----


@pytest.fixture(scope="module")
def speech_models(tmp_path_factory, speech_data_dir):
    """The committed speech model reading the tiny synthesized dataset."""
    if not (COMMITTED / "speech" / "model.keras").is_file():
        pytest.skip("no committed speech model")
    root = tmp_path_factory.mktemp("speech_models")
    _copy_app("speech", root, speech_data_dir[0])
    config = json.loads((root / "speech" / "config.json").read_text())
    from tests.conftest import TINY_SPEECH_DATA

    config.update(TINY_SPEECH_DATA)  # the tiny dataset's plan, so it is not regenerated
    (root / "speech" / "config.json").write_text(json.dumps(config))
    return root


def test_speech_playground_feeds_the_waveform_tflite(speech_models, monkeypatch):
    at = _open(speech_models, monkeypatch, "speech", "playground")
    current = at.session_state["glasswing_input:speech"]
    assert current.x.shape == (97, 40, 1) and current.raw.shape == (16_000,)
    keras_pred, lite_pred = (m.value for m in at.metric)
    assert keras_pred == lite_pred
    at.selectbox(key="playground:mode").set_value("int8").run()
    _assert_ok(at)
    assert "int8.tflite" in (at.success or at.warning)[0].value


def test_speech_explain_maps_the_log_mel_and_says_why_no_tflite_maps(speech_models, monkeypatch):
    at = _open(speech_models, monkeypatch, "speech", "explain")
    assert "deletion AUC" in _captions(at)
    assert any("take the raw signal" in i.value for i in at.info)


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

    at = _open(speech_models, monkeypatch, "speech", "playground")
    at.radio(key="playground:source").set_value("Your own")
    # What an upload of that file sets (the uploader itself cannot be driven by AppTest).
    at.session_state["glasswing_input:speech"] = Current(app.preprocess(raw, cfg), "talk.wav", None, raw)
    at.run()
    _assert_ok(at)
    assert "scan to find every keyword" in _captions(at)
    at.toggle(key="playground:scan").set_value(True).run()
    _assert_ok(at)
    assert "9 windows over 3.00 s" in _captions(at)
    table = at.dataframe[-1].value
    assert labels[y[i]] in set(table["keyword"]), table
    row = table[table["keyword"] == labels[y[i]]].iloc[0]
    assert row["from s"] <= 1.25 and row["to s"] >= 1.75
