"""The arithmetic behind the benches' utilisation and time-to-accuracy figures."""

import dataclasses
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import distill_ensemble  # noqa: E402
import epochs  # noqa: E402
import flops  # noqa: E402
import nyt_raters  # noqa: E402
import peers  # noqa: E402
import pocketsphinx_peer  # noqa: E402
import sentiment_lexicon  # noqa: E402
import speech_conditions  # noqa: E402
import speech_noisy  # noqa: E402
import speech_scan  # noqa: E402
import train as train_bench  # noqa: E402


def test_forward_flops_counts_conv_and_dense_exactly():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, padding="same", use_bias=False),  # 64 positions x 9 x 1 x 4
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dense(10),  # 256 x 10
        ]
    )
    total, complete = flops.forward_flops(model)
    assert total == 2 * (64 * 9 * 4 + 256 * 10)
    assert complete
    assert flops.train_flops(model)[0] == 3 * total


def test_transposed_convs_count_input_positions_and_open_lengths_are_not_counted():
    up = keras.Sequential(
        [keras.Input((4, 4, 2)), keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same")]
    )
    assert flops.forward_flops(up) == (2 * 16 * 9 * 2 * 3, True)
    seq = keras.Sequential([keras.Input((None, 5)), keras.layers.Dense(2)])
    assert flops.forward_flops(seq) == (0.0, False)


def test_forward_flops_says_when_a_layer_is_not_counted():
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)])
    total, complete = flops.forward_flops(model)
    assert total == 2 * 4 * 2
    assert not complete


def test_time_to_accuracy_is_the_first_point_that_reaches_it():
    points = [(10.0, 0.80), (20.0, 0.905), (30.0, 0.90), (40.0, 0.91)]
    assert peers.time_to(points, 0.905) == 20.0
    assert peers.time_to(points, 0.91) == 40.0
    assert peers.time_to(points, 0.95) is None


def test_time_to_reads_seconds_and_accuracy_of_three_field_points():
    points = [(10.0, 0.80, 0.5), (20.0, 0.905, 1.0)]
    assert peers.time_to(points, 0.9) == 20.0
    assert peers.epoch_ends([(5.0, 0.7, 0.25), *points]) == [(20.0, 0.905, 1.0)]


def _averaging_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(
        keras.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.9), "sparse_categorical_crossentropy"
    )
    return model


