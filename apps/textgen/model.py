"""Character language models over int32 ids: a GRU/LSTM or a small causal Transformer.

The trained model maps ``(batch, length)`` ids to next-character logits at every
position (any length: recurrent layers run on, the Transformer's positions are
sliced). The exported model is a one-step copy with a fixed ``seq_len`` context
that returns the log-probabilities of the next character only; the sampling
loop stays in Python.
"""

import dataclasses

import keras
from keras import ops

from apps.textgen.data import vocabulary

PACKAGE = "glasswing_textgen"


@keras.saving.register_keras_serializable(package=PACKAGE)
class CausalPositionEmbedding(keras.layers.Layer):
    """Adds a learned vector per position to the first ``length`` positions (length <= max_len)."""

    def __init__(self, max_len: int, **kwargs):
        super().__init__(**kwargs)
        self.max_len = max_len

    def build(self, input_shape):
        self.positions = self.add_weight(
            shape=(self.max_len, input_shape[-1]), initializer="glorot_uniform", name="positions"
        )

    def call(self, x):
        length = ops.shape(x)[1]
        return x + ops.cast(self.positions[:length], x.dtype)[None]

    def get_config(self):
        return {**super().get_config(), "max_len": self.max_len}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LastStepLogProbs(keras.layers.Layer):
    """``(batch, length, vocab)`` logits -> log-probabilities of the last position, ``(batch, vocab)``.

    Log-probabilities rather than probabilities: int8 outputs keep rare
    characters' probabilities distinguishable from zero, so perplexity stays finite.
    """

    def call(self, logits):
        return ops.log_softmax(logits[:, -1, :], axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


def _recurrent(x, cfg, unroll: bool):
    layer_cls = keras.layers.GRU if cfg.arch == "gru" else keras.layers.LSTM
    for i in range(1, cfg.num_layers + 1):
        x = layer_cls(cfg.units, return_sequences=True, unroll=unroll, name=f"{cfg.arch}{i}")(x)
        x = keras.layers.Dropout(cfg.dropout, name=f"drop{i}")(x)
    return x


def _transformer(x, cfg):
    x = CausalPositionEmbedding(cfg.seq_len, name="positions")(x)
    for i in range(1, cfg.num_layers + 1):
        # Pre-norm blocks (GPT-2): stable without warm-up tricks at this size.
        h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"block{i}_norm1")(x)
        h = keras.layers.MultiHeadAttention(
            cfg.num_heads, cfg.embed_dim // cfg.num_heads, dropout=cfg.dropout, name=f"block{i}_attention"
        )(h, h, use_causal_mask=True)
        x = keras.layers.Add(name=f"block{i}_add1")([x, h])
        h = keras.layers.LayerNormalization(epsilon=1e-5, name=f"block{i}_norm2")(x)
        h = keras.layers.Dense(cfg.ff_dim, activation="gelu", name=f"block{i}_ff1")(h)
        h = keras.layers.Dense(cfg.embed_dim, name=f"block{i}_ff2")(h)
        h = keras.layers.Dropout(cfg.dropout, name=f"block{i}_drop")(h)
        x = keras.layers.Add(name=f"block{i}_add2")([x, h])
    return keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)


def build(cfg, length: int | None = None, unroll: bool = False, vocab_size: int | None = None) -> keras.Model:
    """The language model chosen by ``cfg.arch``, compiled with per-character cross-entropy.

    Args:
        cfg: ``apps.textgen.config.Config``.
        length: Fixed input length (export copies); None = any length.
        unroll: Unroll recurrent layers (export-only: int8 conversion of looped RNNs
            is fragile on this stack, unrolled ones convert).
        vocab_size: Output classes; default: the training split's vocabulary.

    Returns:
        A compiled model mapping int32 ids ``(length,)`` to logits ``(length, vocab)``.
    """
    vocab_size = vocab_size or len(vocabulary(cfg))
    ids = keras.Input((length,), dtype="int32", name="char_ids")
    x = keras.layers.Embedding(vocab_size, cfg.embed_dim, name="embedding")(ids)
    x = _transformer(x, cfg) if cfg.arch == "transformer" else _recurrent(x, cfg, unroll)
    # float32 logits keep the softmax stable under mixed precision.
    logits = keras.layers.Dense(vocab_size, dtype="float32", name="logits")(x)
    model = keras.Model(ids, logits, name=f"textgen_{cfg.arch}")
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate, clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def export_variant(model: keras.Model, cfg, quant: str) -> keras.Model:
    """The one-step model exported to TF Lite: ``seq_len`` ids -> next-character log-probs.

    A fixed-length copy with the trained weights (recurrent layers unrolled for
    int8), ending in :class:`LastStepLogProbs`.
    """
    vocab_size = int(model.outputs[0].shape[-1])
    copy = build(dataclasses.replace(cfg), length=cfg.seq_len, unroll=quant == "int8", vocab_size=vocab_size)
    copy.set_weights(model.get_weights())
    return keras.Model(
        copy.inputs, LastStepLogProbs(name="next_char_log_probs")(copy.outputs[0]), name="one_step"
    )
