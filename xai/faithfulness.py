"""Is an explanation faithful to the model? Deletion/insertion AUC and a sanity check.

- Deletion/insertion (Petsiuk et al. 2018, RISE): switch the most important
  elements off (deletion) or on (insertion) in order and follow the target
  probability. A faithful map makes it fall fast (low deletion AUC) and rise
  fast (high insertion AUC); a random ordering is the baseline it must beat.
- Model-parameter randomization (Adebayo et al. 2018): the map of the trained
  model and of a copy with re-drawn weights must differ. A method whose maps
  stay the same (e.g. an edge detector in disguise) explains the input, not
  the model.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from apps.errors import GlasswingError
from xai import _model, segments
from xai.comparison import agreement


@dataclasses.dataclass(frozen=True)
class Faithfulness:
    """Deletion/insertion AUCs of one map and of random orderings (mean over runs).

    AUCs are the mean target probability along the curve (trapezoid rule over
    the fraction of elements switched), so they lie in [0, 1].
    """

    deletion: float
    insertion: float
    random_deletion: float
    random_insertion: float
    deletion_curve: np.ndarray
    insertion_curve: np.ndarray

    @property
    def beats_random(self) -> bool:
        """True when the map beats a random ordering on both curves."""
        return self.deletion < self.random_deletion and self.insertion > self.random_insertion


def _auc(curve: np.ndarray) -> float:
    return float(((curve[..., 1:] + curve[..., :-1]) / 2).mean(axis=-1).mean())


def _curves(x, fill, order, switchable, steps):
    """Deletion and insertion inputs for one ordering of the switchable elements."""
    n = len(order)
    counts = np.round(np.linspace(0, n, steps + 1)).astype(int)
    flat_x, flat_fill = x.reshape(-1), np.broadcast_to(fill, x.shape).reshape(-1)
    deletion = np.repeat(flat_x[None], steps + 1, axis=0)
    insertion = np.repeat(flat_x[None], steps + 1, axis=0)
    insertion[:, switchable] = flat_fill[switchable]
    for row, count in enumerate(counts):
        chosen = switchable[order[:count]]
        deletion[row, chosen] = flat_fill[chosen]
        insertion[row, chosen] = flat_x[chosen]
    return deletion.reshape((-1,) + x.shape), insertion.reshape((-1,) + x.shape)


def deletion_insertion(
    model, x, values, target: int, modality: str, steps: int = 20, random_runs: int = 5, seed: int = 0
) -> Faithfulness:
    """Deletion and insertion AUCs of an attribution map, and of random maps.

    Args:
        model: A ``keras.Model`` or any ``predict(batch) -> probs`` callable.
        x: One input.
        values: The attribution (same shape as ``x``); larger = more important.
        target: Class whose probability is followed.
        modality: ``app.modality``: decides what "switched off" means
            (``xai.segments.fill_value``) and which elements can be switched
            (not text padding).
        steps: Points on each curve.
        random_runs: Random orderings averaged for the baseline.
        seed: Seed of the random orderings.

    Returns:
        A :class:`Faithfulness`.
    """
    x = _model.check_input(model, x)
    values = np.asarray(values, dtype=np.float64)
    if values.shape != x.shape:
        raise GlasswingError(f"Attribution has shape {values.shape}, expected the input's {x.shape}.")
    fill = segments.fill_value(modality, x)
    allowed = segments.switchable(modality, x)
    switchable = np.flatnonzero(allowed.reshape(-1))
    if switchable.size == 0:
        raise GlasswingError("The input has no elements to switch off (only padding).")
    rng = np.random.default_rng(seed)
    # Ties (e.g. a flat region) are broken at random, not by position.
    scores = values.reshape(-1)[switchable]
    orders = [np.lexsort((rng.random(len(scores)), -scores))]
    orders += [rng.permutation(len(scores)) for _ in range(random_runs)]
    batches = [_curves(x, fill, order, switchable, steps) for order in orders]
    inputs = np.concatenate([part for pair in batches for part in pair])
    probs = _model.as_predict(model)(inputs)[:, target].reshape(len(orders), 2, steps + 1)
    return Faithfulness(
        deletion=_auc(probs[0, 0]),
        insertion=_auc(probs[0, 1]),
        random_deletion=_auc(probs[1:, 0]),
        random_insertion=_auc(probs[1:, 1]),
        deletion_curve=probs[0, 0],
        insertion_curve=probs[0, 1],
    )


def gain(f: Faithfulness) -> float:
    """How much better than random one map is: deletion gain plus insertion gain (> 0 is better)."""
    return (f.random_deletion - f.deletion) + (f.insertion - f.random_insertion)


def verdict(gains) -> str:
    """``"yes"``: the 95 % interval of the mean gain over random is above 0, ``"no"``: below, else ``"tie"``.

    Args:
        gains: One :func:`gain` per example.
    """
    from xai.comparison import mean_interval

    mean, half = mean_interval(gains)
    half = float("inf") if not np.isfinite(half) else half
    return "yes" if mean - half > 0 else "no" if mean + half < 0 else "tie"


@dataclasses.dataclass(frozen=True)
class ModelFaithfulness:
    """One method's faithfulness for one model over several labelled examples.

    Attributes:
        method: The explainer.
        n: Examples measured.
        gain: Mean gain over random (:func:`gain`) and its 95 % half-width.
        verdict: :func:`verdict` of the gains: ``"yes"`` = beats random for this model.
    """

    method: str
    n: int
    gain: tuple[float, float]
    verdict: str


def measure(app, model, method: str, xs, ys, random_runs: int = 3) -> ModelFaithfulness:
    """Deletion/insertion gain over random of ``method``'s maps for their true class, over ``xs``."""
    import xai
    from xai.comparison import mean_interval

    explainer = xai.get_explainer(method)
    gains = []
    for x, y in zip(xs, ys):
        values = explainer.explain(app, model, x, int(y)).values
        gains.append(
            gain(deletion_insertion(model, x, values, int(y), app.modality, random_runs=random_runs))
        )
    return ModelFaithfulness(method, len(gains), mean_interval(gains), verdict(gains))


