"""Model plumbing shared by the explainers: predict wrappers, layer lookup, checks.

Layers inside nested sub-models are reached by temporarily wrapping their
``call`` (``capture`` / ``override``) instead of building
``keras.Model(model.inputs, inner_layer.output)``: the latter raises "Graph
disconnected" when the layer lives in a nested model's graph, and the wrapper
works the same for Functional, Sequential and subclassed models.
"""

from __future__ import annotations

import contextlib
import threading
import weakref

import numpy as np

from apps.errors import GlasswingError

# One explanation at a time may wrap a layer's call (the dashboard serves
# several sessions from threads sharing one cached model).
_PATCH_LOCK = threading.RLock()
_PREDICT_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
PREDICT_BATCH = 512
CONV_TYPES = ("Conv1D", "Conv2D", "Conv3D", "DepthwiseConv2D", "SeparableConv2D", "SeparableConv1D")


def is_keras_model(model) -> bool:
    """True for a ``keras.Model`` (gradient methods need one)."""
    import keras

    return isinstance(model, keras.Model)


def require_keras_model(model, method: str):
    """Raises a clear error when a gradient method gets a prediction-only callable."""
    if not is_keras_model(model):
        raise GlasswingError(
            f"{method} needs gradients, so it needs a keras.Model; got {type(model).__name__}. "
            "Prediction-only methods (occlusion, lime, shap_partition) explain any predict callable."
        )


def input_spec(model) -> tuple[tuple | None, np.dtype | None]:
    """``(shape without batch, dtype)`` the model expects, or ``(None, None)`` if unknown."""
    if is_keras_model(model):
        tensor = model.inputs[0]
        return tuple(tensor.shape[1:]), np.dtype(tensor.dtype)
    details = getattr(model, "input_details", None)
    if isinstance(details, dict) and "shape" in details:
        return tuple(int(d) for d in details["shape"][1:]), None
    return None, None


def check_input(model, x) -> np.ndarray:
    """Validates one example ``x`` against the model input; returns it as an array.

    Raises:
        GlasswingError: ``x`` has the wrong shape (the message names both shapes)
            or holds non-finite numbers.
    """
    x = np.asarray(x)
    shape, dtype = input_spec(model)
    if shape is not None:
        expected = tuple(shape)
        fits = len(expected) == x.ndim and all(e is None or e == s for e, s in zip(expected, x.shape))
        if not fits:
            raise GlasswingError(
                f"Input has shape {x.shape}, but the model expects one example of shape "
                f"{expected} (no batch axis)."
            )
    if dtype is not None:
        x = x.astype(dtype)
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise GlasswingError("Input holds NaN or infinite values.")
    return x


def is_token_input(model, x) -> bool:
    """Token ids (text) are integer inputs: they are attributed through the embedding."""
    _, dtype = input_spec(model)
    dtype = dtype if dtype is not None else np.asarray(x).dtype
    return np.issubdtype(dtype, np.integer)


def as_predict(model):
    """A ``predict(batch) -> probs`` numpy callable for a keras model or any callable.

    Keras models run through one cached ``tf.function`` (a traced graph is ~50x
    faster than ``model.predict`` on small batches) in chunks of ``PREDICT_BATCH``.
    """
    if not is_keras_model(model):
        return lambda batch: np.asarray(model(np.asarray(batch)), dtype=np.float32)
    cached = _PREDICT_CACHE.get(model)
    if cached is not None:
        return cached
    import tensorflow as tf

    tensor = model.inputs[0]
    spec = tf.TensorSpec((None,) + tuple(tensor.shape[1:]), tensor.dtype)
    fn = tf.function(lambda batch: model(batch, training=False), input_signature=[spec])
    dtype = np.dtype(tensor.dtype)

    def predict(batch):
        batch = np.asarray(batch).astype(dtype, copy=False)
        outs = [np.asarray(fn(batch[i : i + PREDICT_BATCH])) for i in range(0, len(batch), PREDICT_BATCH)]
        return np.concatenate(outs).astype(np.float32)

    _PREDICT_CACHE[model] = predict
    return predict


def resolve_target(probs: np.ndarray, target) -> int:
    """The class to explain: ``target`` if valid, else the predicted class.

    Raises:
        GlasswingError: ``target`` is outside ``0..n_classes-1``.
    """
    probs = np.asarray(probs).reshape(-1)
    if target is None:
        return int(np.argmax(probs))
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer)):
        raise GlasswingError(f"target must be a class index (int), got {target!r}.")
    if not 0 <= int(target) < probs.size:
        raise GlasswingError(f"target={int(target)} is outside the label range 0..{probs.size - 1}.")
    return int(target)


def check_supported(explainer, app) -> None:
    """Raises a clear error when ``explainer`` does not apply to ``app``."""
    if not explainer.supports(app):
        raise GlasswingError(
            f"Explainer {explainer.name!r} does not support app {app.name!r} "
            f"(modality={app.modality!r}, task={app.task!r})."
        )


def iter_layers(model):
    """Every layer of ``model`` in graph order, descending into nested models.

    ``Model.layers`` is in topological order (so "last conv" means last in the
    forward pass); layers tracked inside custom layers (e.g. an Embedding in a
    token-and-position layer) are reached through Keras' own walk.
    """
    for layer in getattr(model, "layers", []):
        yield layer
        if hasattr(layer, "layers"):
            yield from iter_layers(layer)
        elif hasattr(layer, "_flatten_layers"):
            yield from layer._flatten_layers(include_self=False, recursive=True)


