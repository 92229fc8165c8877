"""Feature visualization: what the layers compute, not one prediction's reasons.

These return arrays of their own kinds (feature maps, images, kernels, 2-D
points), so they are plain functions rather than explainers. Layers are found
by name anywhere in the model, nested sub-models included, and read by
wrapping the layer's call (no "Graph disconnected" sub-models).
"""

from __future__ import annotations

import numpy as np

from apps.errors import GlasswingError
from xai import _model


def activations(model, layer: str, x) -> np.ndarray:
    """The output of ``layer`` for a batch ``x`` (e.g. conv feature maps ``(n, h, w, c)``).

    Args:
        model: A ``keras.Model``.
        layer: Layer name (nested models are searched).
        x: A batch of model inputs.
    """
    _model.require_keras_model(model, "activations")
    target = _model.find_layer(model, layer)
    store: list = []
    x = np.asarray(x)
    with _model.capture(target, store):
        model(x, training=False)
    if not store:
        raise GlasswingError(f"Layer {layer!r} did not run for this input.")
    # A model that predicts from extra views (apps.layers.MirrorViews) runs its inner layers
    # on more rows than it was given; the first len(x) are the inputs as given.
    return np.asarray(store[-1])[: len(x)]


def first_layer_kernels(model) -> np.ndarray:
    """The first convolution's kernels, scaled to [0, 1] per filter for display.

    Returns:
        ``(filters, kh, kw, in_channels)`` for Conv2D (``(filters, k, in)`` for Conv1D).
    """
    _model.require_keras_model(model, "first_layer_kernels")
    convs = _model.conv_layers(model)
    if not convs:
        raise GlasswingError(f"Model {model.name!r} has no convolution layer.")
    kernel = np.asarray(convs[0].kernel.numpy())
    kernel = np.moveaxis(kernel, -1, 0)
    axes = tuple(range(1, kernel.ndim))
    low, high = kernel.min(axis=axes, keepdims=True), kernel.max(axis=axes, keepdims=True)
    return (kernel - low) / np.maximum(high - low, 1e-12)


def maximize_filter(
    model,
    layer: str,
    filters,
    steps: int = 64,
    learning_rate: float = 0.05,
    jitter: int = 1,
    l2: float = 1e-3,
    value_range: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
) -> np.ndarray:
    """Activation maximization: inputs that excite each filter of ``layer`` most.

    Gradient ascent on the input from faint noise, with the regularizers that
    keep the result readable instead of adversarial noise: random jitter (roll
    by up to ``jitter`` px each step), L2 decay towards the range's middle, and
    clipping to ``value_range``. Gradients are L2-normalized per image so one
    learning rate suits every layer.

    Args:
        model: A ``keras.Model`` with float inputs (images, log-mels).
        layer: Layer name; its output's last axis indexes the filters.
        filters: Filter indices (list or int).
        steps: Ascent steps (all filters are optimized together, one batch).
        learning_rate: Step size.
        jitter: Max shift in pixels per step (0 = off).
        l2: Weight of the L2 penalty.
        value_range: Valid input range.
        seed: Seed of the start noise and jitter.

    Returns:
        ``(len(filters), *input_shape)`` inputs in ``value_range``.
    """
    import tensorflow as tf

    _model.require_keras_model(model, "maximize_filter")
    shape, dtype = _model.input_spec(model)
    if dtype is not None and not np.issubdtype(dtype, np.floating):
        raise GlasswingError("Filter visualization needs float inputs (images, audio), not token ids.")
    target = _model.find_layer(model, layer)
    filters = [int(f) for f in np.atleast_1d(filters)]
    low, high = value_range
    rng = np.random.default_rng(seed)
    middle = (low + high) / 2
    start = middle + rng.normal(0, 0.01 * (high - low), (len(filters),) + tuple(shape))
    image = tf.Variable(start.astype(np.float32))
    index = tf.constant(filters)

    @tf.function
    def step(shift_h, shift_w):
        store: list = []
        with tf.GradientTape() as tape:
            moved = tf.roll(image, shift=[shift_h, shift_w], axis=[1, 2]) if len(shape) >= 2 else image
            with _model.capture(target, store):
                model(moved, training=False)
            out = store[-1]
            # Mean activation of filter i in batch row i.
            per_filter = tf.gather(out, index, axis=-1, batch_dims=0)
            axes = list(range(1, len(out.shape) - 1))
            picked = tf.linalg.diag_part(tf.reduce_mean(per_filter, axis=axes))
            loss = tf.reduce_sum(picked) - l2 * tf.reduce_sum(tf.square(image - middle))
        grads = tape.gradient(loss, image)
        norms = tf.sqrt(
            tf.reduce_mean(tf.square(grads), axis=list(range(1, len(grads.shape))), keepdims=True)
        )
        image.assign(tf.clip_by_value(image + learning_rate * grads / (norms + 1e-8), low, high))
        return picked

    for _ in range(steps):
        dh, dw = rng.integers(-jitter, jitter + 1, size=2) if jitter else (0, 0)
        step(tf.constant(int(dh)), tf.constant(int(dw)))
    return image.numpy()


def classifier_layer(model):
    """The model's last top-level layer with weights: its input is the penultimate embedding."""
    for layer in reversed(getattr(model, "layers", [])):
        if layer.weights and not hasattr(layer, "layers"):
            return layer
    raise GlasswingError(f"Model {model.name!r} has no top-level weighted layer to read embeddings from.")


def embeddings(model, x, batch_size: int = 256) -> np.ndarray:
    """Penultimate-layer embeddings: the input of the classifier layer, flattened."""
    _model.require_keras_model(model, "embeddings")
    head = classifier_layer(model)
    original = head.call
    seen: list = []

    def call(inputs, *args, **kwargs):
        seen.append(inputs)
        return original(inputs, *args, **kwargs)

    x = np.asarray(x)
    out = []
    with _model._PATCH_LOCK:
        head.call = call
        try:
            for i in range(0, len(x), batch_size):
                seen.clear()
                model(x[i : i + batch_size], training=False)
                out.append(np.asarray(seen[-1]).reshape(len(x[i : i + batch_size]), -1))
        finally:
            del head.call
    return np.concatenate(out)


def project(model, x, method: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D projection of the penultimate embeddings of ``x`` (colour the points by label).

    Args:
        model: A ``keras.Model``.
        x: A batch of inputs (a few hundred is plenty).
        method: ``"pca"`` (linear, fast, deterministic) or ``"tsne"``
            (scikit-learn's t-SNE: neighbourhoods, slower).
        seed: Seed for t-SNE.

    Returns:
        ``(len(x), 2)`` coordinates.
    """
    if method not in ("pca", "tsne"):
        raise GlasswingError(f"Unknown projection method={method!r}. Expected one of ('pca', 'tsne').")
    features = embeddings(model, x)
    if len(features) < 3:
        raise GlasswingError(f"Need at least 3 examples to project, got {len(features)}.")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2).fit_transform(features)
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(features) - 1) / 3)
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
