"""Image app data: idx parsing, source lookup, the tfds builder, the pipeline, preprocess."""

import dataclasses
import gzip
import io

import numpy as np
import pytest
from PIL import Image

from apps.errors import GlasswingError
from apps.image import APP
from apps.image import data as image_data
from tests.conftest import synthetic_images, write_fashion_mnist, write_idx


def test_read_idx_round_trip(tmp_path):
    images, _ = synthetic_images(5, 0)
    write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(image_data.read_idx(tmp_path / "x.gz"), images)


def test_truncated_idx_is_named(tmp_path):
    images, _ = synthetic_images(5, 0)
    header = bytes.fromhex("00000803") + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    with gzip.open(tmp_path / "t.gz", "wb") as f:
        f.write(header + images.tobytes()[:-100])
    with pytest.raises(GlasswingError, match=r"t\.gz.*truncated"):
        image_data.read_idx(tmp_path / "t.gz")


def test_corrupt_gzip_is_named(tmp_path):
    (tmp_path / "c.gz").write_bytes(b"this is not gzip at all")
    with pytest.raises(GlasswingError, match=r"c\.gz is corrupt"):
        image_data.read_idx(tmp_path / "c.gz")


def test_cut_gzip_stream_is_named(tmp_path):
    images, _ = synthetic_images(50, 0)
    write_idx(tmp_path / "x.gz", images)
    raw = (tmp_path / "x.gz").read_bytes()
    (tmp_path / "x.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(GlasswingError, match="corrupt or truncated"):
        image_data.read_idx(tmp_path / "x.gz")


def test_wrong_magic_is_named(tmp_path):
    with gzip.open(tmp_path / "m.gz", "wb") as f:
        f.write(bytes.fromhex("00000D03") + bytes(12))
    with pytest.raises(GlasswingError, match="not an unsigned-byte idx"):
        image_data.read_idx(tmp_path / "m.gz")


def test_source_lookup_prefers_the_local_copy(tmp_path, monkeypatch):
    cfg = dataclasses.replace(APP.Config.tiny(), data_dir=str(tmp_path))
    monkeypatch.setattr(image_data, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.setattr(image_data, "KERAS_CACHE_DIR", tmp_path / "keras")
    write_fashion_mnist(tmp_path / "debian", 20, 10)
    assert image_data.find_source_dir(cfg) == tmp_path / "debian"
    write_fashion_mnist(tmp_path / "fashion_mnist", 20, 10)
    assert image_data.find_source_dir(cfg) == tmp_path / "fashion_mnist"


def test_missing_data_says_how_to_get_it(tmp_path, monkeypatch):
    cfg = dataclasses.replace(APP.Config.tiny(), data_dir=str(tmp_path))
    monkeypatch.setattr(image_data, "DEBIAN_DIR", tmp_path / "nowhere")
    monkeypatch.setattr(image_data, "KERAS_CACHE_DIR", tmp_path / "nowhere")
    with pytest.raises(GlasswingError, match="apt-get install dataset-fashion-mnist"):
        image_data.find_source_dir(cfg)


def test_builder_splits_are_disjoint_and_sized(image_cfg):
    from apps import datasets

    builder = datasets.prepare_builder(image_data.GlasswingFashionMnist, image_cfg, None)
    sizes = {name: s.num_examples for name, s in builder.info.splits.items()}
    assert sizes == {"train": 1800, "validation": 200, "test": 200}
    train = {bytes(np.asarray(x)) for x, _ in datasets.load_split(builder, "train")}
    val = {bytes(np.asarray(x)) for x, _ in datasets.load_split(builder, "validation")}
    assert len(train) == 1800 and not train & val


def test_pipeline_batches_scales_and_augments_only_training(image_cfg):
    cfg = dataclasses.replace(image_cfg, batch_size=32, max_train_examples=0)
    x, y = next(iter(APP.dataset(cfg, "test")))
    assert x.shape == (32, 28, 28, 1) and x.dtype.name == "float32" and y.shape == (32,)
    assert 0.0 <= float(np.min(x)) and float(np.max(x)) <= 1.0
    # Test batches are identical on every pass; training batches are reshuffled and augmented.
    again, _ = next(iter(APP.dataset(cfg, "test")))
    np.testing.assert_array_equal(x, again)
    train = APP.dataset(cfg, "train")
    first = [np.asarray(b[0]) for b in train.take(3)]
    second = [np.asarray(b[0]) for b in train.take(3)]
    assert not all(np.array_equal(a, b) for a, b in zip(first, second))


def test_augmentation_keeps_pixel_range_and_changes_pixels(image_cfg):
    import tensorflow as tf

    x, y = image_data.fake_batch(image_cfg, 16)
    augmented, same_y = image_data.make_augmenter(image_cfg)(tf.constant(x), tf.constant(y))
    augmented = np.asarray(augmented)
    assert augmented.shape == x.shape and np.array_equal(same_y, y)
    assert augmented.min() >= 0.0 and augmented.max() <= 1.0 + 1e-6
    assert not np.allclose(augmented, x)


def test_max_train_examples_caps_training(image_cfg):
    cfg = dataclasses.replace(image_cfg, max_train_examples=40, batch_size=16)
    assert sum(int(b[1].shape[0]) for b in APP.dataset(cfg, "train")) == 40


def _png(array: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def test_preprocess_accepts_photos_of_any_size_and_inverts_light_backgrounds():
    photo = np.full((120, 60, 3), 240, np.uint8)  # light background, dark garment
    photo[30:90, 15:45] = 20
    x = image_data.preprocess(_png(photo, "RGB"))
    assert x.shape == (28, 28, 1) and x.dtype == np.float32
    assert x[14, 14, 0] > 0.8  # the garment is now bright, as in Fashion-MNIST
    assert x[0, 0, 0] < 0.1  # the padding/background is black


def test_preprocess_is_identity_like_on_fashion_mnist_pixels():
    images, _ = synthetic_images(1, 3)
    x = image_data.preprocess(images[0])
    np.testing.assert_allclose(x[..., 0], images[0] / 255.0, atol=0.02)


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (b"\x89PNG\r\n\x1a\n but then garbage", "Cannot read the image"),
        (b"", "Cannot read the image"),
        (np.zeros((0, 5)), "shape"),
        (np.zeros((4, 4, 4, 4)), "shape"),
    ],
)
def test_preprocess_rejects_bad_input_clearly(raw, fragment):
    with pytest.raises(GlasswingError, match=fragment):
        image_data.preprocess(raw)
