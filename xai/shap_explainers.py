"""SHAP explainers: expected gradients and the Partition explainer over maskers.

``shap.DeepExplainer`` is deliberately absent: on this stack it fails on
recurrent/Transformer models and a failed call breaks TF gradients for the
rest of the process (measured on the pinned TensorFlow/Keras versions).
"""

from __future__ import annotations

import dataclasses
import re
import warnings

import numpy as np

from apps.errors import GlasswingError
from xai import _model, segments
from xai.attribution import Attribution


def _embedding_model(model, x):
    """A functional model from token embeddings to probs for the ids ``x``.

    Built around the whole model with the Embedding layer's output overridden,
    so it works for any topology (a ``keras.Model(embedding.output, ...)``
    sub-model raises "Graph disconnected" when other branches read the ids,
    e.g. positional embeddings or masks).
    """
    import keras
    import tensorflow as tf

    layer = _model.embedding_layer(model)
    ids = tf.constant(np.asarray(x)[None])
    width = int(layer.output_dim)

    class FromEmbeddings(keras.layers.Layer):
        def call(self, embedded):
            batch_ids = tf.repeat(ids, tf.shape(embedded)[0], axis=0)
            with _model.override(layer, embedded):
                return model(batch_ids, training=False)

    inputs = keras.Input((len(x), width), name="embeddings")
    return keras.Model(inputs, FromEmbeddings()(inputs), name="from_embeddings"), layer


@dataclasses.dataclass
class ShapGradient:
    """``shap.GradientExplainer`` (expected gradients; Erion et al. 2021).

    For text it runs on the embedding space and sums over the embedding axis.

    Attributes:
        background: Reference inputs (model inputs, or embeddings for text).
            Without data, the modality's "off" input (black image, silence,
            zero embeddings) is the single reference, which makes expected
            gradients a Monte-Carlo Integrated Gradients.
        nsamples: Gradient samples per explanation.
    """

    name: str = "shap_gradient"
    background: np.ndarray | None = None
    nsamples: int = 200
    seed: int = 0

    def supports(self, app) -> bool:
        return app.task == "classify"

    def explain(self, app, model, x, target=None, **options) -> Attribution:
        import shap

        _model.check_supported(self, app)
        _model.require_keras_model(model, self.name)
        x = _model.check_input(model, x)
        target = _model.resolve_target(_model.as_predict(model)(x[None])[0], target)
        background = options.get("background", self.background)
        if _model.is_token_input(model, x):
            sub, layer = _embedding_model(model, x)
            point = np.asarray(layer(x[None])).astype(np.float32)
            if background is None:
                background = np.zeros_like(point)
            elif np.issubdtype(np.asarray(background).dtype, np.integer):
                background = np.asarray(layer(np.asarray(background))).astype(np.float32)
        else:
            sub, point = model, x[None].astype(np.float32)
            if background is None:
                background = segments.fill_value(app.modality, x)[None].astype(np.float32)
        explainer = shap.GradientExplainer(sub, np.asarray(background, np.float32))
        with warnings.catch_warnings():
            # shap passes inputs as a one-element list; Keras warns about the structure.
            warnings.filterwarnings("ignore", message="The structure of `inputs`")
            values, _ = explainer.shap_values(
                point,
                nsamples=int(options.get("nsamples", self.nsamples)),
                ranked_outputs=np.array([[target]]),
                output_rank_order="custom",
                rseed=self.seed,
            )
        values = np.asarray(values[0] if isinstance(values, list) else values)
        values = values.reshape(point.shape)[0]
        if point.shape[1:] != x.shape:
            values = np.where(x != segments.PAD_ID, values.sum(axis=-1), 0.0)
        return Attribution(values.astype(np.float32), target, self.name, tokens=options.get("tokens"))


class _IdTokenizer:
    """Lets ``shap.maskers.Text`` split a token-id string ("12 7 31") into ids.

    Implements the minimal tokenizer API shap needs (``input_ids`` and
    ``offset_mapping``), so text apps need no vocabulary here.
    """

    mask_token = str(segments.PAD_ID)

    def __call__(self, text, return_offsets_mapping=True):
        spans = [m.span() for m in re.finditer(r"\S+", text)]
        return {"input_ids": [int(text[a:b]) for a, b in spans], "offset_mapping": spans}


@dataclasses.dataclass
class ShapPartition:
    """``shap.Explainer`` with the Partition algorithm over a modality masker.

    Images and log-mels use ``maskers.Image`` (hierarchical rectangles, masked
    with the modality's "off" value); token ids use ``maskers.Text`` over the
    ids written as a string, masking with the padding id. Needs only
    predictions, so it also explains a .tflite.

    Attributes:
        max_evals: Model evaluations (batched ``batch_size`` at a time).
    """

    name: str = "shap_partition"
    max_evals: int = 500
    batch_size: int = 250

    def supports(self, app) -> bool:
        return app.task == "classify"

    def explain(self, app, model, x, target=None, **options) -> Attribution:

        _model.check_supported(self, app)
        x = _model.check_input(model, x)
        predict = _model.as_predict(model)
        probs = predict(x[None])[0]
        target = _model.resolve_target(probs, target)
        max_evals = int(options.get("max_evals", self.max_evals))
        if segments.parts_are_tokens(app.modality):
            values, base = self._text(predict, x, target, max_evals)
        else:
            values, base = self._grid(predict, x, target, max_evals, app.modality)
        return Attribution(values.astype(np.float32), target, self.name, base, options.get("tokens"))

    def _grid(self, predict, x, target, max_evals, modality):
        import shap

        # maskers.Image wants (H, W, C); log-mels without a channel get one.
        image = x if x.ndim == 3 else x.reshape(x.shape[0], -1, 1) if x.ndim == 2 else x.reshape(-1, 1, 1)
        fill = float(np.ravel(segments.fill_value(modality, x))[0])
        masker = shap.maskers.Image(fill, image.shape)

        def f(batch):
            return predict(np.asarray(batch).reshape((-1,) + x.shape))[:, [target]]

        explainer = shap.Explainer(f, masker)
        result = explainer(image[None], max_evals=max_evals, batch_size=self.batch_size, silent=True)
        values = np.asarray(result.values)[0, ..., 0].reshape(x.shape)
        return values, float(np.ravel(result.base_values)[0])

    def _text(self, predict, x, target, max_evals):
        import shap

        real = np.flatnonzero(x != segments.PAD_ID)
        if real.size == 0:
            raise GlasswingError("The input holds only padding: nothing to explain.")
        text = " ".join(str(int(i)) for i in x[real])
        masker = shap.maskers.Text(_IdTokenizer(), mask_token=str(segments.PAD_ID), collapse_mask_token=False)

        def f(texts):
            batch = np.full((len(texts),) + x.shape, segments.PAD_ID, dtype=x.dtype)
            for row, t in enumerate(texts):
                ids = [int(s) for s in str(t).split()]
                # Masked ids (0) stay in place, so kept tokens keep their positions.
                batch[row, real[: len(ids)]] = ids[: len(real)]
            return predict(batch)[:, [target]]

        explainer = shap.Explainer(f, masker)
        result = explainer([text], max_evals=max_evals, batch_size=self.batch_size, silent=True)
        per_token = np.asarray(result.values[0])[..., 0]
        values = np.zeros(x.shape, dtype=np.float32)
        values[real[: len(per_token)]] = per_token[: len(real)]
        return values, float(np.ravel(result.base_values[0])[0])
