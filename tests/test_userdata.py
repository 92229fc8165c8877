"""Your own data: train, export int8 and explain image, text and speech models on a user's files."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from apps import userdata
from tests.test_cli import run_cli

FAST = ["--tiny", "--set", "epochs=2", "--set", "max_train_examples=0"]


def _write_images(root, per_class: int = 6, colour: bool = True, seed: int = 0):
    """Photos of two learnable classes (bright top half vs bright bottom half), different sizes."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, rows in (("top", slice(0, 10)), ("bottom", slice(10, 20))):
        (root / label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            size = int(rng.integers(20, 40))
            pixels = rng.integers(0, 40, size=(20, size, 3)).astype(np.uint8)
            pixels[rows] = 230
            if not colour:
                pixels[..., 1:] = pixels[..., :1]
            Image.fromarray(pixels).save(root / label / f"{i}.{'png' if i % 2 else 'jpg'}")
    return root


def _cli(capsys, tmp_path, *argv):
    return run_cli(capsys, *argv, "--models-dir", str(tmp_path / "models"))


def _train_own(capsys, tmp_path, kind: str, data, name: str, *extra):
    """``glasswing train KIND --data DATA --name NAME`` with the fast settings, in ``tmp_path``."""
    return _cli(
        capsys,
        tmp_path,
        "train",
        kind,
        "--data",
        str(data),
        "--name",
        name,
        *FAST,
        *_data_dir(tmp_path),
        *extra,
    )


def _data_dir(tmp_path):
    return ["--set", f"data_dir={tmp_path / 'data'}"]


@pytest.mark.slow  # 10-18 s end to end: in `make test-slow`, so the default run stays under 10 min
def test_image_folder_trains_exports_int8_and_explains(capsys, tmp_path):
    root = _write_images(tmp_path / "photos")
    (root / "top" / "broken.png").write_bytes(b"not an image")
    (root / "stray.png").write_bytes(b"outside any class folder")
    (root / "README.md").write_text("notes are not data")
    code, out, err = _train_own(capsys, tmp_path, "image", root, "parts")
    assert code == 0, err
    folder = tmp_path / "models" / "parts"
    assert (folder / "labels.txt").read_text().split() == ["bottom", "top"]
    config = json.loads((folder / "config.json").read_text())
    assert config["channels"] == 3 and config["invert"] is False and config["classes"] == ["bottom", "top"]
    report = json.loads((folder / "data.json").read_text())
    skipped = {row["file"]: row["why"] for row in report["skipped"]}
    assert set(skipped) == {"top/broken.png", "stray.png"}, skipped
    assert "Cannot read the image" in skipped["top/broken.png"]
    # 6 readable per class: 1 validation, 1 test, 4 train.
    assert report["counts"]["test"] == {"bottom": 1, "top": 1}
    assert report["counts"]["train"] == {"bottom": 4, "top": 4}
    assert json.loads((folder / "app.json").read_text())["app"] == "image"

    code, out, err = _cli(capsys, tmp_path, "export", "parts", "--quant", "int8")
    assert code == 0, err
    assert (folder / "tflite" / "int8.tflite").is_file()
    picture = root / "top" / "1.png"
    code, out, err = _cli(capsys, tmp_path, "predict", "parts", "--input", str(picture), "--tflite", "int8")
    assert code == 0, err
    assert "top" in out and "bottom" in out
    code, out, err = _cli(
        capsys, tmp_path, "explain", "parts", "--method", "integrated_gradients", "--input", str(picture)
    )
    assert code == 0, err
    assert "completeness_error" in out
    code, out, err = _cli(capsys, tmp_path, "evaluate", "parts")
    assert code == 0 and json.loads(out)["n_examples"] == 2


def test_a_second_run_reads_no_file_again(capsys, tmp_path):
    from PIL import Image

    root = _write_images(tmp_path / "photos", colour=False)
    Image.new("L", (8, 12), 200).save(root / "top" / "tiny.png")
    args = ("train", "image", "--data", str(root), "--name", "gray", *FAST, *_data_dir(tmp_path))
    assert _cli(capsys, tmp_path, *args)[0] == 0
    code, out, _ = _cli(capsys, tmp_path, *args)
    assert code == 0 and "Using the prepared copy" in out
    assert json.loads((tmp_path / "models" / "gray" / "config.json").read_text())["channels"] == 1
    report = json.loads((tmp_path / "models" / "gray" / "data.json").read_text())
    assert report["warnings"] == ["1 image(s) are under 16 px on a side: they hold little to learn from"]


def _write_csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


TICKETS = {
    "billing": [
        "my invoice is wrong",
        "refund my payment",
        "charged twice on my card",
        "billing address change",
    ],
    "login": [
        "cannot log in",
        "password reset link broken",
        "account locked after login",
        "two factor code fails",
    ],
    "shipping": [
        "parcel never arrived",
        "tracking number missing",
        "late delivery again",
        "wrong shipping address",
    ],
}


# ~15 s: in the slow set (CI runs it) to keep `make test` under 10 min on 2 cores.
@pytest.mark.slow
def test_text_csv_trains_exports_int8_and_explains(capsys, tmp_path):
    rows = [
        (f"{text} {suffix}", label)
        for label, texts in TICKETS.items()
        for text in texts
        for suffix in ("", "please")
    ]
    rows.append(("", "billing"))  # an empty text is skipped, not fatal
    data = _write_csv(tmp_path / "tickets.csv", rows, header=("Message", "Category"))
    code, out, err = _train_own(capsys, tmp_path, "text", data, "support")
    assert code == 0, err
    folder = tmp_path / "models" / "support"
    assert (folder / "labels.txt").read_text().split() == ["billing", "login", "shipping"]
    assert json.loads((folder / "data.json").read_text())["skipped"] == [
        {"file": "line 26", "why": "empty text"}
    ]
    # The word vocabulary is adapted on the user's training texts, not on movie reviews.
    vocab = (folder / "vocab.txt").read_text().split("\n")
    assert "parcel" in vocab or "invoice" in vocab or "password" in vocab
    assert _cli(capsys, tmp_path, "export", "support", "--quant", "int8")[0] == 0
    code, out, err = _cli(
        capsys,
        tmp_path,
        "explain",
        "support",
        "--method",
        "integrated_gradients",
        "--text",
        "parcel never arrived",
    )
    assert code == 0, err
    assert "explained" in out and "completeness_error" in out


def _write_words(root, words, per_word: int, split: str = "train"):
    """Real synthesized speech: ``per_word`` clips of each word by espeak-ng voices of ``split``."""
    import soundfile

    from apps.speech import synth

    rows = [r for r in synth.plan(synth.espeak_variants(), 0, 400, 0, 42) if r["split"] == split]
    for w, word in enumerate(words):
        (root / word).mkdir(parents=True, exist_ok=True)
        for i in range(per_word):
            row = {**rows[w * per_word + i], "word": word, "label": word}
            # 22.05 kHz files of 1.5 s: the reader resamples and picks the loudest second.
            # Every other one is an MP3, as phones save them.
            clip = np.concatenate([synth.render(row, 42), np.zeros(8000, np.float32)])
            soundfile.write(
                root / word / f"{i}.{'mp3' if i % 2 else 'wav'}",
                np.interp(np.arange(0, len(clip), 16000 / 22050), np.arange(len(clip)), clip),
                22050,
            )
    return root


# ~25 s: in the slow set (CI runs it) to keep `make test` under 10 min on 2 cores.
@pytest.mark.slow
def test_speech_folder_trains_exports_int8_and_explains_with_unknown_and_silence_added(capsys, tmp_path):
    root = _write_words(tmp_path / "words", ["lights", "music"], per_word=4)
    code, out, err = _train_own(capsys, tmp_path, "speech", root, "home")
    assert code == 0, err
    folder = tmp_path / "models" / "home"
    assert (folder / "labels.txt").read_text().split() == ["lights", "music", "_unknown_", "_silence_"]
    report = json.loads((folder / "data.json").read_text())
    assert report["added"] == ["_silence_", "_unknown_"] and report["counts"]["test"]["_unknown_"] >= 2
    assert sum(split.get("music", 0) for split in report["counts"].values()) == 4  # the MP3s too
    # Few examples per word beside many `_unknown_` ones: classes are weighted equally.
    assert json.loads((folder / "config.json").read_text())["balance_classes"] is True
    code, out, err = _cli(capsys, tmp_path, "export", "home", "--quant", "int8")
    assert code == 0, err
    clip = root / "music" / "0.wav"
    code, out, err = _cli(
        capsys, tmp_path, "predict", "home", "--input", str(clip), "--tflite", "int8", "--top-k", "4"
    )
    assert code == 0 and "music" in out, err
    code, out, err = _cli(capsys, tmp_path, "explain", "home", "--method", "saliency", "--input", str(clip))
    assert code == 0, err


@pytest.mark.parametrize(
    "setup, argv, message",
    [
        ("one_class", [], "at least two classes"),
        ("one_example", [], "'b' has fewer than 2 examples"),
        ("empty", [], "holds no usable example"),
        ("missing", [], "does not exist"),
        ("ok", ["--test-data", "{other}"], "--test-data classes"),
        ("ok", ["--name", "image"], "built-in app"),
        ("ok", ["--name", "a/b"], "no '/'"),
        ("ok", ["--from", "sentiment"], "it is a text model; it cannot start a model of image data"),
    ],
)
def test_unusable_data_is_refused_with_one_line(capsys, tmp_path, setup, argv, message):
    root = tmp_path / "photos"
    if setup in ("ok", "one_class", "one_example"):
        _write_images(root, per_class=3)
    if setup == "one_class":
        for f in (root / "bottom").iterdir():
            f.unlink()
        (root / "bottom").rmdir()
    if setup == "one_example":
        (root / "b").mkdir()
        next((root / "top").iterdir()).rename(root / "b" / "x.png")
    if setup == "empty":
        (root / "a").mkdir(parents=True)
    other = _write_images(tmp_path / "other", per_class=2)
    (other / "top").rename(other / "elsewhere")
    argv = [a.format(other=other) for a in argv]
    name = [] if "--name" in argv else ["--name", "x"]
    code, out, err = _cli(
        capsys, tmp_path, "train", "image", "--data", str(root), *name, *argv, *FAST, *_data_dir(tmp_path)
    )
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "models" / "x" / "model.keras").exists()


