"""Shared fixtures: a small synthetic Fashion-MNIST in the real idx format, tiny configs."""

from __future__ import annotations

import dataclasses
import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests never reach for the network: Keras' downloader is skipped.
os.environ["GLASSWING_OFFLINE"] = "1"
# The sixth app, from outside the package, joins the registry (and every test over it) the way
# a user's own app would; child processes inherit it.
os.environ.setdefault("GLASSWING_APPS", "tests.toyapp:APP")

ROOT = Path(__file__).resolve().parents[1]


def write_idx(path: Path, array: np.ndarray) -> None:
    """Writes ``array`` (uint8) as a gzipped idx file, the format Fashion-MNIST ships in."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def synthetic_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose class is learnable: class k is a bright band at rows 2k+4..2k+5."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        images[i, 2 * label + 4 : 2 * label + 6, 4:24] = 255
    return images, labels


def write_fashion_mnist(folder: Path, n_train: int, n_test: int) -> Path:
    """A folder with the four Fashion-MNIST idx .gz files, filled with synthetic images."""
    from apps.image.data import FILES

    folder.mkdir(parents=True, exist_ok=True)
    for part, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        images, labels = synthetic_images(n, seed)
        write_idx(folder / FILES[part][0], images)
        write_idx(folder / FILES[part][1], labels)
    return folder


@pytest.fixture(scope="session")
def image_data_dir(tmp_path_factory) -> Path:
    """A data_dir holding a prepared synthetic Fashion-MNIST (2,000 train, 200 test)."""
    from apps.image import APP
    from apps.image.data import prepare

    data_dir = tmp_path_factory.mktemp("data")
    write_fashion_mnist(data_dir / "fashion_mnist", 2000, 200)
    prepare(dataclasses.replace(APP.Config.tiny(), data_dir=str(data_dir)))
    return data_dir


@pytest.fixture
def image_cfg(image_data_dir):
    """The image app's tiny Config reading the synthetic data."""
    from apps.image import APP

    return dataclasses.replace(APP.Config.tiny(), data_dir=str(image_data_dir))


# A tiny synthesized speech dataset: 4 clips per keyword, 8 unknown, 8 silence and 4
# training-only unknown (100 clips).
TINY_SPEECH_DATA = {"clips_per_word": 4, "unknown_clips": 8, "silence_clips": 8, "extra_unknown_clips": 4}


@pytest.fixture(scope="session")
def speech_data_dir(tmp_path_factory):
    """``(data_dir, summary, progress calls)``: the tiny speech dataset, synthesized and prepared."""
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    from apps.speech import APP
    from apps.speech.data import prepare

    data_dir = tmp_path_factory.mktemp("speech_data")
    calls = []
    cfg = APP.Config.tiny(data_dir=str(data_dir), **TINY_SPEECH_DATA)
    summary = prepare(cfg, progress=lambda i, n: calls.append((i, n)))
    return data_dir, summary, calls


@pytest.fixture(scope="module")
def models(tmp_path_factory, image_data_dir):
    """Dashboard tests' models folder: the committed image and sentiment models (synthetic test splits).

    The sentiment pages read a 40-sentence synthetic test split: the committed
    encoder is 22M parameters, and the real 1,060-sentence split's projections
    and error lists belong in the slow tests.
    """
    from tests import dashboard_helpers
    from tests.test_sentiment import corpus_dir

    root = tmp_path_factory.mktemp("models")
    dashboard_helpers.copy_app("image", root, image_data_dir)
    text_data = corpus_dir(tmp_path_factory.mktemp("sentiment_data"))
    dashboard_helpers.copy_app("sentiment", root, text_data, tflite=("dynamic",))
    return root


@pytest.fixture(scope="module")
def image_only(tmp_path_factory, image_data_dir):
    """A models folder holding only the image app."""
    from tests import dashboard_helpers

    root = tmp_path_factory.mktemp("image_only")
    dashboard_helpers.copy_app("image", root, image_data_dir)
    return root
