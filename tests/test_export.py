"""TF Lite export: every quant mode converted in a subprocess and verified in LiteRT."""

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from apps import artifacts, conversion, export
from apps.errors import GlasswingError
from apps.image import APP
from apps.litert import LiteRTModel
from apps.train import train
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def exported(image_data_dir, tmp_path_factory):
    """A small model trained on the synthetic data, exported in all four modes."""
    models = tmp_path_factory.mktemp("models")
    cfg = dataclasses.replace(
        APP.Config.tiny(),
        data_dir=str(image_data_dir),
        epochs=3,
        patience=5,
        max_train_examples=1000,
        filters=8,
        dense_units=16,
    )
    train(APP, cfg, models)
    report = export.export(APP, models, "all")
    return models / "image", report


def test_every_mode_exports_and_is_measured(exported):
    folder, report = exported
    assert set(report) == set(conversion.QUANT_MODES)
    for mode, row in report.items():
        assert "error" not in row, row
        assert (folder / "tflite" / f"{mode}.tflite").stat().st_size == row["size_bytes"]
        assert row["finite"] and 0.0 <= row["accuracy"] <= 1.0 and row["latency_ms"] > 0
    assert not list((folder / "tflite").glob(".*tmp*")), "temporary files left behind"


def test_exported_files_agree_with_keras(exported):
    _, report = exported
    assert report["float32"]["max_abs_diff"] < 1e-4
    assert report["float32"]["agreement"] == 1.0
    assert report["float16"]["max_abs_diff"] < 1e-2
    for mode in ("dynamic", "int8"):
        assert report[mode]["agreement"] >= 0.9, (mode, report[mode])
        assert report[mode]["max_abs_diff"] < 0.25


def test_int8_is_fully_integer_and_smaller(exported):
    folder, report = exported
    row = report["int8"]
    assert row["input"]["dtype"] == "int8" and row["output"]["dtype"] == "int8"
    assert row["input"]["quantization"]["scale"] == pytest.approx(1 / 255, rel=0.05)
    assert row["size_bytes"] < report["float32"]["size_bytes"]
    # The runner hides quantization: float in, float probabilities out.
    x, _ = APP.fake_batch(APP.Config.tiny(), 4)
    probs = LiteRTModel(folder / "tflite" / "int8.tflite")(x)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=0.05)


def test_export_json_and_metadata_describe_the_files(exported):
    folder, _ = exported
    report = json.loads((folder / "export.json").read_text())
    assert report["test_examples"] == 200 and report["cpu"]
    assert report["keras"]["accuracy"] == pytest.approx(report["modes"]["float32"]["accuracy"], abs=0.01)
    assert report["modes"]["int8"]["size_ratio_vs_float32"] < 1
    meta = json.loads((folder / "tflite" / "metadata.json").read_text())
    assert meta["labels"] == APP.labels(None)
    assert meta["files"]["float32"]["input"]["shape"] == [1, 28, 28, 1]
    assert "preprocess" in meta["preprocess"]


def test_reexporting_one_mode_keeps_the_other_rows(exported):
    folder, _ = exported
    before = json.loads((folder / "export.json").read_text())["modes"]
    export.export(APP, folder.parent, "float32")
    after = json.loads((folder / "export.json").read_text())["modes"]
    assert set(after) == set(before)
    assert after["int8"] == before["int8"]


def test_a_converter_crash_is_a_clear_error(monkeypatch, tmp_path):
    def segfault(*args, **kwargs):
        return subprocess.CompletedProcess(args, -11, "", "Fatal Python error: Segmentation fault")

    monkeypatch.setattr(conversion.subprocess, "run", segfault)
    with pytest.raises(GlasswingError, match=r"int8: the TF Lite converter crashed \(SIGSEGV\)"):
        conversion.convert_in_subprocess(APP, tmp_path, "int8", tmp_path / "x.tflite", what="int8")


def test_unknown_quant_and_missing_model_are_named(tmp_path):
    with pytest.raises(GlasswingError, match=r"Unknown quant='int4'.*'float16'"):
        export.quant_modes("int4")
    with pytest.raises(GlasswingError, match="glasswing train image"):
        export.export(APP, tmp_path, "float32")


def test_corrupt_model_file_is_named(tmp_path):
    (tmp_path / "image").mkdir()
    (tmp_path / "image" / artifacts.MODEL_FILE).write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(GlasswingError, match="corrupt or not a Keras model"):
        artifacts.load_model(tmp_path / "image" / artifacts.MODEL_FILE)


def test_a_file_whose_output_is_not_the_models_is_refused():
    """A broken conversion (seen: the only output was the file's own input) is an error, not a row."""
    reference = {"x": np.zeros((700, 16), np.float32), "outputs": np.zeros((700, 3), np.float32)}
    calls = []

    def echo(batch):
        calls.append(len(batch))
        return batch  # outputs its input, like the broken file

    with pytest.raises(GlasswingError, match=r"outputs shape \(16,\), the Keras model \(3,\)"):
        export.run_on_split(echo, Path("int8.tflite"), reference)
    assert calls == [500, 200]  # batched over the whole split
    good = export.run_on_split(lambda b: np.ones((len(b), 3), np.float32), Path("f.tflite"), reference)
    assert good.shape == (700, 3)


def test_one_litert_model_serves_concurrent_callers():
    """The dashboard shares one interpreter between sessions: concurrent calls of any batch size agree."""
    from concurrent.futures import ThreadPoolExecutor

    runner = LiteRTModel(ROOT / "models" / "image" / "tflite" / "int8.tflite")
    rng = np.random.default_rng(0)
    batches = [rng.random((1 + i % 5, 28, 28, 1), dtype=np.float32) for i in range(64)]
    expected = [runner(x) for x in batches]
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(runner, batches))
    for want, have in zip(expected, got):
        np.testing.assert_array_equal(want, have)


def test_a_kernel_failure_in_litert_is_one_clear_error(monkeypatch):
    """An int8 MPNet file failed in a DIV kernel at verification: one readable line, not a traceback."""
    runner = LiteRTModel(ROOT / "models" / "image" / "tflite" / "int8.tflite")

    def fail(self):
        raise RuntimeError(
            "tflite/kernels/div.cc:262 data[i] != zero_point was not true.Node number 634 (DIV)"
        )

    # On the class: a failed batch call falls back to a fresh batch-1 interpreter, which must fail too.
    monkeypatch.setattr(type(runner._interp), "invoke", fail)
    with pytest.raises(GlasswingError, match=r"int8.tflite fails in LiteRT: .*div.cc:262"):
        runner(np.zeros((1, 28, 28, 1), np.float32))
