"""Textgen app configuration: defaults are the committed Shakespeare run."""

import dataclasses
from typing import ClassVar

from apps.app import TrainConfig
from apps.errors import GlasswingError

ARCHS = ("gru", "lstm", "transformer")


@dataclasses.dataclass
class Config(TrainConfig):
    """Character-level Shakespeare language model. ``Config()`` is the committed run.

    The defaults are sized for minutes on 2 CPU cores (~0.2 s per batch of 64 windows).
    """

    # tiny(): a few-thousand-parameter model on 64 short windows.
    TINY: ClassVar[dict] = {
        "seq_len": 16,
        "embed_dim": 8,
        "units": 16,
        "num_heads": 2,
        "ff_dim": 16,
    }

    epochs: int = 3
    batch_size: int = 64
    learning_rate: float = 3e-3
    warmup_fraction: float = 0.0
    patience: int = 2
    # Every training window each epoch (~40k windows of 100 characters): three passes
    # over all 34 works generalise better than more passes over a sample of them.
    max_train_examples: int = 0
    # Nothing to augment for next-character prediction.
    augment: bool = False
    # "gru" / "lstm" (recurrent) or "transformer" (causal self-attention).
    arch: str = "gru"
    # Characters per training window; also the context of the exported one-step model.
    seq_len: int = 100
    embed_dim: int = 64
    # Recurrent units (gru/lstm).
    units: int = 256
    num_layers: int = 1
    # Transformer only: heads and feed-forward width (model width = embed_dim).
    num_heads: int = 4
    ff_dim: int = 256
    dropout: float = 0.1

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise GlasswingError(f"Unknown arch={self.arch!r}. Expected one of {ARCHS}.")
        if self.seq_len < 2 or self.num_layers < 1 or self.units < 1 or self.embed_dim < 1:
            raise GlasswingError(
                f"seq_len must be >= 2 and num_layers, units, embed_dim >= 1, got {self.seq_len}, "
                f"{self.num_layers}, {self.units}, {self.embed_dim}."
            )
        if self.arch == "transformer" and self.embed_dim % self.num_heads:
            raise GlasswingError(
                f"embed_dim={self.embed_dim} must be divisible by num_heads={self.num_heads}."
            )
