"""Comparing explanations: the same method on two models, at one input or over many.

Two models of one app (a Keras model and its .tflite, a model before and after
fine-tuning, two architectures on the same inputs) should rely on the same parts
of an input when they agree. The Spearman rank correlation of their maps and the
overlap of their top elements say how far they do.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from apps.errors import GlasswingError
from xai import _model, segments


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two attribution maps (flattened)."""
    from scipy.stats import spearmanr

    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def top_overlap(a: np.ndarray, b: np.ndarray, fraction: float = 0.1) -> float:
    """Share of the top ``fraction`` elements of ``a`` that are also top in ``b``.

    Complements rank correlation: maps where most elements are near zero have
    noisy ranks there, while the few elements that matter agree. Elements of ``b``
    tied with its k-th largest count as top: a model that averages an image with its
    mirror (``apps.layers.MirrorViews``) scores mirrored parts of a symmetric input
    exactly alike, and which of a tied pair ``argsort`` would cut off is round-off.
    """
    a, b = np.ravel(a), np.ravel(b)
    k = max(1, int(round(fraction * a.size)))
    top_b = b >= np.sort(b)[-k]
    return float(np.count_nonzero(top_b[np.argsort(-a)[:k]])) / k


def agreement(app, x, a, b) -> tuple[float, float]:
    """``(rank correlation, top-10% overlap)`` of two maps of ``x``, over the parts that exist.

    Text padding is left out: both maps are 0 there, and dozens of tied zeros
    would make any two maps of a short sentence look alike.
    """
    real = segments.switchable(app.modality, np.asarray(x)).reshape(-1)
    a, b = np.ravel(a)[real], np.ravel(b)[real]
    return rank_correlation(a, b), top_overlap(a, b)


def compare(float_model, tflite_model, x, app, method: str = "occlusion", target=None) -> dict:
    """Explains the float model and its exported .tflite with the same method.

    Args:
        float_model: The Keras model (or its predict callable).
        tflite_model: A ``predict(batch) -> probs`` callable, e.g. ``LiteRTModel``.
        x: One input.
        app: The App (its modality decides what a part and "off" are).
        method: A prediction-only explainer name from ``xai.EXPLAINERS``.
        target: Class to explain; default the float model's prediction, so both
            maps explain the same class.

    Returns:
        ``{"float": Attribution, "tflite": Attribution, "rank_correlation": float,
        "top_overlap": float, "max_prob_diff": float}``: the Spearman correlation
        of the two maps, the share of their top-10% elements in common, and the
        largest difference of the two models' probabilities at ``x``.
    """
    from xai import EXPLAINERS, PREDICTION_ONLY

    if method not in PREDICTION_ONLY:
        raise GlasswingError(
            f"compare needs a prediction-only method, got {method!r}. "
            f"Expected one of {sorted(PREDICTION_ONLY)}."
        )
    explainer = EXPLAINERS[method]
    x = _model.check_input(float_model, x)
    float_probs = _model.as_predict(float_model)(x[None])[0]
    lite_probs = _model.as_predict(tflite_model)(x[None])[0]
    target = _model.resolve_target(float_probs, target)
    a = explainer.explain(app, float_model, x, target)
    b = explainer.explain(app, tflite_model, x, target)
    rho, overlap = agreement(app, x, a.values, b.values)
    return {
        "float": a,
        "tflite": b,
        "rank_correlation": rho,
        "top_overlap": overlap,
        "max_prob_diff": float(np.abs(float_probs - lite_probs).max()),
    }


def mean_interval(values) -> tuple[float, float]:
    """Mean and half-width of a normal 95 % interval of the mean (NaNs dropped; half-width NaN below 2)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return float(values.mean()), float(half)


@dataclasses.dataclass(frozen=True)
class Agreement:
    """How alike two models' maps are for one method, over many inputs.

    Attributes:
        method: The explainer.
        n: Inputs compared.
        rank_correlation: Mean Spearman correlation and its 95 % half-width.
        top_overlap: Mean share of top-10 % elements in common and its half-width.
        same_prediction: Share of inputs where both models predict the same class.
    """

    method: str
    n: int
    rank_correlation: tuple[float, float]
    top_overlap: tuple[float, float]
    same_prediction: float


def compare_models(app, model_a, model_b, xs, methods, progress=None) -> list[Agreement]:
    """Each method on two models of ``app`` at every input of ``xs``, explaining model A's prediction.

    Args:
        app: The App both models belong to.
        model_a, model_b: Keras models (gradient methods) or predict callables
            (prediction-only methods) that take the same inputs.
        xs: Inputs, batch first.
        methods: Explainer names supported by ``app``.
        progress: Optional ``(done, total)`` callback after each explanation pair.

    Raises:
        GlasswingError: The models take different inputs, or a method does not apply.
    """
    from xai import EXPLAINERS

    shape_a, _ = _model.input_spec(model_a)
    shape_b, _ = _model.input_spec(model_b)
    if shape_a is not None and shape_b is not None and tuple(shape_a) != tuple(shape_b):
        raise GlasswingError(
            f"The models take different inputs ({tuple(shape_a)} and {tuple(shape_b)}): "
            "their maps cannot be compared element by element."
        )
    probs_a, probs_b = _model.as_predict(model_a)(xs), _model.as_predict(model_b)(xs)
    targets = probs_a.argmax(1)
    same = float((targets == probs_b.argmax(1)).mean())
    out, done, total = [], 0, len(methods) * len(xs)
    for method in methods:
        explainer = EXPLAINERS[method]
        _model.check_supported(explainer, app)
        rhos, overlaps = [], []
        for x, target in zip(xs, targets):
            a = explainer.explain(app, model_a, x, int(target)).values
            b = explainer.explain(app, model_b, x, int(target)).values
            rho, overlap = agreement(app, x, a, b)
            rhos.append(rho)
            overlaps.append(overlap)
            done += 1
            if progress is not None:
                progress(done, total)
        out.append(Agreement(method, len(xs), mean_interval(rhos), mean_interval(overlaps), same))
    return out
