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


def classification_metrics(y_true, probs, labels: list[str]) -> dict:
    """Accuracy, macro precision/recall/F1, per-class report and confusion matrix.

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

    Classifiers get :func:`classification_metrics`; generators supply their
    own metrics through the model's ``evaluate`` (Keras' compiled metrics).
    """
    ds = app.dataset(cfg, split)
    if app.task == "classify":
        probs, y_true = predict_dataset(keras_predictor(model), ds)
        return classification_metrics(y_true, probs, app.labels(cfg))
    return {k: float(v) for k, v in model.evaluate(ds, verbose=0, return_dict=True).items()}
