"""Shared tf.data plumbing: local tfds builders and the common pipeline tail.

Every app serves its data through a tensorflow-datasets builder that reads
local files (``manual_dir``), prepared once into ``<data_dir>/tfds`` and then
loaded with ``download=False``: nothing here touches the network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import tensorflow as tf
import tensorflow_datasets as tfds

from apps.errors import GlasswingError

SPLITS = ("train", "validation", "test")
AUTOTUNE = tf.data.AUTOTUNE


def tfds_dir(cfg) -> Path:
    """Where prepared tfds datasets live for this config."""
    return Path(cfg.data_dir) / "tfds"


def prepare_builder(builder_cls, cfg, manual_dir: Path, data_dir: Path | None = None):
    """Builds the tfds dataset of ``builder_cls`` from local files, once.

    Args:
        builder_cls: A ``tfds.core.GeneratorBasedBuilder`` subclass.
        cfg: The app Config (``data_dir`` is read).
        manual_dir: Folder holding the raw files the builder reads.
        data_dir: Where the tfds copy goes (default :func:`tfds_dir`), for an app
            with more than one source of the same dataset.

    Returns:
        The prepared builder.
    """
    data_dir = data_dir or tfds_dir(cfg)
    builder = builder_cls(data_dir=str(data_dir))
    if not builder.is_prepared():
        print(f"Preparing {builder.name} from {manual_dir} into {data_dir} ...", flush=True)
        builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
    return builder


def load_split(builder, split: str) -> tf.data.Dataset:
    """Loads one split of a prepared builder as ``(x, y)`` pairs, offline."""
    if split not in SPLITS:
        raise GlasswingError(f"Unknown split={split!r}. Expected one of {SPLITS}.")
    return tfds.load(
        builder.name,
        split=split,
        data_dir=builder.data_dir_root,
        download=False,
        as_supervised=True,
        shuffle_files=False,
    )


def examples(cfg, split: str, builder: Callable) -> tf.data.Dataset:
    """Unbatched ``(x, y)`` of one split: the user's dataset when ``cfg.data`` names one, else the app's own.

    Args:
        cfg: The app Config.
        split: ``"train" | "validation" | "test"``.
        builder: ``cfg -> prepared tfds builder`` of the app's own dataset (not
            called for a user's dataset, so no built-in data is prepared for it).
    """
    if cfg.data:
        from apps.userdata import load_split as load_user_split

        return load_user_split(cfg, split)
    return load_split(builder(cfg), split)


def finish_pipeline(
    ds: tf.data.Dataset,
    cfg,
    split: str,
    augment: Callable | None = None,
) -> tf.data.Dataset:
    """The tail every app's pipeline shares: cap, cache, shuffle, batch, augment, prefetch.

    Args:
        ds: Unbatched dataset of preprocessed ``(x, y)`` examples.
        cfg: App Config (``batch_size``, ``seed``, ``max_train_examples``).
        split: Only ``"train"`` is shuffled and augmented.
        augment: Optional batch-level ``(x, y) -> (x, y)`` function; runs on the
            training split only, after batching, because vectorised augmentation
            of a whole batch is far cheaper than per-example calls.

    Returns:
        A batched, prefetched dataset.
    """
    training = split == "train"
    if training and cfg.max_train_examples:
        ds = ds.take(cfg.max_train_examples)
    # Cache after decoding/preprocessing and before shuffling, so each epoch is
    # a fresh permutation of cached tensors.
    ds = ds.cache()
    if training:
        ds = ds.shuffle(buffer_size=16_384, seed=cfg.seed, reshuffle_each_iteration=True)
    ds = ds.batch(cfg.batch_size)
    if training and augment is not None:
        ds = ds.map(augment, num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE)