def test_options_of_own_data_need_data(capsys, tmp_path):
    code, _, err = _cli(capsys, tmp_path, "train", "image", "--name", "x")
    assert code == 2 and "--name applies to --data" in err


def test_csv_without_its_columns_names_what_it_found(capsys, tmp_path):
    data = _write_csv(tmp_path / "t.csv", [("a", "b", "c")], header=("one", "two", "three"))
    code, _, err = _cli(capsys, tmp_path, "train", "text", "--data", str(data), "--name", "t")
    assert code == 2 and "found one, two, three" in err


def test_stratified_split_is_seeded_and_keeps_every_class_everywhere():
    labels = ["a"] * 20 + ["b"] * 3 + ["c"] * 2
    first = userdata.stratified_split(labels, seed=1)
    assert {k: v.tolist() for k, v in first.items()} == {
        k: v.tolist() for k, v in userdata.stratified_split(labels, seed=1).items()
    }
    assert sorted(np.concatenate(list(first.values())).tolist()) == list(range(len(labels)))
    count = lambda split, c: sum(labels[i] == c for i in first[split])  # noqa: E731
    assert (count("train", "a"), count("validation", "a"), count("test", "a")) == (16, 2, 2)
    assert (count("train", "b"), count("validation", "b"), count("test", "b")) == (1, 1, 1)
    assert (count("train", "c"), count("validation", "c"), count("test", "c")) == (1, 1, 0)
    assert "test" not in userdata.stratified_split(labels, seed=1, test=False)


