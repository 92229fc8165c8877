"""Fashion-MNIST: local sources -> tfds builder -> tf.data pipeline; and preprocess.

Lookup order for the raw idx files (data/README.md):
``<data_dir>/fashion_mnist/`` -> the Debian package ``dataset-fashion-mnist`` ->
Keras' own cache/downloader (only when online) -> a clear error.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import os
import struct
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from apps import datasets
from apps.app import class_names
from apps.errors import GlasswingError

LABELS = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
SIDE = 28
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE_DIR = Path.home() / ".keras" / "datasets" / "fashion-mnist"
# The validation split is held out of the 60k training images with this seed,
# so train/validation never change between runs or machines.
SPLIT_SEED = 20_241_122
VALIDATION_SIZE = 6_000
HOW_TO_GET = (
    "Install it with `sudo apt-get install dataset-fashion-mnist` (files land in "
    f"{DEBIAN_DIR}), or copy the four Fashion-MNIST idx .gz files "
    f"({', '.join(sum(FILES.values(), ()))}) into data/fashion_mnist/."
)


def labels(cfg=None) -> list[str]:
    """The class names in label order: Fashion-MNIST's ten, or a user dataset's (``cfg.classes``)."""
    return class_names(cfg, LABELS) if cfg is not None else list(LABELS)


def _has_all_files(folder: Path) -> bool:
    return all((folder / name).is_file() for pair in FILES.values() for name in pair)


def _try_keras_download() -> Path | None:
    """Fetches the files with Keras' downloader; None when offline or refused."""
    if os.environ.get("GLASSWING_OFFLINE", "") not in ("", "0"):
        return None
    try:
        keras.datasets.fashion_mnist.load_data()
    except Exception:  # noqa: BLE001 - any failure just means "not available online"
        return None
    return KERAS_CACHE_DIR if _has_all_files(KERAS_CACHE_DIR) else None


def find_source_dir(cfg) -> Path:
    """Returns the first folder holding all four idx files, per the lookup order.

    Raises:
        GlasswingError: No source holds the files; says how to get them.
    """
    for folder in (Path(cfg.data_dir) / "fashion_mnist", DEBIAN_DIR, KERAS_CACHE_DIR):
        if _has_all_files(folder):
            return folder
    downloaded = _try_keras_download()
    if downloaded is not None:
        return downloaded
    raise GlasswingError(f"Fashion-MNIST not found (and no download possible). {HOW_TO_GET}")


def read_idx(path: Path) -> np.ndarray:
    """Reads one gzipped idx file (images ``(n, 28, 28)`` or labels ``(n,)``) as uint8.

    Raises:
        GlasswingError: The file is not gzip, truncated, or its header is wrong.
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise GlasswingError(
            f"{path} is corrupt or truncated ({err}). Delete it and get a fresh copy. {HOW_TO_GET}"
        ) from None
    if len(raw) < 8:
        raise GlasswingError(f"{path} is too short to be an idx file. {HOW_TO_GET}")
    magic, count = struct.unpack(">II", raw[:8])
    ndim = magic & 0xFF
    if magic >> 8 != 0x08 or ndim not in (1, 3):
        raise GlasswingError(f"{path} is not an unsigned-byte idx file (magic {magic:#x}).")
    dims = (count,) + struct.unpack(f">{ndim - 1}I", raw[8 : 4 + 4 * ndim]) if ndim > 1 else (count,)
    body = raw[4 + 4 * ndim :]
    expected = int(np.prod(dims))
    if len(body) != expected:
        raise GlasswingError(
            f"{path} holds {len(body)} bytes of data but its header promises {expected}: "
            f"the file is truncated or corrupt. {HOW_TO_GET}"
        )
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def read_pair(folder: Path, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads images and labels of ``part`` ("train" or "test") and checks they match."""
    image_file, label_file = FILES[part]
    images, targets = read_idx(folder / image_file), read_idx(folder / label_file)
    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or targets.ndim != 1:
        raise GlasswingError(f"{folder}: {part} files do not hold 28x28 images and labels.")
    if len(images) != len(targets):
        raise GlasswingError(f"{folder}: {len(images)} {part} images but {len(targets)} labels.")
    if targets.size and targets.max() >= len(LABELS):
        raise GlasswingError(f"{folder}: label {targets.max()} out of range 0..9.")
    return images, targets


