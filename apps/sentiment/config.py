"""Sentiment app configuration: defaults are the real movie-review run (frozen MPNet, trained head)."""

import dataclasses
from typing import ClassVar

from apps.app import TrainConfig
from apps.errors import GlasswingError

ARCHS = ("minilm", "mpnet", "bilstm", "transformer", "linear")
# From-scratch word-level settings (the BiLSTM's tuned values, shared by the other word models).
_WORD_MODEL = {
    "epochs": 20,
    "batch_size": 64,
    "learning_rate": 2e-3,
    "patience": 4,
    "max_tokens": 8000,
    "seq_len": 48,
    "dropout": 0.5,
    "weight_decay": 5e-5,
    "word_dropout": 0.25,
    # The word models (and the linear baseline trained beside every run) learn from the corpus alone.
    "lexicon_fraction": 0.0,
    "teacher_fraction": 0.0,
}


@dataclasses.dataclass
class Config(TrainConfig):
    """Binary sentiment of movie-review sentences. ``Config()`` is the committed run."""

    # tiny(): a few-thousand-parameter BiLSTM on 64 examples (the pretrained encoder
    # cannot be tiny; its tests set arch=minilm, pretrained=false).
    WIDTHS: ClassVar[tuple[str, ...]] = ("embed_dim", "lstm_units", "ff_dim")
    TINY: ClassVar[dict] = {
        **{k: v for k, v in _WORD_MODEL.items() if k not in ("epochs", "batch_size", "patience")},
        "arch": "bilstm",
        "max_tokens": 200,
        "seq_len": 12,
        "embed_dim": 8,
        "lstm_units": 4,
        "num_heads": 2,
        "ff_dim": 8,
        "bigram_buckets": 64,
    }
    # --set arch=X also sets these fields to X's own defaults, unless set on the same
    # command line (see apps.app.apply_overrides).
    PRESETS: ClassVar[dict] = {
        "arch": {
            "mpnet": {},
            # Fine-tuning a pretrained encoder: few epochs at a small rate (BERT's recipe). Two, since
            # validation accuracy peaked after one or two epochs (0.863 after the first, seed 1).
            # AdamW's decoupled decay; MPNet's teacher sentences (teacher_fraction) lift its NYT accuracy.
            "minilm": {
                "epochs": 2,
                "batch_size": 32,
                "learning_rate": 5e-5,
                "patience": 2,
                "weight_decay": 0.01,
                "teacher_fraction": 1.0,
            },
            "bilstm": _WORD_MODEL,
            "transformer": _WORD_MODEL,
            # Picked on validation accuracy (0.7745 vs 0.708-0.763 with decay or dropout).
            "linear": {
                **_WORD_MODEL,
                "max_tokens": 20000,
                "word_dropout": 0.0,
                "dropout": 0.0,
                "weight_decay": 0.0,
            },
        }
    }

    # A linear head over the frozen encoder's cached vectors: many cheap epochs at Adam's usual
    # rate. The L2 term is about the probe's (bench/sentiment_encoders.py: logistic regression,
    # C=0.3 on ~22,000 examples is 1 / (2 C n) = 7.6e-5).
    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 1e-3
    patience: int = 5
    # "mpnet" (all-mpnet-base-v2, pretrained and frozen, under a trained linear head; the default),
    # "minilm" (a 5x smaller pretrained encoder, fine-tuned), "bilstm", "transformer" (one encoder
    # block from scratch) or "linear" (bag of words + hashed bigrams, the baseline).
    arch: str = "mpnet"
    # minilm: start from the pretrained weights (false: random, only for tests).
    pretrained: bool = True
    # Word models: vocabulary size including the padding (0) and out-of-vocabulary (1) ids.
    max_tokens: int = 8000
    # Token ids per sentence: minilm's 64 WordPieces hold 99% of the corpus' sentences.
    seq_len: int = 64
    embed_dim: int = 32
    lstm_units: int = 48
    num_heads: int = 4
    ff_dim: int = 128
    num_layers: int = 1
    # linear: hashed word-bigram buckets.
    bigram_buckets: int = 40000
    # Dropout on whole embedding channels (SpatialDropout1D), inside blocks, and before the head.
    embed_dropout: float = 0.25
    dropout: float = 0.1
    # minilm: AdamW's decoupled decay; mpnet's head and the word models: an L2 term.
    weight_decay: float = 1e-4
    # Training-time word dropout (word models): this fraction of real tokens becomes the OOV id.
    word_dropout: float = 0.0
    # This seeded share of VADER's rated words joins the built-in corpus' training split as
    # one-word examples (apps/sentiment/data.py:lexicon_words); 0 = off. Never with --data.
    # 0.3: best movie validation accuracy of a frozen-encoder probe (bench/sentiment_lexicon.py;
    # 0.5 tied); fine-tuned: NYT 0.700 against 0.687 without, movie test unchanged (3 seeds, results.md).
    lexicon_fraction: float = 0.3
    # This seeded share of data/sentiment/teacher_sentences.tsv (10,000 general English sentences
    # a frozen MPNet probe labelled, bench/sentiment_teacher.py) joins the built-in corpus'
    # training split too; 0 = off. Never with --data. See results.md, "MPNet as a teacher". Off for
    # mpnet: its own probe's labels would teach it nothing new.
    teacher_fraction: float = 0.0
    # mpnet: the graph takes the frozen encoder's mean-pooled vectors, not token ids. Training sets
    # it for the head it fits (validation_config below); the published model reads ids.
    encoder_features: bool = False

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise GlasswingError(f"Unknown arch={self.arch!r}. Expected one of {ARCHS}.")
        for name in ("lexicon_fraction", "teacher_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise GlasswingError(f"{name} must be in [0, 1], not {getattr(self, name)}.")
        if self.seq_len < 2 or self.max_tokens < 3:
            raise GlasswingError(
                f"seq_len must be >= 2 and max_tokens >= 3, got {self.seq_len} and {self.max_tokens}."
            )
        if self.arch == "linear" and not (1 <= self.bigram_buckets and self.max_tokens <= 46340):
            raise GlasswingError("linear: bigram_buckets must be >= 1 and max_tokens <= 46340.")
        if self.arch in ("transformer", "minilm") and self.embed_dim % self.num_heads:
            raise GlasswingError(
                f"embed_dim={self.embed_dim} must be divisible by num_heads={self.num_heads}."
            )
        if self.arch == "mpnet" and not self.pretrained:
            raise GlasswingError("mpnet is only used pretrained and frozen; pretrained=false is for minilm.")
        if self.encoder_features and self.arch != "mpnet":
            raise GlasswingError("encoder_features=true is only for arch=mpnet.")
        if self.arch == "minilm" and self.pretrained and self.seq_len > 512:
            raise GlasswingError(f"minilm: seq_len must be <= 512 (its position table), got {self.seq_len}.")


def baselines(cfg) -> dict:
    """The baseline trained beside every sentiment run: the linear bag of n-grams, same seed and data."""
    if cfg.arch == "linear":
        return {}
    linear = {**Config.PRESETS["arch"]["linear"], "arch": "linear"}
    shared = {
        k: getattr(cfg, k) for k in ("seed", "data_dir", "max_train_examples", "strategy", "data", "classes")
    }
    return {"linear bag of n-grams": dataclasses.replace(Config(), **linear, **shared, baselines=False)}


def validation_config(cfg: Config) -> Config:
    """The Config of the model training fits: for ``arch=mpnet``, its head over cached encoder vectors.

    The frozen encoder's vectors do not change while the head trains, so they are computed once per
    sentence (``apps/sentiment/features.py``) instead of every epoch; the published model is the
    whole graph over token ids, holding the encoder's pretrained weights and the trained head.
    """
    return dataclasses.replace(cfg, encoder_features=True) if cfg.arch == "mpnet" else cfg