def test_warnings_name_imbalance_and_duplicates_across_splits():
    splits = {"train": ([], ["a"] * 44 + ["b"] * 4), "test": ([], ["a", "b"])}
    notes = userdata.warnings_of(splits, {"train": ["x", "y"], "test": ["x"]})
    assert any("imbalance 9:1" in n for n in notes) is False  # 45:5 = 9:1 is under the 10:1 line
    splits["train"] = ([], ["a"] * 60 + ["b"] * 4)
    notes = userdata.warnings_of(splits, {"train": ["x", "y"], "test": ["x"]})
    assert any("imbalance 12:1" in n for n in notes) and any("1 identical example" in n for n in notes)


def test_transfer_copies_the_backbone_and_freezes_the_asked_fraction():
    import dataclasses

    from apps import transfer
    from apps.image import APP

    cfg = APP.Config.tiny()
    source = APP.build(cfg)
    new_cfg = dataclasses.replace(cfg, classes=("x", "y", "z"))
    model = transfer.transferred(APP, new_cfg, source)
    assert model.output_shape[-1] == 3
    for layer in transfer.backbone_layers(model):
        for got, want in zip(layer.get_weights(), source.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(got, want)
    transfer.set_frozen(model, 0.5)
    flags = [layer.trainable for layer in transfer.backbone_layers(model)]
    assert flags == sorted(flags) and 0 < flags.count(False) < len(flags)
    assert model.layers[-1].trainable


def test_fine_tuning_leaves_a_sub_model_the_app_froze_frozen():
    """Speech's pretrained embedding is a frozen nested model: unfreezing the backbone skips it."""
    import keras

    from apps import transfer

    inner_in = keras.Input((4,))
    pretrained = keras.Model(inner_in, keras.layers.Dense(3, name="kept")(inner_in), name="pretrained")
    pretrained.trainable = False
    inputs = keras.Input((4,))
    x = keras.layers.Concatenate()([pretrained(inputs), keras.layers.Dense(2, name="trained")(inputs)])
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x))
    model.compile(optimizer="adam", loss="mse")
    assert [layer.name for layer in transfer.backbone_layers(model)] == ["trained"]
    transfer.set_frozen(model, 0.0)
    assert {v.path for v in model.trainable_weights} == {
        "trained/kernel", "trained/bias", "head/kernel", "head/bias"
    }  # fmt: skip


