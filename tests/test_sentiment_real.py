"""Real movie-review sentences (slow): the corpus, the committed model and its TF Lite files."""

import dataclasses
import json

import numpy as np
import pytest

from apps import artifacts
from apps.evaluate import evaluate
from apps.litert import LiteRTModel
from apps.sentiment import APP
from apps.sentiment import data as sdata
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
MODEL_DIR = ROOT / "models" / "sentiment"


@pytest.fixture(scope="module")
def real_cfg():
    cfg = dataclasses.replace(APP.Config(), data_dir=str(ROOT / "data"))
    print(APP.prepare(cfg))
    return cfg


def test_all_10605_sentences_in_three_disjoint_splits(real_cfg):
    rows = sdata.read_snippets(sdata.find_source_file(real_cfg))
    assert len(rows) == 10_605
    assert sum(score > 0 for _, score, _ in rows) == 5_242
    texts = {split: APP.example_text(real_cfg, split) for split in ("train", "validation", "test")}
    assert {k: len(v) for k, v in texts.items()} == {"train": 8485, "validation": 1060, "test": 1060}
    # Two sentences occur twice in the corpus; otherwise the splits share no text.
    assert len(set(texts["train"]) & set(texts["test"])) <= 2


def test_committed_model_metrics_are_true(real_cfg):
    recorded = json.loads((MODEL_DIR / "metrics.json").read_text())
    # The default (frozen MPNet, trained head) must beat the linear baseline trained beside it, and 0.81
    # (Kim 2014 with word2vec vectors, the bar).
    assert recorded["accuracy"] >= 0.81 and recorded["roc_auc"] >= 0.88
    baseline = recorded["baselines"]["linear bag of n-grams"]
    assert recorded["accuracy"] > baseline["accuracy"] + 0.03
    model = artifacts.load_model(MODEL_DIR / "model.keras")
    cfg = dataclasses.replace(artifacts.load_config(APP, MODEL_DIR), data_dir=real_cfg.data_dir)
    # The committed tokenizer is the pretrained one the pipeline encodes with.
    assert (MODEL_DIR / "tokenizer.json").read_text() == sdata.tokenizer_path(cfg).read_text()
    measured = evaluate(APP, model, cfg, "test")
    assert measured["accuracy"] == pytest.approx(recorded["accuracy"], abs=2e-3)
    assert measured["roc_auc"] == pytest.approx(recorded["roc_auc"], abs=2e-3)
    errors = measured["most_confident_errors"]
    assert len(errors) == 10 and errors[0]["confidence"] >= errors[-1]["confidence"] > 0.5


@pytest.fixture(scope="module")
def committed_model():
    """(model, preprocess) of the committed folder, loaded once for the module (438 MB)."""
    return artifacts.load_model(MODEL_DIR / "model.keras"), APP.preprocessor(MODEL_DIR)


def test_committed_model_reads_clear_sentences_right(committed_model):
    model, preprocess = committed_model
    sentences = {
        "A wonderful, moving and beautifully acted film.": 1,
        "One of the funniest and smartest comedies of the year.": 1,
        "A dull, tedious mess with no laughs at all.": 0,
        "Boring, predictable and far too long.": 0,
        "I hate it.": 0,
    }
    # "Not bad at all." is not here: the default reads it negative (0.74), one of the checklist's
    # documented misses ("negative words negated", 2 of 4), as the MiniLM default before it missed others.
    x = np.stack([preprocess(s) for s in sentences])
    predicted = np.asarray(model(x, training=False)).argmax(-1)
    assert predicted.tolist() == list(sentences.values())


def test_committed_tflite_is_measured_in_the_interpreter(real_cfg):
    report = json.loads((MODEL_DIR / "export.json").read_text())
    modes = report["modes"]
    # float32 (435 MB) was measured for the size ratio, and its file not kept.
    assert all("error" not in modes[m] for m in ("float32", "dynamic", "int8"))
    for mode in ("dynamic", "int8"):
        assert modes[mode]["size_bytes"] <= 0.35 * modes["float32"]["size_bytes"]
    assert modes["dynamic"]["accuracy_drop_pt"] <= 1.0
    # An int8 file that loses more than 2 pt is measured and documented, not shipped: the frozen
    # MPNet's int8 activations lose 8.4 pt (bench/results.md, "MPNet is the default").
    shipped = {m for m in modes if (MODEL_DIR / "tflite" / f"{m}.tflite").is_file()}
    assert "dynamic" in shipped and ("int8" in shipped) == (modes["int8"]["accuracy_drop_pt"] <= 2.0)
    runner = LiteRTModel(MODEL_DIR / "tflite" / "dynamic.tflite")
    cfg = dataclasses.replace(artifacts.load_config(APP, MODEL_DIR), data_dir=real_cfg.data_dir)
    hits = total = 0
    for x, y in APP.dataset(dataclasses.replace(cfg, batch_size=2000), "test"):
        hits += int((runner(np.asarray(x)).argmax(-1) == np.asarray(y)).sum())
        total += len(y)
    assert total == 1060
    assert hits / total == pytest.approx(modes["dynamic"]["accuracy"], abs=2e-3)


@pytest.mark.parametrize("arch", ["linear", "bilstm"])
def test_short_real_run_learns_and_exports_int8(arch, real_cfg, tmp_path):
    from apps import export
    from apps.app import apply_overrides
    from apps.train import train

    # The arch's preset brings its own rate and sizes, as on the command line.
    cfg = apply_overrides(real_cfg, [f"arch={arch}", "epochs=3", "patience=3", "baselines=false"])
    folder = train(APP, cfg, tmp_path)
    metrics = artifacts.read_json(folder / "metrics.json")
    assert metrics["accuracy"] >= 0.72, metrics["accuracy"]
    row = export.export(APP, tmp_path, "int8")["int8"]
    assert "error" not in row, row
    assert row["accuracy"] >= metrics["accuracy"] - 0.03 and row["agreement"] >= 0.95


def _checklist() -> dict[str, list[tuple[str, int]]]:
    """The behaviour checklist (data/sentiment/checklist.csv) grouped by capability."""
    import csv

    groups: dict[str, list[tuple[str, int]]] = {}
    with open(ROOT / "data" / "sentiment" / "checklist.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            groups.setdefault(row["group"], []).append((row["text"], int(row["label"] == "positive")))
    return groups


CHECKLIST = _checklist()


@pytest.mark.parametrize("capability", sorted(CHECKLIST))
def test_checklist_pass_rate_is_the_documented_one(capability, committed_model):
    """CheckList-style (Ribeiro et al. 2020): each capability passes at least the rate
    the model card documents (recorded by `evaluate --data checklist.csv --record`)."""
    recorded = json.loads((MODEL_DIR / "metrics.json").read_text())["domains"]["checklist (56 sentences)"]
    documented = recorded["groups"][capability]["accuracy"]
    model, preprocess = committed_model
    texts, labels = zip(*CHECKLIST[capability])
    predicted = np.asarray(model(np.stack([preprocess(t) for t in texts]), training=False)).argmax(-1)
    assert np.mean(predicted == np.array(labels)) >= documented - 1e-9
    # The card states it too.
    assert f"{capability} {documented:.2f} ({len(texts)})" in (MODEL_DIR / "MODEL_CARD.md").read_text()
