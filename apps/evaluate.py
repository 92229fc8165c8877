"""Shared evaluation: run a model over a split and compute classification metrics."""

from __future__ import annotations

import numpy as np


def predict_dataset(predict, ds) -> tuple[np.ndarray, np.ndarray]:
    """Runs ``predict(x_batch) -> probs`` over a batched ``(x, y)`` dataset.

    Returns:
        ``(probs, y_true)``: stacked outputs and labels, in dataset order.
    """
    outputs, targets = [], []
    for x, y in ds:
        outputs.append(np.asarray(predict(x)))
        targets.append(np.asarray(y))
    return np.concatenate(outputs), np.concatenate(targets)


def keras_predictor(model):
    """A fast batch predictor for a Keras model: a compiled call, not ``predict()``."""
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return lambda x: fn(x).numpy()


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``cm[i, j]`` = examples of true class i predicted as j."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def binary_roc_auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties count 1/2.

    The Mann-Whitney rank form: exact, O(n log n), no threshold sweep.

    Args:
        positive: Booleans, True for the positive class.
        scores: Higher = more positive.

    Returns:
        The AUC, or None when only one class is present (undefined).
    """
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(np.asarray(scores, np.float64), return_inverse=True, return_counts=True)
    # 1-based rank of each distinct score, averaged over its ties.
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0
    rank_sum = average_rank[inverse][positive].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def roc_auc(y_true, probs) -> float | None:
    """ROC AUC of class 1 for two classes; the macro one-vs-rest mean for more.

    Classes absent from ``y_true`` are left out of the mean (their AUC is undefined).
    """
    y_true, probs = np.asarray(y_true, int), np.asarray(probs)
    if probs.shape[-1] == 2:
        return binary_roc_auc(y_true == 1, probs[:, 1])
    scores = [binary_roc_auc(y_true == k, probs[:, k]) for k in range(probs.shape[-1])]
    scores = [s for s in scores if s is not None]
    return float(np.mean(scores)) if scores else None


def confident_errors(y_true, probs, labels: list[str], texts=None, k: int = 10) -> list[dict]:
    """The ``k`` misclassified examples the model was most sure of, most confident first.

    Args:
        y_true: Integer labels, shape (n,).
        probs: Class probabilities, shape (n, n_classes).
        labels: Class names.
        texts: Optional human-readable inputs in the same order, added as ``"input"``.
        k: How many to return.

    Returns:
        JSON-ready rows: ``index`` (position in the split), ``true``, ``predicted``,
        ``confidence`` (probability of the wrong prediction) and maybe ``input``.
    """
    y_true, probs = np.asarray(y_true, int), np.asarray(probs)
    y_pred = probs.argmax(axis=-1)
    wrong = np.flatnonzero(y_pred != y_true)
    confidence = probs[wrong, y_pred[wrong]]
    rows = []
    for i in wrong[np.argsort(-confidence, kind="stable")][:k]:
        row = {
            "index": int(i),
            "true": labels[y_true[i]],
            "predicted": labels[y_pred[i]],
            "confidence": round(float(probs[i, y_pred[i]]), 6),
        }
        if texts is not None:
            row["input"] = texts[i]
        rows.append(row)
    return rows


def classification_metrics(y_true, probs, labels: list[str]) -> dict:
    """Accuracy, macro precision/recall/F1, ROC AUC, per-class report and confusion matrix.

    Args:
        y_true: Integer labels, shape (n,).
        probs: Class probabilities, shape (n, n_classes).
        labels: Class names, in label order.

    Returns:
        A JSON-ready dict.
    """
    y_true = np.asarray(y_true, int)
    y_pred = np.asarray(probs).argmax(axis=-1)
    cm = confusion_matrix(y_true, y_pred, len(labels))
    tp = np.diag(cm).astype(float)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    # A class never predicted (or absent) gets precision/recall 0, not NaN,
    # matching sklearn's zero_division=0.
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {
        "accuracy": float(tp.sum() / max(1, len(y_true))),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        # Class 1's AUC for binary tasks, macro one-vs-rest otherwise (see roc_auc).
        "roc_auc": roc_auc(y_true, probs),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(actual[i]),
            }
            for i, name in enumerate(labels)
        },
        "confusion_matrix": cm.tolist(),
        "labels": list(labels),
        "n_examples": int(len(y_true)),
    }


def evaluate(app, model, cfg, split: str = "test") -> dict:
    """Metrics of ``model`` on ``split`` of ``app``'s data.

    Classifiers get :func:`classification_metrics` plus the most confident
    errors (with their raw text when the app provides ``example_text``);
    generators report the model's own ``evaluate`` metrics (what its
    ``test_step`` tracks) plus their ``Generative.metrics``.
    """
    ds = app.dataset(cfg, split)
    if app.task == "classify":
        probs, y_true = predict_dataset(keras_predictor(model), ds)
        metrics = classification_metrics(y_true, probs, app.labels(cfg))
        # The training split is shuffled, so its positions do not name examples.
        texts = app.example_text(cfg, split) if app.example_text and split != "train" else None
        if texts is not None and len(texts) != len(y_true):
            texts = None
        metrics["most_confident_errors"] = confident_errors(y_true, probs, app.labels(cfg), texts)
        return metrics
    metrics = {k: float(v) for k, v in model.evaluate(ds, verbose=0, return_dict=True).items()}
    if app.generative is not None and app.generative.metrics is not None:
        metrics.update(app.generative.metrics(model, cfg, split))
    return metrics
