"""Shared classification metrics: ROC AUC against sklearn, the confident-error drilldown."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from apps.evaluate import binary_roc_auc, classification_metrics, confident_errors, roc_auc


def test_binary_roc_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    # Rounded scores create many ties, the case a naive threshold sweep gets wrong.
    scores = np.round(rng.uniform(size=500) + 0.3 * y, 1)
    assert binary_roc_auc(y == 1, scores) == pytest.approx(roc_auc_score(y, scores), abs=1e-12)


def test_binary_roc_auc_extremes_and_undefined_case():
    y = np.array([0, 0, 1, 1])
    assert binary_roc_auc(y == 1, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0
    assert binary_roc_auc(y == 1, np.array([0.9, 0.8, 0.2, 0.1])) == 0.0
    assert binary_roc_auc(y == 1, np.full(4, 0.5)) == 0.5
    assert binary_roc_auc(np.ones(3, bool), np.array([0.1, 0.2, 0.3])) is None


def test_multiclass_roc_auc_is_the_macro_one_vs_rest_mean():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected = roc_auc_score(y, probs, multi_class="ovr", average="macro")
    assert roc_auc(y, probs) == pytest.approx(expected, abs=1e-12)


def test_confident_errors_are_the_surest_wrong_predictions_first():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.03, 0.97], [0.3, 0.7]])
    y = np.array([0, 0, 1, 0, 1])
    rows = confident_errors(y, probs, ["neg", "pos"], texts=list("abcde"), k=2)
    assert [r["index"] for r in rows] == [3, 1]
    assert rows[0] == {"index": 3, "true": "neg", "predicted": "pos", "confidence": 0.97, "input": "d"}
    assert all("input" not in r for r in confident_errors(y, probs, ["neg", "pos"]))


def test_classification_metrics_include_roc_auc():
    y = np.array([0, 1, 1, 0])
    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]])
    metrics = classification_metrics(y, probs, ["neg", "pos"])
    assert metrics["accuracy"] == 0.75
    assert metrics["roc_auc"] == 1.0  # ranking is perfect even though one label is wrong