def test_test_curve_scores_mid_epoch_with_the_average_and_leaves_training_alone():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    watched, alone = _averaging_model(1), _averaging_model(1)
    curve = peers.TestCurve(x, y, per_epoch=4)
    watched.fit(x, y, batch_size=8, epochs=2, callbacks=[curve], verbose=0, shuffle=False)
    alone.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    # 8 batches an epoch: scored after batches 2, 4, 6 and at the end of each epoch.
    assert [p[2] for p in curve.points] == [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]
    assert all(0.0 <= p[1] <= 1.0 for p in curve.points)
    assert [p[0] for p in curve.points] == sorted(p[0] for p in curve.points)
    # Scoring swapped the average in and back out: training went on from the raw weights.
    for a, b in zip(watched.get_weights(), alone.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_test_curve_stops_scoring_once_it_has_the_crossing_it_was_asked_for():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    # Reached at the first mid-epoch point: epoch ends only from there, none after the first reached.
    reached = peers.TestCurve(x, y, per_epoch=4, until=0.0)
    _averaging_model(1).fit(x, y, batch_size=8, epochs=2, callbacks=[reached], verbose=0, shuffle=False)
    assert [p[2] for p in reached.points] == [0.25, 1]
    never = peers.TestCurve(x, y, per_epoch=4, until=1.01)
    _averaging_model(1).fit(x, y, batch_size=8, epochs=2, callbacks=[never], verbose=0, shuffle=False)
    assert len(never.points) == 8
    assert peers.time_to(reached.points, 0.0) == reached.points[0][0]


def test_test_curve_scores_the_model_training_would_publish():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int64")
    given = []

    def published(model):  # a model that answers the opposite class: accuracy 1 - the fit model's
        given.append(model)
        flipped = keras.layers.Lambda(lambda p: keras.ops.flip(p, axis=-1))(model.outputs[0])
        return keras.Model(model.inputs, flipped)

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    curve = peers.TestCurve(x, y, per_epoch=1, published=published)
    model.fit(x, y, batch_size=8, epochs=1, callbacks=[curve], verbose=0, shuffle=False)
    assert given == [model]
    fit_accuracy = np.mean(model.predict(x, verbose=0).argmax(-1) == y)
    assert curve.points[0][1] == pytest.approx(1 - fit_accuracy)


def test_averaged_weights_puts_the_moving_average_in_and_restores_the_raw_weights():
    model = _averaging_model(2)
    x = np.ones((8, 4), "float32")
    for _ in range(3):  # not fit: its end writes the average over the raw weights
        model.train_on_batch(x, np.zeros(8, "int64"))
    optimizer = model.optimizer
    raw = [v.numpy() for v in optimizer._trainable_variables]
    averages = [a.numpy() for a in optimizer._model_variables_moving_average]
    assert any(not np.allclose(r, a) for r, a in zip(raw, averages, strict=True))
    with peers._averaged_weights(optimizer):
        for variable, average in zip(optimizer._trainable_variables, averages, strict=True):
            np.testing.assert_array_equal(variable.numpy(), average)
    for variable, value in zip(optimizer._trainable_variables, raw, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_nyt_raters_reads_the_ratings_from_inside_the_nested_sdist(tmp_path):
    import io
    import tarfile

    def tar_with(name, data):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()

    text = b"1_1\t0.5\t0.5\t[1, 0, 0, 1]\n1_2\t-1.0\t0.0\t[-1, -1, -1, -1]\n"
    inner = tar_with("hutto/nytEditorialSnippets_anonDataRatings.txt", text)
    sdist = tmp_path / "vaderSentiment-3.3.2.tar.gz"
    sdist.write_bytes(tar_with("vaderSentiment-3.3.2/additional_resources/hutto.tar.gz", inner))
    ratings = nyt_raters.read_ratings(sdist)
    assert list(ratings) == ["1_1", "1_2"]
    np.testing.assert_array_equal(ratings["1_1"], [1, 0, 0, 1])


def test_one_rater_agreement_is_each_rater_against_the_others_mean():
    rng = np.random.default_rng(0)
    # Unanimous: every rater agrees. Split 2 positive / 2 zero: a positive rater sees the others'
    # mean 1/3 > 0 (agrees), a zero rater sees 2/3 > 0 (disagrees), so half agree.
    scores = [np.array([2.0, 2, 2, 2]), np.array([1.0, 1, 0, 0])]
    np.testing.assert_allclose(nyt_raters.rater_agreement(scores, 1, rng), [1.0, 0.5])
    assert nyt_raters.rater_agreement([np.array([-1.0] * 6)], 3, rng).tolist() == [1.0]


def test_lexicon_rows_fit_one_probe_per_share_and_mark_the_best_on_validation():
    from apps.sentiment import data as sdata

    rng = np.random.default_rng(0)
    words, word_labels = sdata.lexicon_words(1.0, sentiment_lexicon.SEED)

    def points(y):  # 2-D vectors whose first coordinate carries the label
        return np.stack([2.0 * y - 1 + rng.normal(0, 1.0, len(y)), rng.normal(0, 1, len(y))], 1)

    labels = {name: rng.integers(0, 2, 300) for name in ("train", *sentiment_lexicon.SCORED)}
    embeddings = {name: points(y) for name, y in labels.items()}
    rows = sentiment_lexicon.lexicon_rows(
        embeddings, labels, dict(zip(words, points(word_labels))), fractions=(0.0, 0.5)
    )
    assert [r[1] for r in rows] == [0, round(0.5 * len(words))]
    # Separable along the first axis: every set scores well above chance.
    assert all(0.7 < acc <= 1.0 for r in rows for acc in r[3:])
    marked = [i for i, r in enumerate(rows) if "best on validation" in str(r[0])]
    assert marked == [int(np.argmax([r[3] for r in rows]))]


def test_bands_split_on_the_absolute_mean_score():
    np.testing.assert_array_equal(nyt_raters.band_of(np.array([0.1, -0.5, 0.99, -1.5, 3.0])), [0, 1, 1, 2, 3])


def test_nyt_raters_says_how_to_pass_the_file_when_pip_cannot_download_it(tmp_path, monkeypatch):
    import subprocess

    import pytest

    failed = subprocess.CompletedProcess([], 1, "", "No matching distribution found")
    monkeypatch.setattr(nyt_raters.subprocess, "run", lambda *a, **k: failed)
    with pytest.raises(SystemExit, match="Could not download .* pass --ratings FILE"):
        nyt_raters.download_sdist(tmp_path)
    with pytest.raises(SystemExit, match="does not exist"):
        nyt_raters.read_ratings(tmp_path / "missing.tar.gz")


def test_step_time_leaves_out_each_fit_calls_fixed_cost():
    import time

    class Model:
        """A fit that costs 0.15 s a call plus 0.02 s a step (a batch list's length)."""

        def fit(self, ds, **kwargs):
            time.sleep(0.15 + 0.02 * len(ds))

    step = train_bench._step_seconds(Model(), [0] * 6, [0], 6)
    assert abs(step - 0.02) < 0.008  # the plain average would read 0.045
    assert train_bench._step_seconds(Model(), [0], [0], 1) >= 0.17


def test_config_variants_are_one_config_per_group_with_no_switches():
    from apps.image import APP

    variants = train_bench.config_variants(APP, ["", "filters=8,epochs=3"])
    assert list(variants) == ["Config()", "filters=8,epochs=3"]
    assert variants["Config()"] == (APP.Config(), False, False)
    cfg, mixed, jit = variants["filters=8,epochs=3"]
    assert (cfg.filters, cfg.epochs, mixed, jit) == (8, 3, False, False)
    assert cfg.batch_size == APP.Config().batch_size


@pytest.mark.parametrize("fewer", [{"flip_tta": False}, {"tta_shift": 0}])
def test_fewer_views_accuracy_scores_the_same_weights_with_fewer_views(fewer):
    from apps.app import apply_overrides
    from apps.image import APP

    cfg = apply_overrides(APP.Config(), ["filters=4", "dense_units=8", "tta_shift=1"])
    model = APP.build(cfg)
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 64)
    fewer_cfg = dataclasses.replace(cfg, **fewer)
    plain = APP.build(fewer_cfg)
    plain.set_weights(model.get_weights())  # the averaging layers hold no weights
    expected = float(np.mean(plain.predict(x, verbose=0).argmax(-1) == y))
    assert peers.fewer_views_accuracy(APP, cfg, model, x, y, **fewer) == pytest.approx(expected, abs=1 / 64)
    # Nothing to drop: no views at all, or already as few.
    assert (
        peers.fewer_views_accuracy(APP, apply_overrides(cfg, ["flip=false"]), plain, x, y, flip_tta=False)
        is None
    )
    assert peers.fewer_views_accuracy(APP, fewer_cfg, plain, x, y, **fewer) is None


def test_epoch_table_leaves_the_tracing_epoch_out_of_the_ratio():
    def epoch(total, wait=0.0):
        return {"wait": wait, "steps": total - wait - 1.0, "validation": 1.0, "rest": 0.0, "total": total}

    runs = {
        "one iterator": [epoch(50.0), epoch(20.0), epoch(22.0)],
        "iterator per epoch": [epoch(50.0), epoch(36.0, wait=16.0), epoch(20.0)],
    }
    text = epochs.table("image", runs)
    assert text.count("| one iterator |") == 2 and "| iterator per epoch | 2 | 16.00 |" in text
    assert "one iterator 21.00 s, iterator per epoch 28.00 s; ratio **0.750**" in text


def test_speech_scan_counts_slots_once_and_the_background_by_detection():
    from apps.scan import Detection

    slots = [(7.5, "yes", True), (22.5, "house", False), (37.5, "stop", True)]

    def d(label, start):
        return Detection(label, start, start + 1.0, 0.9, 1)

    found = [
        d("yes", 7.0), d("yes", 8.25),  # one keyword, two detections: found once
        d("up", 8.75),  # the tail of "yes" read as another keyword
        d("no", 22.0), d("go", 23.0),  # another word that fired twice: one word taken
        d("left", 30.0), d("left", 50.0),  # no word said there
    ]  # fmt: skip
    assert speech_scan.score(found, slots) == {
        "keywords found": 1,
        "keywords with another keyword too": 1,
        "other words taken for a keyword": 1,
        "detections in background": 2,
    }


def test_ensemble_is_the_mean_of_same_named_saved_models(tmp_path):
    from apps import artifacts

    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    folders, outputs = [], []
    for i in range(3):
        keras.utils.set_random_seed(i)
        inputs = keras.Input((3,))
        model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(inputs), name="same")
        folder = tmp_path / f"m{i}"
        folder.mkdir()
        model.save(folder / "model.keras")
        folders.append(folder)
        outputs.append(np.asarray(model(x)))
    members = [artifacts.load_model(folder / "model.keras") for folder in folders]
    averaged = np.asarray(distill_ensemble.ensemble(members)(x))
    np.testing.assert_allclose(averaged, np.mean(outputs, 0), atol=1e-6)


