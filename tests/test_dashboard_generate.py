"""The dashboard's Generate page on the committed generation models (AppTest)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from apps import APPS
from tests.conftest import ROOT
from tests.dashboard_helpers import COMMITTED, SCRIPT, assert_ok, copy_app

GENERATORS = [name for name, app in APPS.items() if app.task == "generate"]


@pytest.fixture(scope="module")
def models(tmp_path_factory, image_data_dir):
    """Copies of the committed generation models; image generators read the synthetic Fashion-MNIST."""
    root = tmp_path_factory.mktemp("gen_models")
    for name in GENERATORS:
        if (COMMITTED / name / "model.keras").is_file():
            data = image_data_dir if APPS[name].modality == "image" else ROOT / "data"
            copy_app(name, root, data, tflite=())
    return root


def open_page(models, monkeypatch, app: str, page: str) -> AppTest:
    if not (models / app / "model.keras").is_file():
        pytest.skip(f"no committed model for {app}")
    monkeypatch.setenv("GLASSWING_MODELS_DIR", str(models))
    at = AppTest.from_file(SCRIPT, default_timeout=120)
    at.session_state["glasswing_app"] = app
    at.switch_page(f"views/{page}.py")
    at.run()
    assert_ok(at)
    return at


@pytest.mark.parametrize("name", GENERATORS)
def test_generate_page_offers_what_the_generator_can_do(models, monkeypatch, name):
    at = open_page(models, monkeypatch, name, "generate")
    assert at.title[0].value == "Generate"
    if APPS[name].modality == "image":
        assert len(at.image) == 3  # samples, interpolation, latent map
        at.slider(key="generate:n").set_value(8).run()
        at.number_input(key="generate:seed").set_value(3).run()
        at.slider(key="generate:steps").set_value(4).run()
        assert_ok(at)
        assert len(at.image) == 3
    else:
        at.text_area(key="generate:prompt").input("KING:\n").run()
        at.slider(key="generate:length").set_value(40).run()
        assert_ok(at)
        assert at.code[0].value.startswith("KING:\n")


@pytest.mark.parametrize("name", GENERATORS)
def test_classifier_pages_explain_they_do_not_apply_to_a_generator(models, monkeypatch, name):
    at = open_page(models, monkeypatch, name, "playground")
    assert "generate app" in at.info[0].value
