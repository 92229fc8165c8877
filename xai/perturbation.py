"""Prediction-only explainers: occlusion and LIME, and the float-vs-TF Lite comparison.

These need nothing but ``predict(batch) -> probs``, so they explain a Keras
model and the exported .tflite (``apps.litert.LiteRTModel``) alike. Every
perturbed input of one explanation is built as one numpy batch and predicted
in a few large calls: per-sample ``model.predict`` calls are what made LIME
take ~11 s per image on this stack.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from apps.errors import GlasswingError
from xai import _model, segments
from xai.attribution import Attribution


def _prepare(explainer, app, model, x, target):
    _model.check_supported(explainer, app)
    x = _model.check_input(model, x)
    predict = _model.as_predict(model)
    probs = predict(x[None])[0]
    return predict, x, _model.resolve_target(probs, target), probs


@dataclasses.dataclass
class Occlusion:
    """Sliding-patch occlusion (Zeiler & Fergus 2014): drop in p_target per element.

    Each element's value is the mean drop of the target probability over the
    patches that covered it.
    """

    name: str = "occlusion"
    window: int | None = None
    stride: int | None = None

    def supports(self, app) -> bool:
        return app.task == "classify"

    def explain(self, app, model, x, target=None, **options) -> Attribution:
        predict, x, target, probs = _prepare(self, app, model, x, target)
        masks = segments.occlusion_masks(app.modality, x, options.get("window", self.window), self.stride)
        if masks is None:
            raise GlasswingError("The input holds only padding: nothing to occlude.")
        fill = segments.fill_value(app.modality, x)
        batch = np.where(masks, fill[None], x[None]).astype(x.dtype)
        drops = probs[target] - predict(batch)[:, target]
        covered = masks.sum(axis=0)
        values = np.tensordot(drops, masks.astype(np.float32), axes=1) / np.maximum(covered, 1)
        extra = {"patches": len(masks)}
        return Attribution(values.astype(np.float32), target, self.name, float(probs[target]), None, extra)


# LIME's own kernels: lime_image uses cosine distance with width 0.25; lime_text
# scales the cosine distance by 100 and uses width 25 (the same shape).
KERNEL_WIDTH = 0.25


@dataclasses.dataclass
class Lime:
    """LIME (Ribeiro et al. 2016) over the modality's segments (``xai.segments``).

    Sampling is vectorized (one numpy batch, a few large predict calls) and the
    weighted ridge fit is ``lime.lime_base.LimeBase`` with lime_image's kernel,
    so it is lime_image for superpixels, lime_text (bow=False, token removal)
    for token ids and the same LIME over time x mel patches for audio.

    Attributes:
        num_samples: Perturbed copies (lime's default is 1000).
        seed: Sampling seed, for repeatable explanations.
    """

    name: str = "lime"
    num_samples: int = 1000
    seed: int = 0

    def supports(self, app) -> bool:
        return app.task == "classify"

    def explain(self, app, model, x, target=None, **options) -> Attribution:
        from lime.lime_base import LimeBase
        from sklearn.metrics import pairwise_distances

        predict, x, target, probs = _prepare(self, app, model, x, target)
        seg = options.get("segments")
        if seg is None:
            seg = segments.segment(app.modality, x, **options.get("segment_options", {}))
        k = segments.n_segments(seg)
        if k == 0:
            raise GlasswingError("The input has no parts to perturb (only padding).")
        n = int(options.get("num_samples", self.num_samples))
        rng = np.random.default_rng(options.get("seed", self.seed))
        keep = rng.integers(0, 2, size=(n, k))
        keep[0] = 1  # lime's convention: row 0 is the unperturbed input
        batch = segments.apply(x, seg, keep, segments.fill_value(app.modality, x))
        outputs = predict(batch)
        distances = pairwise_distances(keep, keep[:1], metric="cosine").ravel()

        def kernel(d):
            return np.sqrt(np.exp(-(d**2) / KERNEL_WIDTH**2))

        lime = LimeBase(kernel, random_state=int(rng.integers(1 << 31)))
        intercept, weights, score, _ = lime.explain_instance_with_data(
            keep, outputs, distances, target, num_features=k, feature_selection="none"
        )
        per_segment = np.zeros(k, dtype=np.float32)
        for index, weight in weights:
            per_segment[index] = weight
        values = segments.to_elements(per_segment, seg)
        extra = {"segments": seg, "segment_weights": per_segment, "score": float(score), "samples": n}
        return Attribution(values, target, self.name, float(intercept), options.get("tokens"), extra)