def _weighted_layers(model) -> list:
    """Leaf layers that own trainable weights, in forward order (nested models included)."""
    return [
        layer
        for layer in _model.iter_layers(model)
        if layer.trainable_weights and not hasattr(layer, "layers")
    ]


def _reinitialize(layer, rng) -> None:
    """Re-initializes a layer's trainable weights as Adebayo et al. do.

    Each weight gets a fresh draw from the layer's own initializer (Keras layers
    keep ``kernel_initializer``, ``bias_initializer``, ``gamma_initializer``,
    ...), so the randomized network has the scale of an untrained one. Weights
    without a known initializer get noise with their own mean and spread.
    """
    import keras

    for weight in layer.trainable_weights:
        value = np.asarray(weight.numpy())
        short = weight.name.split("/")[-1].split(":")[0]
        initializer = getattr(layer, f"{short}_initializer", None)
        if initializer is not None:
            initializer = keras.initializers.get(initializer)
            config = initializer.get_config()
            if "seed" in config:
                config["seed"] = int(rng.integers(1 << 30))
            fresh = type(initializer).from_config(config)(value.shape, dtype=value.dtype)
            weight.assign(np.asarray(fresh))
        else:
            spread = float(value.std()) or 0.05
            weight.assign(rng.normal(float(value.mean()), spread, value.shape).astype(value.dtype))


def randomization_check(
    explainer, app, model, x, target: int | None = None, seed: int = 0, cascade: bool = True
) -> dict:
    """Cascading model-parameter randomization (Adebayo et al. 2018).

    Re-draws the weights layer by layer from the output down on a copy of the
    model and compares each map with the trained model's map.

    Args:
        explainer: Any explainer from ``xai.EXPLAINERS`` that takes a Keras model.
        app: The app (modality, task).
        model: The trained ``keras.Model``.
        x: One input.
        target: Class to explain (default: the trained model's prediction).
        seed: Seed of the re-drawn weights.
        cascade: ``False`` re-draws every layer at once and explains once (only
            ``fully_random``; one explanation instead of one per layer).

    Returns:
        ``{"target", "cascade": [(layer name, rank correlation of |map|)],
        "fully_random": rank correlation once every layer is re-drawn}``.
        A faithful method drives the correlation towards 0.
    """
    import keras

    _model.require_keras_model(model, "randomization_check")
    original = explainer.explain(app, model, x, target)
    try:
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
    except Exception as err:  # noqa: BLE001 - subclassed models may not clone
        raise GlasswingError(f"Cannot copy model {model.name!r} to randomize it: {err}") from None
    rng = np.random.default_rng(seed)
    layers = list(reversed(_weighted_layers(copy)))
    if not layers:
        raise GlasswingError(f"Model {model.name!r} has no trainable weights to randomize.")
    steps = []
    for i, layer in enumerate(layers):
        _reinitialize(layer, rng)
        if cascade or i == len(layers) - 1:
            randomized = explainer.explain(app, copy, x, original.target)
            rho, _ = agreement(app, x, np.abs(original.values), np.abs(randomized.values))
            steps.append((layer.name, rho))
    return {"target": original.target, "cascade": steps, "fully_random": steps[-1][1]}
