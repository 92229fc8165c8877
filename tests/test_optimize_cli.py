"""`glasswing optimize` end to end on a tiny trained image model: prune and distill.

The unit tests check the schedule, masks and loss; these check the whole verb:
fine-tuning through the shared training path, sparsity-aware export, LiteRT
verification on the test split, the published folders and the printed tables.
"""

import dataclasses
import json

import numpy as np
import pytest

from apps import artifacts
from apps.cli import main
from apps.image import APP
from apps.litert import LiteRTModel
from apps.optimize import prune


@pytest.fixture(scope="module")
def trained(image_data_dir, tmp_path_factory):
    """A models dir holding a small image model trained well on the synthetic data.

    Trained past chance (on every synthetic example, 3 epochs) so that int8 and
    pruning are measured on confident predictions, as they would be for real.
    """
    from apps.train import train

    cfg = dataclasses.replace(
        APP.Config.tiny(),
        data_dir=str(image_data_dir),
        filters=8,
        dense_units=16,
        epochs=3,
        max_train_examples=0,
    )
    models = tmp_path_factory.mktemp("models")
    folder = train(APP, cfg, models, verbose=0)
    return models, folder


# ~40 s each: in the slow set (CI runs it) to keep `make test` under 10 min on 2 cores.
@pytest.mark.slow
def test_prune_verb_reaches_its_sparsity_and_verifies_the_files(trained, tmp_path, capsys):
    models, folder = trained
    markdown = tmp_path / "prune.md"
    code = main(
        ["optimize", "image", "--prune", "0.6", "--epochs", "1", "--models-dir", str(models)]
        + ["--out", str(tmp_path / "out"), "--markdown", str(markdown)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "Pruning: image" in printed and "prune-0.60" in printed

    variant = tmp_path / "out" / "prune-0.60"
    report = json.loads((variant / "report.json").read_text())
    row = report["prune-0.60"]
    # Exact zeros in the pruned kernels: the mask's target, to rounding.
    assert row["sparsity"]["prunable"] == pytest.approx(0.6, abs=0.01)
    model = artifacts.load_model(variant / artifacts.MODEL_FILE)
    pruned = 0
    for weight in model.weights:
        if weight.path.endswith("kernel"):
            zeros = np.mean(np.asarray(weight) == 0)
            if np.asarray(weight).size >= prune.MIN_SIZE:
                assert zeros == pytest.approx(0.6, abs=0.02), weight.path
                pruned += 1
            else:  # small kernels stay dense
                assert zeros == 0.0, weight.path
    assert pruned >= 3

    baseline = report["baseline"]
    for quant in ("float32", "int8"):
        item = row["tflite"][quant]
        assert "error" not in item, item
        assert (variant / artifacts.TFLITE_DIR / f"{quant}.tflite").is_file()
        assert 0.0 <= item["accuracy"] <= 1.0
        # The .tflite was checked against the pruned Keras model on the test split.
        assert item["agreement"] >= (0.99 if quant == "float32" else 0.9), item
    # Pruned float32 storage is smaller once compressed: half the kernels are zeros.
    assert row["tflite"]["float32"]["gzip_bytes"] < 0.8 * baseline["tflite"]["float32"]["gzip_bytes"]
    assert "latency_ms" in report and report["latency_ms"]["baseline keras"] > 0
    # The published file runs and matches the pruned Keras model on one input.
    x = APP.fake_batch(APP.Config.tiny(), 4)[0]
    got = LiteRTModel(variant / artifacts.TFLITE_DIR / "float32.tflite")(x)
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-4)
    assert "prune-0.60" in markdown.read_text()
    # The committed baseline is untouched and nothing half-written is left behind.
    assert (folder / artifacts.MODEL_FILE).is_file()
    assert not (tmp_path / "out" / artifacts.PARTIAL_DIR).exists()


# ~40 s each: in the slow set (CI runs it) to keep `make test` under 10 min on 2 cores.
@pytest.mark.slow
def test_distill_verb_reports_teacher_distilled_and_scratch(trained, tmp_path, capsys):
    models, _ = trained
    out = tmp_path / "out"
    code = main(
        ["optimize", "image", "--distill", "--epochs", "1", "--models-dir", str(models), "--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "Distillation: image" in printed and "scratch" in printed

    report = json.loads((out / "distill" / "report.json").read_text())
    rows = report["models"]
    assert set(rows) == {"teacher", "distilled", "scratch"}
    assert rows["distilled"]["params"] == rows["scratch"]["params"] < rows["teacher"]["params"]
    for name in ("distilled", "scratch"):
        saved = artifacts.load_model(out / "distill" / name / artifacts.MODEL_FILE)
        assert saved.count_params() == rows[name]["params"]
        # The float32 file of each student agrees with its Keras model.
        assert rows[name]["float32_tflite"]["agreement"] >= 0.99
        assert (out / "distill" / rows[name]["float32_tflite"]["file"]).is_file()
    assert report["settings"]["epochs"] == 1