def _espeak(word: str) -> np.ndarray:
    """``word`` said by espeak-ng's default US voice, 0.06 s into a 1-s, 16 kHz clip."""
    import io
    import subprocess

    import soundfile

    from apps.speech import audio

    wav = subprocess.run(["espeak-ng", "-v", "en-us", "--stdout", word], capture_output=True, check=True)
    x, rate = soundfile.read(io.BytesIO(wav.stdout), dtype="float32")
    clip = np.zeros(16_000, np.float32)
    x = audio.to_mono(x, rate, 16_000)[:15_000]
    clip[1_000 : 1_000 + len(x)] = x
    return clip


def test_pocketsphinx_peer_hears_the_keywords_and_says_silence_for_none():
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    names = (
        "yes no up down left right on off stop go zero one two three four five six seven eight nine".split()
    )
    names += ["_unknown_", "_silence_"]
    run = pocketsphinx_peer.predictor(names)
    clips = np.stack([_espeak(w) for w in names[:20]] + [np.zeros(16_000, np.float32)])
    probs = run(clips)
    assert probs.shape == (21, 22) and set(np.unique(probs)) == {0.0, 1.0} and (probs.sum(1) == 1).all()
    said = [names[i] for i in probs.argmax(-1)]
    # A closed grammar: never `_unknown_`. espeak-ng's clean voice gets 14 of 20 here (chance: 1).
    assert "_unknown_" not in said and said[-1] == "_silence_"
    assert sum(s == w for s, w in zip(said, names[:20])) >= 10