class GlasswingFashionMnist(tfds.core.GeneratorBasedBuilder):
    """Fashion-MNIST from local idx files, with a seeded validation hold-out."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = HOW_TO_GET

    def _info(self):
        return self.dataset_info_from_configs(
            description="Fashion-MNIST (Xiao et al. 2017), MIT licence, read from local files.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(SIDE, SIDE, 1), dtype=np.uint8),
                    "label": tfds.features.ClassLabel(names=LABELS),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        folder = Path(dl_manager.manual_dir)
        train_x, train_y = read_pair(folder, "train")
        test_x, test_y = read_pair(folder, "test")
        order = np.random.default_rng(SPLIT_SEED).permutation(len(train_x))
        n_val = min(VALIDATION_SIZE, len(train_x) // 10)
        val, train = order[:n_val], order[n_val:]
        return {
            "train": self._generate_examples(train_x[train], train_y[train]),
            "validation": self._generate_examples(train_x[val], train_y[val]),
            "test": self._generate_examples(test_x, test_y),
        }

    def _generate_examples(self, images, targets):
        for i, (image, label) in enumerate(zip(images, targets)):
            yield i, {"image": image[..., None], "label": int(label)}


def prepare(cfg, progress: bool = True) -> str:
    """Builds the tfds dataset once; returns a summary of the split sizes."""
    builder = datasets.prepare_builder(GlasswingFashionMnist, cfg, find_source_dir(cfg))
    sizes = {name: split.num_examples for name, split in builder.info.splits.items()}
    return f"fashion-mnist ready in {builder.data_dir}: {sizes}"


def _to_float(image, label):
    return tf.cast(image, tf.float32) / 255.0, label


def make_augmenter(cfg):
    """Batch-level augmentation: random horizontal flips (``cfg.flip``) and shifts (pad-and-crop)."""
    layers = [keras.layers.RandomFlip("horizontal", seed=cfg.seed)] if getattr(cfg, "flip", True) else []
    layers.append(
        keras.layers.RandomTranslation(
            cfg.shift, cfg.shift, fill_mode="constant", fill_value=0.0, seed=cfg.seed + 1
        )
    )
    pipeline = keras.Sequential(layers, name="augment")

    def augment(x, y):
        return pipeline(x, training=True), y

    return augment


def _builder(cfg):
    return datasets.prepare_builder(GlasswingFashionMnist, cfg, find_source_dir(cfg))


def dataset(cfg, split: str) -> tf.data.Dataset:
    """Batched, cached, prefetched ``(x, y)``: x float32 ``(side, side, channels)`` in [0, 1], y int."""
    ds = datasets.examples(cfg, split, _builder).map(_to_float, num_parallel_calls=datasets.AUTOTUNE)
    augment = make_augmenter(cfg) if cfg.augment else None
    return datasets.finish_pipeline(ds, cfg, split, augment=augment)


# What `evaluate --data` and own-data folders read, and the dashboard's upload box takes (Pillow
# reads them all).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
# Pillow modes without colour: a folder of only these trains a grayscale model.
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F", "P;gray"}
# Pillow modes wider than 8 bits: Pillow's own convert("L") clips them (a float image in
# [0, 1] turns black), so their range is mapped to 0-255 first.
_WIDE_MODES = {"F", "I", "I;16", "I;16B", "I;16L", "I;16N"}


def preprocess(raw, side: int = SIDE, channels: int = 1, invert: bool = True) -> np.ndarray:
    """Any image (PIL image, path, bytes or array) -> float32 ``(side, side, channels)`` in [0, 1].

    Applies the EXIF orientation, converts to grayscale (``channels=1``) or RGB,
    fits the longer side into ``side`` px keeping the aspect ratio (padding the
    rest with black), and with ``invert`` inverts photos of dark objects on a
    light background, because Fashion-MNIST shows light garments on black.

    Raises:
        GlasswingError: The input cannot be read as an image, or is empty.
    """
    image = _to_pil(raw, "L" if channels == 1 else "RGB")
    if image.width == 0 or image.height == 0:
        raise GlasswingError("The image is empty (0 pixels).")
    from PIL import Image

    scale = side / max(image.width, image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    pixels = np.asarray(image.resize(size, Image.Resampling.LANCZOS), dtype=np.float32) / 255.0
    pixels = pixels.reshape(size[1], size[0], channels)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    if invert and border.mean() > 0.5:
        pixels = 1.0 - pixels
    canvas = np.zeros((side, side, channels), np.float32)
    top, left = (side - size[1]) // 2, (side - size[0]) // 2
    canvas[top : top + size[1], left : left + size[0]] = pixels
    return canvas


def _to_pil(raw, mode: str):
    """A PIL image in ``mode`` ("L" or "RGB"), upright per its EXIF orientation."""
    from PIL import Image, ImageOps, UnidentifiedImageError  # PIL is only needed for raw input

    if isinstance(raw, (str, Path, bytes, bytearray)):
        import io

        source = io.BytesIO(raw) if isinstance(raw, (bytes, bytearray)) else raw
        try:
            with Image.open(source) as img:
                img.load()
                raw = ImageOps.exif_transpose(img)
        except UnidentifiedImageError:
            known = "PNG, JPEG, GIF, BMP, TIFF, WebP"
            raise GlasswingError(
                f"Cannot read the image: not an image format Pillow knows ({known})."
            ) from None
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise GlasswingError(f"Cannot read the image: {err}") from None
    if isinstance(raw, Image.Image) and raw.mode not in _WIDE_MODES:
        return raw.convert(mode)
    array = np.asarray(raw)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    colour = array.ndim == 3 and array.shape[-1] in (3, 4)
    if not (array.ndim == 2 or colour) or array.size == 0:
        raise GlasswingError(
            f"Expected a 2-D grayscale or HxWxC image, got an array of shape {np.shape(raw)}."
        )
    if array.dtype != np.uint8:
        array = _to_uint8(array)
    return Image.fromarray(array[..., :3] if colour else array, mode="RGB" if colour else "L").convert(mode)


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Pixels of any range as 0-255: floats in [0, 1] (e.g. a float TIFF), 0-255, or 16-bit 0-65535.

    Raises:
        GlasswingError: NaN or infinite pixels (a broken float image has no honest 0-255 reading).
    """
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise GlasswingError("The image holds NaN or infinite pixel values.")
    top = float(array.max()) if array.size else 0.0
    hi = 1.0 if top <= 1.0 else 255.0 if top <= 255.0 else 65535.0
    return np.clip(np.round(array / hi * 255.0), 0, 255).astype(np.uint8)


