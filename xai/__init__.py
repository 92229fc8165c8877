"""Explainers behind one interface (docs/design.md, "Explanations").

``EXPLAINERS`` is a plain dict of every method; ``available(app)`` filters it
by ``supports`` (LIT's ``is_compatible``). Explainers work through the App
protocol (modality, task) and never switch on an app's name.
"""

from xai.attribution import Attribution, Explainer
from xai.comparison import compare, compare_models
from xai.gradients import GradCAM, GradientInput, IntegratedGradients, Saliency, SmoothGrad
from xai.perturbation import Lime, Occlusion
from xai.shap_explainers import ShapGradient, ShapPartition

EXPLAINERS = {
    e.name: e
    for e in (
        Saliency(),
        GradientInput(),
        IntegratedGradients(),
        SmoothGrad(),
        GradCAM(),
        Occlusion(),
        Lime(),
        ShapGradient(),
        ShapPartition(),
    )
}

# Methods that need only predict(batch) -> probs: they also explain a .tflite.
PREDICTION_ONLY = frozenset({"occlusion", "lime", "shap_partition"})


def available(app) -> dict:
    """The explainers that support ``app``, in registry order."""
    return {name: e for name, e in EXPLAINERS.items() if e.supports(app)}


def get_explainer(name: str):
    """The explainer registered as ``name``.

    Raises:
        GlasswingError: Unknown name; the message lists the valid ones.
    """
    from apps.errors import GlasswingError

    try:
        return EXPLAINERS[name]
    except KeyError:
        raise GlasswingError(f"Unknown method={name!r}. Expected one of {sorted(EXPLAINERS)}.") from None


__all__ = [
    "EXPLAINERS",
    "PREDICTION_ONLY",
    "Attribution",
    "Explainer",
    "available",
    "compare",
    "compare_models",
    "get_explainer",
]