def find_layer(model, name: str):
    """The layer called ``name`` anywhere in ``model`` (nested models included)."""
    for layer in iter_layers(model):
        if layer.name == name:
            return layer
    names = sorted({layer.name for layer in iter_layers(model)})
    raise GlasswingError(f"No layer named {name!r} in model {model.name!r}. Layers: {', '.join(names)}.")


def conv_layers(model) -> list:
    """Every convolution layer of ``model`` in graph order, nested sub-models included."""
    return [layer for layer in iter_layers(model) if type(layer).__name__ in CONV_TYPES]


def last_conv_layer(model):
    """The last convolution layer in ``model``, searching nested sub-models.

    A frozen nested sub-model beside trained convolutions (a pretrained feature extractor
    the app keeps frozen, e.g. speech's ``embedding_head``) is passed over: its last map is
    a side branch, not the map the trained layers localize on. When every convolution sits
    in frozen sub-models (a frozen ``keras.applications`` backbone), the last of them is it.

    Raises:
        GlasswingError: The model has no convolution layer.
    """
    import keras

    convs = conv_layers(model)
    if not convs:
        raise GlasswingError(f"Model {model.name!r} has no convolution layer, so Grad-CAM does not apply.")
    frozen = {
        id(inner)
        for sub in iter_layers(model)
        if isinstance(sub, keras.Model) and not sub.trainable
        for inner in iter_layers(sub)
    }
    trained = [layer for layer in convs if id(layer) not in frozen]
    return (trained or convs)[-1]


# Layers that only rectify a convolution's output; with any BatchNormalization (subclasses such
# as apps.layers.FusedBatchNormalization included), Grad-CAM reads the map after them.
_CONV_TAIL = ("ReLU", "Activation", "LeakyReLU", "ELU", "PReLU")


def _is_conv_tail(layer) -> bool:
    import keras

    return isinstance(layer, keras.layers.BatchNormalization) or type(layer).__name__ in _CONV_TAIL


def _only_consumer(layer, members: set):
    """The one layer of ``members`` that reads ``layer``'s output, or None (none, or several)."""
    consumers = {id(node.operation): node.operation for node in layer._outbound_nodes}
    inside = [op for key, op in consumers.items() if key in members]
    return inside[0] if len(inside) == 1 else None


def rectified_conv_layer(model):
    """The last convolution's output as the next layers see it: after its BatchNorm and activation.

    Grad-CAM weights feature maps by their gradients; the raw conv output (before
    BatchNorm shifts it and ReLU zeroes it) is not the map the classifier reads. The
    walk follows the graph (the layer that reads the output), not the layer list, which
    interleaves parallel branches.

    Raises:
        GlasswingError: The model has no convolution layer.
    """
    members = {id(layer) for layer in iter_layers(model)}
    chosen = last_conv_layer(model)
    while (after := _only_consumer(chosen, members)) is not None and _is_conv_tail(after):
        chosen = after
    return chosen


@contextlib.contextmanager
def pre_softmax(model):
    """While active, a final softmax layer outputs its logits (scores that do not saturate).

    A confident model's softmax output is flat in its inputs (98 % stays 98 %), so
    gradients of the probability vanish; gradients of the logit do not.
    """
    import keras

    last = model.layers[-1]
    act = getattr(last, "activation", None)
    if getattr(act, "__name__", "") != "softmax":
        yield
        return
    with _PATCH_LOCK:
        last.activation = keras.activations.linear
        try:
            yield
        finally:
            last.activation = act


def embedding_layer(model):
    """The first ``keras.layers.Embedding`` in ``model`` (token ids enter through it).

    Raises:
        GlasswingError: The model takes integer inputs but has no Embedding layer.
    """
    import keras

    for layer in iter_layers(model):
        if isinstance(layer, keras.layers.Embedding):
            return layer
    raise GlasswingError(
        f"Model {model.name!r} takes token ids but has no Embedding layer to attribute through."
    )


@contextlib.contextmanager
def capture(layer, store: list, on_output=None):
    """While active, every output of ``layer`` is appended to ``store``.

    Args:
        layer: The layer to watch (may live in a nested sub-model).
        store: Receives the outputs in call order.
        on_output: Optional hook called with each output (e.g. ``tape.watch``).
    """
    original = layer.call

    def call(*args, **kwargs):
        out = original(*args, **kwargs)
        if on_output is not None:
            on_output(out)
        store.append(out)
        return out

    with _PATCH_LOCK:
        layer.call = call
        try:
            yield store
        finally:
            del layer.call


@contextlib.contextmanager
def override(layer, value):
    """While active, ``layer`` returns ``value`` instead of computing its output.

    Used to feed embeddings directly to a text model that takes token ids: the
    ids still flow in (so padding masks are computed as usual) but the
    embedding layer's output is replaced by the tensor we differentiate.
    """
    import tensorflow as tf

    def call(*args, **kwargs):
        # A fresh tensor per call: Keras attaches the padding mask to the output.
        return tf.identity(value)

    with _PATCH_LOCK:
        layer.call = call
        try:
            yield
        finally:
            del layer.call
