"""The sixth app (``tests/toyapp``, four files) goes through every verb and dashboard page.

Nothing outside its folder names it: it joins the registry through ``GLASSWING_APPS``
(set in conftest), and the contract and property tests pick it up by iterating
the registry.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.dashboard_helpers import assert_ok, open_page
from tests.test_battery import run

PAGES = ("overview", "data", "playground", "explain", "insights", "features", "errors", "export")


@pytest.fixture(scope="module")
def bars(tmp_path_factory):
    """A models folder where ``glasswing train bars`` and ``export bars --quant all`` have run."""
    models = tmp_path_factory.mktemp("bars_models")
    code, out, err = run(["train", "bars", "--models-dir", str(models)])
    assert code == 0, err
    code, out, err = run(["export", "bars", "--models-dir", str(models), "--quant", "all"])
    assert code == 0, out + err
    return models


def test_it_is_registered_from_outside_the_package():
    from apps import APPS

    assert APPS["bars"].__class__.__module__ == "apps.app"
    assert "bars" in run(["list"])[1]


def test_it_trains_to_a_real_accuracy(bars):
    metrics = json.loads((bars / "bars" / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.9 and metrics["n_examples"] == 96, metrics["accuracy"]


def test_every_tflite_mode_is_exported_and_verified(bars):
    modes = json.loads((bars / "bars" / "export.json").read_text())["modes"]
    assert set(modes) == {"float32", "dynamic", "float16", "int8"}
    for name, row in modes.items():
        assert not row.get("error") and row["finite"], (name, row)
        assert row["accuracy"] >= 0.9 and row["agreement"] >= 0.95, (name, row)
        assert (bars / "bars" / "tflite" / f"{name}.tflite").is_file()


def test_evaluate_predict_and_explain_work_from_the_cli(bars, tmp_path):
    from PIL import Image

    from tests.toyapp.data import make

    x, y = make(1, 16, 5)
    Image.fromarray((x[0, ..., 0] * 255).astype(np.uint8)).save(tmp_path / "bar.png")
    code, out, err = run(["evaluate", "bars", "--models-dir", str(bars)])
    assert code == 0 and "accuracy" in out, err
    code, out, err = run(
        [
            "predict",
            "bars",
            "--models-dir",
            str(bars),
            "--input",
            str(tmp_path / "bar.png"),
            "--tflite",
            "int8",
        ]
    )
    assert code == 0, err
    assert out.split("\n")[1].split()[0] == ("horizontal", "vertical")[int(y[0])], out
    for method in ("integrated_gradients", "grad_cam", "occlusion"):
        png = tmp_path / f"{method}.png"
        code, out, err = run(
            ["explain", "bars", "--models-dir", str(bars), "--input", str(tmp_path / "bar.png")]
            + ["--method", method, "--out", str(png)]
        )
        assert code == 0 and png.stat().st_size > 0, err


@pytest.mark.parametrize("page", PAGES)
def test_every_dashboard_page_shows_it(bars, monkeypatch, page):
    at = open_page(bars, monkeypatch, "bars", page)
    assert_ok(at)


@pytest.mark.parametrize(
    ("spec", "message"),
    [("no_such_module:APP", "cannot load 'no_such_module:APP'"), ("apps.errors:GlasswingError", "not an")],
)
def test_a_bad_glasswing_apps_entry_is_one_line(spec, message):
    from apps import _plugin_apps
    from apps.errors import GlasswingError

    with pytest.raises(GlasswingError, match=message):
        _plugin_apps(spec)
