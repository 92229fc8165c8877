"""The dashboard page (AppTest) and a real `glasswing dashboard` server on localhost."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

SCRIPT = str(ROOT / "apps" / "dashboard" / "streamlit_app.py")


def _fake_artifacts(models):
    folder = models / "image"
    (folder / "tflite").mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"not loaded by this page")
    labels = ["a", "b"]
    (folder / "metrics.json").write_text(
        json.dumps(
            {
                "accuracy": 0.9375,
                "macro_precision": 0.9,
                "macro_recall": 0.91,
                "macro_f1": 0.905,
                "confusion_matrix": [[5, 1], [0, 10]],
                "labels": labels,
                "n_examples": 16,
                "split_sizes": {"train": 10, "validation": 2, "test": 16},
                "epochs_run": 2,
                "wall_time_s": 1.0,
                "device": "CPU",
            }
        )
    )
    (folder / "history.csv").write_text("epoch,loss,val_loss\n0,1.0,1.1\n1,0.5,0.7\n")
    (folder / "export.json").write_text(
        json.dumps(
            {
                "cpu": "test CPU",
                "latency": "median",
                "modes": {
                    "float32": {
                        "size_bytes": 4096,
                        "accuracy": 0.9375,
                        "agreement": 1.0,
                        "max_abs_diff": 1e-6,
                        "latency_ms": 0.05,
                        "size_ratio_vs_float32": 1.0,
                    },
                    "int8": {"error": "int8: the TF Lite converter crashed (SIGSEGV)."},
                },
            }
        )
    )


def _run_page(models, monkeypatch) -> AppTest:
    monkeypatch.setenv("GLASSWING_MODELS_DIR", str(models))
    return AppTest.from_file(SCRIPT, default_timeout=60).run()


def test_page_lists_models_metrics_and_exports(tmp_path, monkeypatch):
    _fake_artifacts(tmp_path)
    page = _run_page(tmp_path, monkeypatch)
    assert not page.exception
    assert [h.value for h in page.header] == ["image"]
    tables = [df.value for df in page.dataframe]
    metrics = tables[0]
    assert metrics.set_index("metric").loc["accuracy", "value"] == pytest.approx(0.9375)
    exports = tables[-1].set_index("mode")
    assert exports.loc["float32", "size (KB)"] == 4.0
    assert "SIGSEGV" in exports.loc["int8", "status"]


def test_page_without_models_says_how_to_train(tmp_path, monkeypatch):
    page = _run_page(tmp_path / "empty", monkeypatch)
    assert not page.exception
    assert "glasswing train image" in page.info[0].value


def test_corrupt_metrics_show_one_error_and_the_page_stays_up(tmp_path, monkeypatch):
    _fake_artifacts(tmp_path)
    (tmp_path / "image" / "metrics.json").write_text("{broken")
    page = _run_page(tmp_path, monkeypatch)
    assert not page.exception
    assert len(page.error) == 1 and "corrupt" in page.error[0].value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_glasswing_dashboard_serves_on_localhost(tmp_path):
    _fake_artifacts(tmp_path)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "apps.cli", "dashboard", "--port", str(port), "--models-dir", str(tmp_path)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline, body = time.time() + 60, None
        while time.time() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                time.sleep(0.5)
        assert body == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert "<title>" in r.read().decode().lower() or r.status == 200
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)
