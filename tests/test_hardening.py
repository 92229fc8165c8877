"""Bad inputs get one clear line or a correct answer (issue: hardening), across verbs and apps."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from apps.app import apply_overrides, config_from_dict
from apps.errors import GlasswingError
from tests.conftest import ROOT
from tests.test_cli import run_cli


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("learning_rate=nan", "learning_rate must be a finite number"),
        ("learning_rate=inf", "learning_rate must be a finite number"),
        ("weight_decay=nan", "weight_decay must be a finite number"),
        ("seed=-1", "seed must be >= 0"),
        ("patience=-2", "patience must be >= 0"),
        ("epochs=0", "epochs must be >= 1"),
    ],
)
def test_config_refuses_non_finite_and_negative_values(override, fragment):
    from apps.image import APP

    with pytest.raises(GlasswingError, match=fragment):
        apply_overrides(APP.Config(), [override])


@pytest.mark.parametrize(
    "values, fragment",
    [
        ([1, 2], "not a JSON object"),
        ({"epochs": "ten"}, "epochs='ten' is not a int"),
        ({"learning_rate": "fast"}, "is not a float"),
        ({"augment": 1}, "is not a bool"),
        ({"sample_rate": 0, "filters": 8}, "sample_rate must be > 0"),
    ],
)
def test_a_bad_config_json_is_one_line(values, fragment):
    from apps.image import APP as image
    from apps.speech import APP as speech

    app = speech if "sample_rate" in values else image
    with pytest.raises(GlasswingError, match=fragment):
        config_from_dict(app, values)


def test_a_model_of_another_app_in_the_folder_is_named_not_a_shape_error(capsys, tmp_path):
    shutil.copytree(ROOT / "models" / "image", tmp_path / "speech", ignore=shutil.ignore_patterns("tflite"))
    (tmp_path / "speech" / "config.json").write_text(json.dumps({"filters": 128}))
    code, _, err = run_cli(capsys, "evaluate", "speech", "--models-dir", str(tmp_path))
    assert code == 2 and "does not fit app 'speech'" in err and len(err.strip().splitlines()) == 1


def test_a_folder_as_input_is_called_a_folder(capsys, tmp_path):
    code, _, err = run_cli(capsys, "predict", "image", "--input", str(tmp_path))
    assert code == 2 and "is a folder" in err


@pytest.mark.parametrize("out", ["x.wav", "missing/x.png"])
def test_explain_out_must_be_a_png_in_an_existing_folder(capsys, tmp_path, out):
    from PIL import Image

    Image.new("L", (28, 28)).save(tmp_path / "in.png")
    code, _, err = run_cli(
        capsys,
        "explain",
        "image",
        "--method",
        "saliency",
        "--input",
        str(tmp_path / "in.png"),
        "--out",
        str(tmp_path / out),
    )
    assert code == 2 and (".png file name" in err or "does not exist" in err), err
    assert not (tmp_path / out).exists()


def _garment() -> np.ndarray:
    x = np.zeros((40, 24), np.float32)
    x[4:36, 6:18] = 0.8  # a tall bright bar: "trouser"-like, not symmetric under rotation
    return x


def test_float_and_16_bit_images_read_like_8_bit_ones(tmp_path):
    from PIL import Image

    from apps.image.data import preprocess

    eight = preprocess((_garment() * 255).astype(np.uint8))
    Image.fromarray(_garment(), mode="F").save(tmp_path / "f.tif")
    Image.fromarray((_garment() * 65535).astype(np.uint16)).save(tmp_path / "i16.png")
    for name in ("f.tif", "i16.png"):
        np.testing.assert_allclose(preprocess(tmp_path / name), eight, atol=2 / 255)


def test_exif_orientation_is_applied(tmp_path):
    from PIL import Image

    from apps.image.data import preprocess

    upright = Image.fromarray((_garment() * 255).astype(np.uint8))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as a camera stores a rotated shot
    exif = Image.Exif()
    exif[0x0112] = 8  # "rotate 90 CW to view": undoes the ROTATE_90 above
    stored.save(tmp_path / "rotated.jpg", exif=exif, quality=100)
    np.testing.assert_allclose(preprocess(tmp_path / "rotated.jpg"), preprocess(upright), atol=0.05)


def test_a_decompression_bomb_is_one_line(tmp_path):
    from PIL import Image

    from apps.image.data import preprocess

    Image.new("1", (20000, 20000)).save(tmp_path / "bomb.png")
    with pytest.raises(GlasswingError, match="Cannot read the image"):
        preprocess(tmp_path / "bomb.png")


def test_a_diverging_run_stops_and_publishes_nothing(image_cfg, tmp_path):
    from apps.image import APP
    from apps.train import train

    def poisoned(cfg):
        model = APP.build(cfg)
        model.get_layer("probs").set_weights(
            [np.full(w.shape, np.nan, np.float32) for w in model.get_layer("probs").get_weights()]
        )
        return model

    with pytest.raises(GlasswingError, match="Training diverged"):
        train(APP, dataclasses.replace(image_cfg, epochs=3), tmp_path, build=poisoned, verbose=0)
    assert not (tmp_path / "image").exists()
    assert not list((tmp_path / ".partial").glob("image-*"))  # nor left to be resumed


def test_known_words_counts_tokens_with_letters_only(tmp_path):
    from apps import artifacts

    (tmp_path / "vocab.txt").write_text("\n".join(["", "[UNK]", "[CLS]", "good", "##ly", "!", "42"]))
    assert artifacts.known_words(tmp_path, [2, 3, 4, 5, 0]) == 2  # good, ##ly
    assert artifacts.known_words(tmp_path, [2, 1, 5, 6, 0]) == 0
    assert artifacts.input_note(tmp_path, [2, 1, 5, 6, 0]) == artifacts.NO_KNOWN_WORD
    assert artifacts.input_note(tmp_path, [3]) is None
    assert artifacts.known_words(tmp_path / "no-vocabulary-here", [1, 2]) is None


@pytest.mark.parametrize(
    ("text", "marked"), [("!!! ??? 123", True), ("\U0001f600 ...", False), ("A fine film.", False)]
)
def test_text_with_no_known_word_gets_a_marked_prediction(capsys, text, marked):
    out = run_cli(capsys, "predict", "sentiment", "--text", text)[1]
    assert ("no word of this text is one the model knows" in out) == marked
    assert "positive" in out and "negative" in out  # still a prediction, now marked


@pytest.mark.parametrize("text", ["\ufffd\ufffd\x00", "good\x00film", "\x01\x02\x03\x04 fine"])
def test_binary_data_as_text_is_refused_not_classified(text):
    from apps.sentiment.data import preprocess

    with pytest.raises(GlasswingError, match="This is not text"):
        preprocess(text)


def test_text_files_in_utf16_and_latin1_are_read_binary_files_refused(tmp_path):
    from PIL import Image

    from apps.sentiment.data import preprocess, read_file

    (tmp_path / "u16.txt").write_text("a very good film", encoding="utf-16")
    (tmp_path / "latin1.txt").write_bytes("tr\xe8s bien, caf\xe9".encode("latin-1"))
    assert read_file(tmp_path / "u16.txt") == "a very good film"
    assert read_file(tmp_path / "latin1.txt") == "tr\xe8s bien, caf\xe9"
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "image.txt", format="PNG")
    with pytest.raises(GlasswingError, match="This is not text"):
        preprocess(read_file(tmp_path / "image.txt"))


def _tiny_image_sets(data_dir) -> list[str]:
    """``--set`` arguments that make ``glasswing train image`` the tiny Config on the synthetic data."""
    from apps.image import APP

    tiny, default = APP.Config.tiny(data_dir=str(data_dir)), APP.Config()
    sets = []
    for f in dataclasses.fields(tiny):
        value = getattr(tiny, f.name)
        if value != getattr(default, f.name) and isinstance(value, (bool, int, float, str)):
            sets += ["--set", f"{f.name}={str(value).lower() if isinstance(value, bool) else value}"]
    return sets


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB tmpfs (root only; skipped elsewhere), unmounted afterwards."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)]
    done = subprocess.run(command, capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def _published(models) -> dict:
    return {p.name: p.read_bytes() for p in (models / "image").iterdir() if p.is_file()}


def test_a_full_disk_stops_training_with_one_line_and_keeps_the_published_model(
    small_disk, image_data_dir, capsys
):
    """Keras' h5py writes crash the process (SIGSEGV) on a full disk: training checks the space
    first, and again before every epoch's files, and stops with one line instead."""
    import keras

    from apps.image import APP
    from apps.train import train

    models = small_disk / "models"
    sets = _tiny_image_sets(image_data_dir)
    code, _, err = run_cli(capsys, "train", "image", "--models-dir", str(models), *sets)
    assert code == 0, err
    published = _published(models)
    ballast = small_disk / "ballast"

    class FillTheDisk(keras.callbacks.Callback):  # something else fills the disk mid-run
        def on_epoch_end(self, epoch, logs=None):
            ballast.write_bytes(b"\0" * max(0, shutil.disk_usage(small_disk).free - 16_384))

    cfg = dataclasses.replace(APP.Config.tiny(data_dir=str(image_data_dir)), epochs=3, seed=5)
    with pytest.raises(GlasswingError, match=r"MB free in .*saving this epoch needs about"):
        train(APP, cfg, models, callbacks=[FillTheDisk()], verbose=0)
    assert _published(models) == published
    # A new run on the full disk is refused before it trains, in one line.
    code, _, err = run_cli(capsys, "train", "image", "--models-dir", str(models), *sets, "--set", "seed=7")
    lines = [line for line in err.strip().splitlines() if line.startswith("glasswing:")]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err
    assert "MB free in" in lines[0] and "training needs about" in lines[0] and "untouched" in lines[0]
    assert _published(models) == published
    assert not list(models.glob(".image.old-*"))  # no half-swapped folder


def test_a_disk_full_error_anywhere_in_a_command_is_one_line(monkeypatch, capsys):
    import errno

    from apps import cli

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", "models/image/metrics.json")

    monkeypatch.setitem(cli.COMMANDS, "list", full)
    code, _, err = run_cli(capsys, "list")
    assert code == 2 and err.count("\n") == 1
    assert "disk is full (models/image/metrics.json): No space left on device" in err

    def other(args):
        raise OSError(errno.EACCES, "Permission denied")

    monkeypatch.setitem(cli.COMMANDS, "list", other)
    with pytest.raises(PermissionError):  # only a full disk is turned into a message here
        cli.main(["list"])
