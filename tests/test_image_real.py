"""Real Fashion-MNIST (slow): the full dataset, the committed model and its TF Lite files."""

import dataclasses
import json

import numpy as np
import pytest

from apps import artifacts
from apps.evaluate import evaluate
from apps.image import APP
from apps.litert import LiteRTModel
from apps.train import train
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
MODEL_DIR = ROOT / "models" / "image"


@pytest.fixture(scope="module")
def real_cfg():
    cfg = dataclasses.replace(APP.Config(), data_dir=str(ROOT / "data"))
    print(APP.prepare(cfg))
    return cfg


def test_all_70000_images_in_three_disjoint_splits(real_cfg):
    from apps import datasets
    from apps.image.data import GlasswingFashionMnist

    builder = datasets.prepare_builder(GlasswingFashionMnist, real_cfg, None)
    sizes = {name: s.num_examples for name, s in builder.info.splits.items()}
    assert sizes == {"train": 54_000, "validation": 6_000, "test": 10_000}
    test_labels = np.concatenate([np.asarray(y) for _, y in APP.dataset(real_cfg, "test")])
    assert np.bincount(test_labels).tolist() == [1000] * 10


def test_committed_model_reaches_the_accuracy_goal_and_metrics_are_true(real_cfg):
    recorded = json.loads((MODEL_DIR / "metrics.json").read_text())
    # #19's goal: the committed 30-epoch CPU run reaches 0.9404 with 10 test-time views
    # (bench/results.md "Image recipe"); retraining it must keep the goal.
    assert recorded["accuracy"] >= 0.935
    model = artifacts.load_model(MODEL_DIR / "model.keras")
    cfg = dataclasses.replace(artifacts.load_config(APP, MODEL_DIR), data_dir=real_cfg.data_dir)
    measured = evaluate(APP, model, cfg, "test")
    assert measured["accuracy"] == pytest.approx(recorded["accuracy"], abs=2e-4)
    diff = np.abs(np.array(measured["confusion_matrix"]) - np.array(recorded["confusion_matrix"]))
    assert diff.max() <= 2  # oneDNN round-off may flip a borderline example or two


def test_committed_int8_meets_size_and_accuracy_goals_in_the_interpreter(real_cfg):
    report = json.loads((MODEL_DIR / "export.json").read_text())
    modes = report["modes"]
    assert modes["int8"]["size_bytes"] <= 0.30 * modes["float32"]["size_bytes"]
    assert report["keras"]["accuracy"] - modes["int8"]["accuracy"] <= 0.005
    # Re-measure: run the committed int8 file over the real test split.
    runner = LiteRTModel(MODEL_DIR / "tflite" / "int8.tflite")
    hits = total = 0
    for x, y in APP.dataset(dataclasses.replace(real_cfg, batch_size=1000), "test"):
        hits += int((runner(np.asarray(x)).argmax(-1) == np.asarray(y)).sum())
        total += len(y)
    assert total == 10_000
    assert hits / total == pytest.approx(modes["int8"]["accuracy"], abs=2e-4)


def test_one_short_real_training_run_learns(real_cfg, tmp_path):
    # ~560 steps, not ~50: BatchNorm's moving statistics (momentum 0.99) need hundreds.
    cfg = dataclasses.replace(
        real_cfg, epochs=3, batch_size=32, max_train_examples=6000, filters=16, augment=False, patience=3
    )
    folder = train(APP, cfg, tmp_path)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["split_sizes"] == {"train": 6000, "validation": 6000, "test": 10000}
    assert metrics["accuracy"] > 0.75
