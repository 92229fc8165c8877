"""The toy app's data: images of one bar, horizontal or vertical, at a random place, in noise."""

import functools

import numpy as np
import tensorflow as tf

from apps import datasets
from apps.image.data import IMAGE_EXTENSIONS
from apps.image.data import preprocess as image_preprocess

EXTENSIONS = IMAGE_EXTENSIONS  # what `evaluate --data` reads
LABELS = ["horizontal", "vertical"]
_SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 2}


def labels(cfg) -> list[str]:
    """The two classes."""
    return list(LABELS)


def make(n: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images ``(side, side, 1)`` in [0, 1] and their labels (0 horizontal, 1 vertical)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.uniform(0.0, 0.2, (n, side, side, 1)).astype(np.float32)
    at = rng.integers(2, side - 2, n)
    for i in range(n):
        if y[i] == 0:
            x[i, at[i], 2:-2, 0] = 1.0
        else:
            x[i, 2:-2, at[i], 0] = 1.0
    return x, y.astype(np.int64)


def dataset(cfg, split: str) -> tf.data.Dataset:
    """Batched ``(x, y)`` of ``split``; the same examples every time."""
    n = cfg.train_size if split == "train" else cfg.eval_size
    x, y = make(n, cfg.side, cfg.seed * 10 + _SPLIT_SEEDS[split])
    return datasets.finish_pipeline(tf.data.Dataset.from_tensor_slices((x, y)), cfg, split)


def preprocess(raw, side: int = 16) -> np.ndarray:
    """Any image -> float32 ``(side, side, 1)`` in [0, 1], light bars on dark as trained."""
    return image_preprocess(raw, side=side, channels=1, invert=True)


def load_preprocess(folder):
    """``preprocess`` at the side of the model in ``folder``."""
    from pathlib import Path

    from apps.artifacts import CONFIG_FILE, read_json

    return functools.partial(preprocess, side=int(read_json(Path(folder) / CONFIG_FILE).get("side", 16)))


def fake_batch(cfg, n: int):
    """``n`` made examples (the same generator as the splits)."""
    return make(n, cfg.side, 99)


def prepare(cfg, progress: bool = True) -> str:
    """Nothing to prepare: the images are made in memory."""
    return f"bars: {cfg.train_size} training images are made in memory from seed {cfg.seed}"