def test_noise_is_added_at_the_asked_snr():
    rng = np.random.default_rng(0)
    waves = 0.1 * np.sin(np.linspace(0, 400, 16_000, dtype=np.float32))[None].repeat(3, 0)
    pink = speech_noisy.noise_for("pink", 3, 16_000, rng, cfg=None)
    speechlike = np.zeros((3, 16_000), np.float32)
    speechlike[:, 4_000:6_000] = rng.standard_normal((3, 2_000))  # loud in one stretch only
    for noise in (pink, speechlike):
        for snr in (0.0, 10.0):
            noisy = speech_noisy.at_snr(waves, noise, snr)
            added = np.mean((noisy - waves) ** 2, axis=1)
            np.testing.assert_allclose(10 * np.log10(np.mean(waves**2, axis=1) / added), snr, atol=0.05)


def test_conditions_rewrite_recordings_as_users_files_the_reader_takes(tmp_path):
    import soundfile

    from apps.speech import audio

    src = tmp_path / "rec" / "alice"
    src.mkdir(parents=True)
    t = np.arange(int(0.6 * 11_025)) / 11_025
    word = (0.4 * np.sin(2 * np.pi * 700 * t)).astype(np.float32)
    soundfile.write(src / "seven.wav", word, 11_025)
    (src / "notes.md").write_text("not audio")
    seen = {}
    for condition in speech_conditions.CONDITIONS:
        if condition == "original":
            continue
        out = tmp_path / condition
        written = speech_conditions.rewrite(tmp_path / "rec", out, condition, np.random.default_rng(0))
        (path,) = out.rglob("seven.*")
        assert written == 1 and path.parent.name == "alice"
        info = soundfile.info(path)
        clip, note = audio.load_clip(path, 16_000, 16_000)  # what evaluate --data reads
        seen[condition] = (info, clip, note)
    assert seen["phone"][0].samplerate == 8_000 and seen["stereo44k"][0].channels == 2
    assert seen["mp3"][0].format == "MP3" and seen["ogg_low"][0].format == "OGG"
    peak = lambda condition: float(np.abs(seen[condition][1]).max())  # noqa: E731
    assert peak("quiet") == pytest.approx(0.4 * 10 ** (-30 / 20), rel=0.1)
    assert peak("clipped") == pytest.approx(1.0, abs=0.01)
    assert (
        seen["long"][0].duration == pytest.approx(3.0) and "loudest 1-s window of 3.00 s" in seen["long"][2]
    )
    assert peak("long") == pytest.approx(0.4, rel=0.1)  # the window found holds the word
    assert "DC offset +0.050 removed" in seen["hum"][2]
