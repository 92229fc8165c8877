"""Every dashboard page under ``streamlit.testing.v1.AppTest`` (image and sentiment models)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard_helpers import (
    COMMITTED,
    SCRIPT,
    assert_ok,
    captions_of,
    markdown_of,
    open_page,
)

# ----- Overview -----


def test_overview_shows_each_trained_app_and_how_to_train_the_rest(image_only, monkeypatch):
    at = open_page(image_only, monkeypatch)
    assert [h.value for h in at.header] == ["image · image classify"]
    assert "183,258 parameters" in markdown_of(at)
    metrics, sizes = at.dataframe[0].value, at.dataframe[1].value
    assert metrics.set_index("metric").loc["accuracy", "value"] == pytest.approx(0.9404)
    assert list(sizes["mode"]) == ["float32", "dynamic", "float16", "int8"]
    assert "glasswing train sentiment" in markdown_of(at)
    assert len(at.image) >= 1  # the confusion-matrix heatmap
    assert any("Model card" in e.label for e in at.expander)
    # The curves' val_* are the 2-view model's (metrics.json validated_with), and the page says so.
    assert "with `tta_shift=0`" in captions_of(at)


def test_every_page_without_models_says_how_to_train(tmp_path, monkeypatch):
    for page in (None, "data", "playground", "explain", "features", "errors", "export"):
        at = open_page(tmp_path / "empty", monkeypatch, page=page)
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
    at = open_page(models, monkeypatch, "image", "playground")
    at.number_input(key="playground:index").set_value(3).run()
    assert_ok(at)
    assert at.session_state["glasswing_input:image"].index == 3
    keras_pred, lite_pred = (m.value for m in at.metric)
    assert keras_pred == lite_pred  # float32.tflite is chosen first
    assert "agree" in at.success[0].value
    at.selectbox(key="playground:mode").set_value("int8").run()
    assert_ok(at)
    assert "int8.tflite" in (at.success or at.warning)[0].value
    assert len(at.dataframe) == 2 and len(at.dataframe[0].value) == 5


def test_playground_typed_text_is_classified_and_empty_text_is_not(models, monkeypatch):
    at = open_page(models, monkeypatch, "sentiment", "playground")
    at.radio(key="playground:source").set_value("Your own").run()
    at.text_area(key="playground:text").input("A wonderful, moving and funny film.").run()
    assert_ok(at)
    assert at.session_state["glasswing_input:sentiment"].source == "typed text"
    assert at.metric[0].value in ("negative", "positive")
    assert not any("no word of this text" in w.value for w in at.warning)
    at.text_area(key="playground:text").input("!!! ??? 123").run()
    assert any("no word of this text" in w.value for w in at.warning)  # classified, but marked
    assert at.metric[0].value in ("negative", "positive")
    at.text_area(key="playground:text").input("   ").run()
    assert_ok(at)
    assert "Type something" in captions_of(at)


# ----- Explain -----


def test_explain_image_methods_faithfulness_and_float_vs_tflite(models, monkeypatch):
    at = open_page(models, monkeypatch, "image", "explain")
    assert at.multiselect(key="explain:methods").value == ["saliency", "integrated_gradients", "grad_cam"]
    at.multiselect(key="explain:methods").set_value(["saliency", "occlusion"]).run()
    assert_ok(at)
    captions = captions_of(at)
    assert captions.count("deletion AUC") == 2
    # Ordered by the gain over random measured for this model, with that gain under each map.
    assert captions.count("for this model, over 8 test examples") == 2
    gains = [
        float(c.split("gain over random ")[1].split()[0]) for c in captions.splitlines() if "gain over" in c
    ]
    assert gains == sorted(gains, reverse=True)
    assert "top-10% overlap" in captions  # the float vs int8.tflite comparison
    assert at.selectbox(key="explain:cmp_mode").value == "int8"


def test_explain_compares_the_maps_with_another_model_of_the_app(models, monkeypatch, tmp_path):
    twin = tmp_path / "twin"
    shutil.copytree(models / "image", twin)
    at = open_page(models, monkeypatch, "image", "explain")
    at.multiselect(key="explain:methods").set_value(["gradient_input"]).run()
    at.text_input(key="explain:other").input(str(twin)).run()
    assert_ok(at)
    assert "rank correlation with this model's map 1.000" in captions_of(at)
    at.text_input(key="explain:other").input(str(tmp_path / "nowhere")).run()
    assert any("no model.keras there" in e.value for e in at.error)


# ~15 s: in the slow set (CI runs it) to keep `make test` under 10 min on 2 cores.
@pytest.mark.slow
def test_explain_text_highlights_tokens_and_starts_a_large_model_on_cheap_methods(models, monkeypatch):
    # The committed sentiment model is 110M parameters: integrated gradients would take ~35 s a
    # sentence, and the per-model measurement 8 examples of each method on top.
    at = open_page(models, monkeypatch, "sentiment", "explain")
    assert at.multiselect(key="explain:methods").value == ["occlusion", "saliency"]
    assert at.toggle(key="explain:model_level").value is False
    assert "109M parameters" in captions_of(at)
    html = markdown_of(at)
    assert "<span" in html and "background:rgba" in html
    assert "deletion AUC" in captions_of(at)


# ----- Insights -----


@pytest.mark.slow  # 10-18 s end to end: in `make test-slow`, so the default run stays under 10 min
def test_insights_image_class_maps_and_report(models, monkeypatch):
    at = open_page(models, monkeypatch, "image", "insights")
    at.slider(key="insights:per_class").set_value(3).run()
    assert_ok(at)
    assert at.selectbox(key="insights:method").value == "integrated_gradients"
    assert "30 test examples" in captions_of(at)
    assert len(at.get("image")) == 1 and len(at.get("download_button")) == 1


# ~28 s: in the slow set (CI runs it) to keep `make test` under 10 min on 2 cores.
@pytest.mark.slow
def test_insights_text_lists_the_words_that_push_each_class(models, monkeypatch):
    at = open_page(models, monkeypatch, "sentiment", "insights")  # large model: occlusion first
    assert at.selectbox(key="insights:method").value == "occlusion"
    assert "explained for its true class with **occlusion**" in captions_of(at)
    assert len(at.get("image")) == 2  # one bar chart of pushing words per class
    assert "×" in captions_of(at)  # example sentences beside the words


# ----- Features -----


def test_features_layer_maps_filters_kernels_and_projection(models, monkeypatch):
    at = open_page(models, monkeypatch, "image", "features")
    layers = at.selectbox(key="features:layer").options
    assert layers[0] == "block1_1_conv"
    at.selectbox(key="features:layer").set_value(layers[1]).run()
    assert_ok(at)
    # input, feature maps, filter visualizations, kernels, projection
    assert len(at.image) == 5
    assert "the star is the current input" in captions_of(at)


def test_features_of_a_model_without_convolutions_explain_why(models, monkeypatch):
    at = open_page(models, monkeypatch, "sentiment", "features")
    assert any("no convolution" in i.value.lower() for i in at.info)


# ----- Errors -----


def test_errors_filter_and_click_through_to_explain(models, monkeypatch):
    at = open_page(models, monkeypatch, "image", "errors")
    assert "misclassified" in captions_of(at)
    at.multiselect(key="errors:true").set_value(["Trouser"]).run()
    assert_ok(at)
    rows = [m.value for m in at.markdown if m.value.startswith("**#")]
    assert rows and all("true **Trouser**" in row for row in rows)
    first = rows[0].split("**#")[1].split("**")[0]
    at.button(key=f"errors:explain:{first}").click().run()
    assert_ok(at)
    assert at.title[0].value == "Explain"
    assert at.session_state["glasswing_input:image"].index == int(first)


# ----- Export -----


def test_export_table_charts_downloads_and_run_button(models, monkeypatch):
    import apps.export

    at = open_page(models, monkeypatch, "image", "export")
    table = at.dataframe[0].value.set_index("mode")
    # The page shows what the committed export measured in LiteRT.
    recorded = json.loads((COMMITTED / "image" / "export.json").read_text())["modes"]["int8"]["accuracy"]
    assert table.loc["int8", "accuracy"] == pytest.approx(recorded)
    assert "Intel" in captions_of(at) or "Measured on" in captions_of(at)
    labels = [d.label for d in at.get("download_button")]
    assert any(label.startswith("float32.tflite") for label in labels)
    assert any(label.startswith("metadata.json") for label in labels)
    calls = []
    # The real conversion takes minutes; the page's progress and messages are what is tested.
    monkeypatch.setattr(apps.export, "export", lambda app, root, mode: calls.append(mode) or {mode: {}})
    at.multiselect(key="export:modes").set_value(["float32", "int8"]).run()
    at.button(key="export:run").click().run()
    assert_ok(at)
    assert calls == ["float32", "int8"]
    assert "Exported float32, int8" in at.success[0].value


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