def load_preprocess(folder):
    """``preprocess`` with the input settings (side, channels, invert) of the model in ``folder``."""
    from apps.artifacts import CONFIG_FILE, read_json

    values = read_json(Path(folder) / CONFIG_FILE)
    return functools.partial(
        preprocess,
        side=int(values.get("side", SIDE)),
        channels=int(values.get("channels", 1)),
        invert=bool(values.get("invert", True)),
    )


def read_own(path, cfg) -> np.ndarray:
    """One of a user's image files as stored for training: uint8 ``(side, side, channels)``."""
    x = preprocess(path, cfg.side, cfg.channels, cfg.invert)
    return np.round(x * 255.0).astype(np.uint8)


def own_feature(cfg):
    """The tfds feature of one stored user image."""
    return tfds.features.Tensor(shape=(cfg.side, cfg.side, cfg.channels), dtype=np.uint8)


def configure_own(cfg, paths) -> object:
    """A user's photos: colour when any of (up to 256 of) them has colour, and never FMNIST's inversion.

    Colour is judged by content, not by file mode: a gray scan saved as RGB is gray.
    """
    from PIL import Image

    def colour(path) -> bool:
        try:
            with Image.open(path) as img:
                if img.mode in _GRAY_MODES:
                    return False
                img.thumbnail((64, 64))
                rgb = np.asarray(img.convert("RGB"), dtype=np.int16)
        except Exception:  # noqa: BLE001 - unreadable files are reported when read
            return False
        return bool(np.abs(rgb - rgb.mean(axis=-1, keepdims=True)).max() > 8)

    sample = list(paths)[:: max(1, len(paths) // 256)]
    return dataclasses.replace(cfg, channels=3 if any(map(colour, sample)) else 1, invert=False)


def check_own(paths) -> list[str]:
    """Warnings on a user's image files: how many are under 16 px on a side (too small to show much)."""
    from PIL import Image

    def small(path) -> bool:
        try:
            with Image.open(path) as img:  # reads the header only
                return min(img.size) < 16
        except Exception:  # noqa: BLE001 - unreadable files are reported when read
            return False

    n = sum(map(small, paths))
    return [f"{n} image(s) are under 16 px on a side: they hold little to learn from"] if n else []


def input_shape(cfg) -> tuple[int, int, int]:
    """``(side, side, channels)`` of ``cfg`` (the VAE shares this module; its Config is always 28x28x1)."""
    side = getattr(cfg, "side", SIDE)
    return (side, side, getattr(cfg, "channels", 1))


def fake_batch(cfg, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic images with learnable labels: class k is a bright band at row (2k+4) mod side."""
    rng = np.random.default_rng(cfg.seed)
    y = rng.integers(0, len(labels(cfg)), size=n)
    shape = input_shape(cfg)
    x = rng.uniform(0.0, 0.2, size=(n, *shape)).astype(np.float32)
    for i, label in enumerate(y):
        row = (2 * label + 4) % (shape[0] - 1)
        x[i, row : row + 2, :, :] = 1.0
    return x, y.astype(np.int64)
