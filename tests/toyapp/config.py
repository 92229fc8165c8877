"""The toy app's settings: defaults already train in seconds."""

import dataclasses
from typing import ClassVar

from apps.app import TrainConfig


@dataclasses.dataclass
class Config(TrainConfig):
    """Bars: a two-conv CNN on 16x16 images made in memory."""

    WIDTHS: ClassVar[tuple[str, ...]] = ("filters",)
    TINY: ClassVar[dict] = {}

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-2
    warmup_fraction: float = 0.0
    patience: int = 3
    baselines: bool = False
    filters: int = 8
    side: int = 16
    # Examples per split, made from the seed (no files, no download).
    train_size: int = 384
    eval_size: int = 96
