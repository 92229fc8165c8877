"""One class's prior, refit on the validation split and folded into the output layer.

A classifier with a "none of these" class (the speech app's ``_unknown_``) learns
that class's prior from how often training shows it, and training data are not the
world: on voices and microphones it never heard, a keyword spotter sends most of its
misses to ``_unknown_``. After training, :func:`calibrate` adds one offset ``b`` to
that class's logit, the ``b`` that classifies the validation split (held-out voices)
best, and folds it into the bias of the final softmax layer. The saved model and every
.tflite exported from it carry it; there is no extra op.
"""

from __future__ import annotations

import numpy as np

from apps.errors import GlasswingError

# Offsets tried, in logit (natural log) units: 0.25 apart is finer than the validation
# split can tell apart; +-3 multiplies the class's odds by up to 20.
GRID = np.round(np.arange(-3.0, 3.0 + 1e-9, 0.25), 2)


def best_offset(probs: np.ndarray, y_true: np.ndarray, k: int, grid=GRID) -> tuple[float, float, float]:
    """The logit offset for class ``k`` that maximizes accuracy on ``(probs, y_true)``.

    Ties go to the offset nearest 0, so a flat optimum changes nothing.

    Returns:
        ``(offset, accuracy without it, accuracy with it)``.
    """
    logits = np.log(np.clip(probs, 1e-12, None))

    def accuracy(b: float) -> float:
        shifted = logits.copy()
        shifted[:, k] += b
        return float(np.mean(shifted.argmax(axis=1) == y_true))

    scores = {float(b): accuracy(float(b)) for b in grid}
    best = max(scores, key=lambda b: (scores[b], -abs(b)))
    return best, accuracy(0.0), scores[best]


def fold_offset(model, k: int, offset: float) -> None:
    """Adds ``offset`` to class ``k``'s logit in ``model``'s final softmax ``Dense`` layer, in place.

    Raises:
        GlasswingError: The model does not end in a softmax ``Dense`` layer with a bias.
    """
    last = model.layers[-1]
    if getattr(getattr(last, "activation", None), "__name__", "") != "softmax" or not getattr(
        last, "use_bias", False
    ):
        raise GlasswingError(
            f"Cannot calibrate {model.name!r}: its last layer ({last.name}) is not a softmax Dense "
            "layer with a bias."
        )
    kernel, bias = last.get_weights()
    bias = bias.copy()
    bias[k] += offset
    last.set_weights([kernel, bias])


def _target(cfg) -> str:
    """The class ``calibrate`` refits for ``cfg``, or "" for none (see :func:`calibrate`)."""
    name = getattr(cfg, "calibrate_class", "")
    return "" if getattr(cfg, "data", "") else name


def check(app, cfg) -> None:
    """Before training: a ``calibrate_class`` the model will not predict is a typo, named now.

    Raises:
        GlasswingError: ``cfg.calibrate_class`` is not one of the app's classes.
    """
    name = _target(cfg)
    if name and name not in (labels := app.labels(cfg)):
        raise GlasswingError(
            f"calibrate_class={name!r} is not one of this model's classes ({', '.join(labels)}); "
            "--set calibrate_class= turns calibration off."
        )


def calibrate(app, cfg, model) -> dict | None:
    """Refits the prior of ``cfg.calibrate_class`` on the validation split (see the module doc).

    A no-op (``None``) when the Config names no class, or the model trains on a
    user's data (``cfg.data``): a few validation clips per class are too few to fit
    a prior on (47 clips chose +2.25 for a few-shot spotter and cost its new words
    0.93 -> 0.10 of their test clips). :func:`check` has refused a class the model
    does not predict before training.

    Returns:
        What ``metrics.json`` records: the class, the offset and the validation
        accuracy before and after.
    """
    from apps.evaluate import keras_predictor, predict_dataset

    name = _target(cfg)
    if not name:
        return None
    check(app, cfg)
    k = app.labels(cfg).index(name)
    probs, y_true = predict_dataset(keras_predictor(model), app.dataset(cfg, "validation"))
    offset, before, after = best_offset(probs, y_true, k)
    if offset:
        fold_offset(model, k, offset)
    print(
        f"Calibrated {name}: logit offset {offset:+.2f} (validation accuracy {before:.4f} -> {after:.4f})",
        flush=True,
    )
    return {"class": name, "logit_offset": offset, "validation_accuracy": [before, after]}