@pytest.mark.slow  # MobileNetV3 training, ~15 s: kept out of `make test`'s 10 min
def test_a_keras_applications_backbone_starts_from_a_local_weights_file(capsys, tmp_path):
    import keras

    from apps.image import APP
    from apps.image.model import _backbone  # noqa: PLC2701 - the backbone exactly as the app builds it

    cfg = APP.Config(arch="mobilenet_v3_small", channels=3, side=32, backbone_weights="none")
    _backbone(cfg).save_weights(tmp_path / "mobilenet.weights.h5")
    root = _write_images(tmp_path / "photos", per_class=4)
    code, out, err = _cli(
        capsys, tmp_path, "train", "image", "--data", str(root), "--name", "mob",
        "--from", "mobilenet_v3_small",
        "--freeze", "1", "--set", "side=32", "--set", "epochs=1", "--set", "baselines=false",
        "--set", f"backbone_weights={tmp_path / 'mobilenet.weights.h5'}", *_data_dir(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    trained = keras.saving.load_model(tmp_path / "models" / "mob" / "model.keras")
    backbone = next(layer for layer in trained.layers if isinstance(layer, keras.Model))
    reference = _backbone(dataclasses.replace(cfg, backbone_weights=str(tmp_path / "mobilenet.weights.h5")))
    # --freeze 1: the backbone is exactly the weights file's; only the head learned.
    for got, want in zip(backbone.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_imagenet_weights_offline_is_one_line_that_says_what_to_do(capsys, tmp_path, monkeypatch):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    root = _write_images(tmp_path / "photos", per_class=3)
    code, _, err = _cli(
        capsys,
        tmp_path,
        "train",
        "image",
        "--data",
        str(root),
        "--name",
        "mob",
        "--from",
        "mobilenet_v3_small",
    )
    assert code == 2 and "offline" in err and "backbone_weights=PATH" in err
    assert len(err.strip().splitlines()) == 1
