"""Gradient explainers: saliency, gradient x input, Integrated Gradients, SmoothGrad, Grad-CAM.

Every gradient is taken with ``tf.GradientTape`` inside one cached
``tf.function`` per model, over a whole batch of points (IG's path, SmoothGrad's
noisy copies) at once. Text models take token ids, which have no gradient:
they are attributed to the token embeddings (the Embedding layer's output is
replaced by the tensor we differentiate) and summed over the embedding axis.
"""

from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from apps.errors import GlasswingError
from xai import _model, segments
from xai.attribution import Attribution

_GRAD_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
GRAD_BATCH = 128


class Differentiable:
    """The model as a function of its attribution space, with batched gradients.

    For image/audio the space is the input itself; for token ids it is the
    output of the model's Embedding layer (found automatically, nested models
    included), and ``ids`` ride along unchanged so padding masks still apply.
    """

    def __init__(self, model, x):
        import tensorflow as tf

        self.model = model
        self.tokens = _model.is_token_input(model, x)
        self.embedding = _model.embedding_layer(model) if self.tokens else None
        self._tf = tf
        self._grad = self._build()

    def _build(self):
        tf = self._tf
        model, embedding = self.model, self.embedding

        def forward(points, ids):
            if embedding is None:
                return model(points, training=False)
            with _model.override(embedding, points):
                return model(ids, training=False)

        @tf.function(reduce_retracing=True)
        def grad(points, ids, target):
            with tf.GradientTape() as tape:
                tape.watch(points)
                probs = forward(points, ids)
                score = tf.gather(probs, target, axis=-1)
            return score, tape.gradient(score, points)

        self._forward = forward
        return grad

    def point(self, x: np.ndarray) -> np.ndarray:
        """The attribution-space point of ``x``: ``x`` itself or its token embeddings."""
        if self.embedding is None:
            return np.asarray(x, dtype=np.float32)
        return np.asarray(self.embedding(np.asarray(x)[None]))[0].astype(np.float32)

    def gradients(self, points: np.ndarray, x: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
        """Scores ``probs[:, target]`` and their gradients at a batch of ``points``."""
        scores, grads = [], []
        ids = np.asarray(x)[None]
        for i in range(0, len(points), GRAD_BATCH):
            chunk = points[i : i + GRAD_BATCH].astype(np.float32)
            batch_ids = np.repeat(ids, len(chunk), axis=0) if self.embedding is not None else ids
            s, g = self._grad(chunk, batch_ids, np.int32(target))
            scores.append(np.asarray(s))
            grads.append(np.asarray(g))
        return np.concatenate(scores), np.concatenate(grads)

    def reduce(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Per-element values in the attribution space -> the shape of ``x``.

        Token embeddings are summed over the embedding axis (sums keep IG's
        completeness); padding positions get 0 (they are not tokens); inputs
        are returned unchanged.
        """
        if self.embedding is None:
            return values
        return np.where(np.asarray(x) != segments.PAD_ID, values.sum(axis=-1), 0.0)

    def magnitude(self, values: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Unsigned size per element of ``x`` (L2 norm over the embedding for text)."""
        if self.embedding is None:
            return np.abs(values)
        return np.where(np.asarray(x) != segments.PAD_ID, np.sqrt((values**2).sum(axis=-1)), 0.0)

    def default_baseline(self, point: np.ndarray, x: np.ndarray, modality: str) -> np.ndarray:
        """IG's reference: the modality's "switched off" input (``segments.fill_value``: a black
        image, silence in log-mel, which is its minimum, not 0, a loud log-mel); for text, zero
        embeddings at real tokens and the input's own padding, so padding gets exactly zero."""
        if self.embedding is None:
            return np.broadcast_to(segments.fill_value(modality, x), point.shape).astype(np.float32)
        return np.where((np.asarray(x) != segments.PAD_ID)[:, None], 0.0, point).astype(np.float32)


def differentiable(model, x) -> Differentiable:
    """The cached :class:`Differentiable` of ``model`` (one traced graph per model)."""
    cached = _GRAD_CACHE.get(model)
    if cached is None:
        cached = Differentiable(model, x)
        _GRAD_CACHE[model] = cached
    return cached


def _prepare(explainer, app, model, x, target):
    """Checks app/model/input, resolves the target; returns (f, x, target)."""
    _model.check_supported(explainer, app)
    _model.require_keras_model(model, explainer.name)
    x = _model.check_input(model, x)
    probs = _model.as_predict(model)(x[None])[0]
    return differentiable(model, x), x, _model.resolve_target(probs, target)


def _gradient_at(explainer, app, model, x, target):
    """(f, x, target, point, gradient of the target score at the point): one gradient."""
    f, x, target = _prepare(explainer, app, model, x, target)
    point = f.point(x)
    _, grads = f.gradients(point[None], x, target)
    return f, x, target, point, grads[0]


def _classify(app) -> bool:
    return app.task == "classify"


@dataclasses.dataclass
class Saliency:
    """Vanilla gradient magnitude |d p_target / d x| (Simonyan et al. 2014).

    A weak method: the local gradient of a saturated probability is noisy and says
    how sensitive the output is, not what it relies on (``caveat`` is shown with it).
    """

    name: str = "saliency"
    caveat: str = (
        "Weak method: the gradient's size at this one point (noisy, sign-blind); it gives every "
        "token of an additive text model the same size. Prefer integrated gradients or occlusion."
    )

    def supports(self, app) -> bool:
        return _classify(app)

    def explain(self, app, model, x, target=None, **options) -> Attribution:
        f, x, target, _, grad = _gradient_at(self, app, model, x, target)
        return Attribution(f.magnitude(grad, x), target, self.name, tokens=options.get("tokens"))


@dataclasses.dataclass
class GradientInput:
    """Gradient x (input - reference): exact per-feature contributions for a linear model.

    The reference is IG's default baseline, the modality's "off" input, so this is
    IG's one-step approximation. Against a literal 0 it was worse than random on
    speech (log-mel 0 is a loud input; 200 test clips, deletion+insertion gain
    -0.100 against +0.434 for saliency).
    """

    name: str = "gradient_input"

    def supports(self, app) -> bool:
        return _classify(app)

    def explain(self, app, model, x, target=None, **options) -> Attribution:
        f, x, target, point, grad = _gradient_at(self, app, model, x, target)
        reference = f.default_baseline(point, x, app.modality)
        return Attribution(
            f.reduce(grad * (point - reference), x), target, self.name, tokens=options.get("tokens")
        )


@dataclasses.dataclass
class IntegratedGradients:
    """Integrated Gradients (Sundararajan et al. 2017) with a trapezoid path integral.

    Attributes:
        steps: Path segments; ``steps + 1`` gradients are taken in batches.
        baseline: ``None`` = the modality's "off" input (black image, log-mel
            silence, zero embeddings); or an array shaped like the (embedded) input.
    """

    name: str = "integrated_gradients"
    steps: int = 64
    baseline: np.ndarray | None = None

    def supports(self, app) -> bool:
        return _classify(app)

    def explain(self, app, model, x, target=None, **options) -> Attribution:
        f, x, target = _prepare(self, app, model, x, target)
        steps = int(options.get("steps", self.steps))
        point = f.point(x)
        baseline = options.get("baseline", self.baseline)
        if baseline is None:
            baseline = f.default_baseline(point, x, app.modality)
        baseline = np.asarray(baseline, np.float32)
        if baseline.shape != point.shape:
            raise GlasswingError(f"IG baseline has shape {baseline.shape}, expected {point.shape}.")
        alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
        shape = (-1,) + (1,) * point.ndim
        path = baseline[None] + alphas.reshape(shape) * (point - baseline)[None]
        scores, grads = f.gradients(path, x, target)
        # Trapezoid weights: exact for piecewise-linear paths between the nodes,
        # and an order more accurate than the left Riemann sum of the paper.
        weights = np.full(steps + 1, 1.0 / steps, dtype=np.float64)
        weights[[0, -1]] /= 2
        avg_grad = np.tensordot(weights, grads.astype(np.float64), axes=1)
        values = f.reduce(avg_grad * (point - baseline), x).astype(np.float32)
        delta = float(scores[-1] - scores[0])
        error = abs(float(values.sum()) - delta)
        # ReLU/max-pool kinks make the path integral converge slowly on real CNNs
        # (committed image model: median relative error ~2% at 64 steps, <1% at 256).
        relative = error / max(abs(delta), 1e-12)
        extra = {
            "completeness_error": error,
            "relative_error": relative,
            "output_delta": delta,
            "steps": steps,
        }
        return Attribution(values, target, self.name, float(scores[0]), options.get("tokens"), extra)


@dataclasses.dataclass
class SmoothGrad:
    """SmoothGrad (Smilkov et al. 2017): gradients averaged over noisy copies.

    Like saliency it shows how sensitive the score is, not what it relies on
    (``caveat`` is shown with it).

    Attributes:
        samples: Noisy copies.
        noise: Noise std as a fraction of the input's value range.
    """

    name: str = "smoothgrad"
    caveat: str = (
        "Sensitivity, not contribution: averaged gradient sizes (sign-blind); it gives every token "
        "of an additive text model the same size, and on the image app it does worse than random: "
        "it marks the black background, where added noise moves the output but nothing is there."
    )
    samples: int = 32
    noise: float = 0.15
    seed: int = 0

    def supports(self, app) -> bool:
        return _classify(app)

    def explain(self, app, model, x, target=None, **options) -> Attribution:
        f, x, target = _prepare(self, app, model, x, target)
        point = f.point(x)
        spread = float(point.max() - point.min()) or 1.0
        rng = np.random.default_rng(options.get("seed", self.seed))
        noisy = point[None] + rng.normal(0, self.noise * spread, (self.samples,) + point.shape)
        _, grads = f.gradients(noisy.astype(np.float32), x, target)
        return Attribution(
            f.magnitude(grads.mean(axis=0), x), target, self.name, tokens=options.get("tokens")
        )


def _upsample(cam: np.ndarray, shape: tuple) -> np.ndarray:
    """Resizes a 1-D or 2-D map to the leading axes of ``shape`` and repeats it over the rest."""
    if cam.ndim == 1:
        # Cell centres, not corners: cell i of n covers [i, i+1) * shape[0] / n.
        centres = (np.arange(len(cam)) + 0.5) * shape[0] / len(cam)
        out = np.interp(np.arange(shape[0]) + 0.5, centres, cam)
        return np.broadcast_to(out.reshape((shape[0],) + (1,) * (len(shape) - 1)), shape).copy()
    from skimage.transform import resize

    out = resize(cam, shape[:2], order=1, mode="edge", anti_aliasing=False)
    return np.broadcast_to(out.reshape(shape[:2] + (1,) * (len(shape) - 2)), shape).copy()


@dataclasses.dataclass
class GradCAM:
    """Grad-CAM (Selvaraju et al. 2017) on the last conv layer, found automatically.

    The map is the last convolution's output after its BatchNorm and activation
    (what the classifier reads), weighted by the gradients of the target's
    pre-softmax logit (the probability saturates at high confidence), and
    upsampled cell-centre to pixel-centre.

    The layer may sit inside a nested sub-model: its output is captured by
    wrapping the layer's call, never by a ``keras.Model`` over inner tensors
    (which raises "Graph disconnected" for nested models).

    Attributes:
        layer: A layer name to use instead of the last convolution.
    """

    name: str = "grad_cam"
    layer: str | None = None

    def supports(self, app) -> bool:
        return _classify(app) and app.modality in ("image", "audio")

    def explain(self, app, model, x, target=None, **options) -> Attribution:
        import tensorflow as tf

        _model.check_supported(self, app)
        _model.require_keras_model(model, self.name)
        x = _model.check_input(model, x)
        target = _model.resolve_target(_model.as_predict(model)(x[None])[0], target)
        name = options.get("layer", self.layer)
        layer = _model.find_layer(model, name) if name else _model.rectified_conv_layer(model)
        fn = _gradcam_fn(model, layer)
        cam = np.asarray(fn(tf.constant(x[None]), tf.constant(target, tf.int32)))[0]
        values = _upsample(cam, x.shape).astype(np.float32)
        return Attribution(values, target, self.name, extra={"layer": layer.name, "cam": cam})


_CAM_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _gradcam_fn(model, layer):
    """A cached tf.function: batch -> ReLU(sum_k w_k A_k) at ``layer`` for ``target``."""
    import tensorflow as tf

    per_model = _CAM_CACHE.setdefault(model, {})
    if layer.name in per_model:
        return per_model[layer.name]

    @tf.function(reduce_retracing=True)
    def cam(batch, target):
        store = []
        with tf.GradientTape() as tape:
            # Watching the captured output makes its gradient defined even when
            # the layers before it are frozen (no trainable variable to record).
            with _model.capture(layer, store, on_output=tape.watch), _model.pre_softmax(model):
                logits = model(batch, training=False)
            score = tf.gather(logits, target, axis=-1)
        activations = store[-1]
        grads = tape.gradient(score, activations)
        spatial = list(range(1, len(activations.shape) - 1))
        weights = tf.reduce_mean(grads, axis=spatial, keepdims=True)
        return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))

    per_model[layer.name] = cam
    return cam
