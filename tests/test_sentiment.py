"""Sentiment app on a small synthetic corpus: parsing, splits, vocabulary, preprocess, models, export."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from apps import artifacts
from apps.app import apply_overrides
from apps.conversion import export_model
from apps.errors import GlasswingError
from apps.litert import LiteRTModel
from apps.sentiment import APP
from apps.sentiment import data as sdata
from apps.sentiment import model as smodel
from apps.sentiment.config import Config

POSITIVE = ["good", "great", "wonderful", "moving", "funny", "smart"]
NEGATIVE = ["bad", "dull", "boring", "awful", "tedious", "lame"]
NEUTRAL = ["the", "film", "movie", "plot", "actors", "story", "is", "a", "and", "it", "this"]
TEST_ONLY_WORD = "zyzzyva"
N_SENTENCES = 400


def write_corpus(path, n: int = N_SENTENCES, seed: int = 3) -> list[tuple[float, str]]:
    """A corpus in the real file's format whose sentiment is learnable from the word lists.

    Every test-split sentence also contains ``TEST_ONLY_WORD``, which no training
    sentence has, to prove the vocabulary is adapted on the training split only.
    """
    rng = np.random.default_rng(seed)
    test_rows = set(sdata.split_indices(n)["test"].tolist())
    rows, lines = [], []
    for i in range(n):
        positive = i % 2 == 0
        words = list(rng.choice(NEUTRAL, size=rng.integers(3, 9)))
        words += list(rng.choice(POSITIVE if positive else NEGATIVE, size=2))
        if i in test_rows:
            words.append(TEST_ONLY_WORD)
        rng.shuffle(words)
        text = " ".join(words).capitalize() + ("!" if positive else ".")
        score = float(rng.uniform(0.5, 3.5) if positive else rng.uniform(-3.5, 0.0))
        rows.append((score, text))
        lines.append(f"{i + 1}\t{score:.5f}\t{text}")
    # CRLF like the real file.
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))
    return rows


def corpus_dir(folder):
    """``folder`` as a data_dir holding the synthetic corpus in the app's file name."""
    (folder / "sentiment").mkdir()
    write_corpus(folder / "sentiment" / sdata.FILE_NAME)
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return corpus_dir(tmp_path_factory.mktemp("sentiment_data"))


@pytest.fixture(scope="module")
def cfg(data_dir):
    return Config.tiny(data_dir=str(data_dir), max_train_examples=0, batch_size=32)


def test_read_snippets_parses_and_rejects_malformed_lines(tmp_path):
    good = tmp_path / "good.txt"
    good.write_bytes(b"1_1\t2.5\tA fine film.\r\n11\t-0.4\tNot so fine.\r\n\r\n")
    # Ids as written: "1_1" and "11" stay two ids (int() would read both as 11).
    assert sdata.read_snippets(good) == [("1_1", 2.5, "A fine film."), ("11", -0.4, "Not so fine.")]
    bad = tmp_path / "bad.txt"
    bad.write_text("1\t2.5\tA fine film.\n2\tnot-a-number\tOops\n")
    with pytest.raises(GlasswingError, match=r"bad\.txt:2: malformed"):
        sdata.read_snippets(bad)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("1\t1.0\tcaf\xe9\n".encode("latin-1"))
    with pytest.raises(GlasswingError, match="not UTF-8"):
        sdata.read_snippets(latin1)


def test_missing_corpus_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sdata, "REPO_DATA_DIR", tmp_path / "nowhere")
    with pytest.raises(GlasswingError, match="pip download --no-deps --no-binary :all: vaderSentiment"):
        sdata.find_source_file(Config(data_dir=str(tmp_path)))


def test_splits_are_disjoint_complete_and_seeded():
    first, again = sdata.split_indices(10_605), sdata.split_indices(10_605)
    assert {k: len(v) for k, v in first.items()} == {"test": 1060, "validation": 1060, "train": 8485}
    joined = np.concatenate(list(first.values()))
    assert sorted(joined.tolist()) == list(range(10_605))
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])


def test_dataset_yields_fixed_length_ids_and_labels_from_scores(cfg):
    sizes = {}
    for split in ("train", "validation", "test"):
        xs, ys = zip(*[(np.asarray(x), np.asarray(y)) for x, y in APP.dataset(cfg, split)])
        x, y = np.concatenate(xs), np.concatenate(ys)
        assert x.dtype == np.int32 and x.shape[1:] == (cfg.seq_len,)
        assert set(np.unique(y)) <= {0, 1} and 0 <= x.min() and x.max() < cfg.max_tokens
        sizes[split] = len(x)
    assert sizes == {"train": 320, "validation": 40, "test": 40}
    texts = APP.example_text(cfg, "test")
    labels = np.concatenate([np.asarray(y) for _, y in APP.dataset(cfg, "test")])
    # Positive sentences end with "!" in the synthetic corpus (scores > 0).
    assert [t.endswith("!") for t in texts] == [bool(v) for v in labels]


def test_vocabulary_is_adapted_on_the_training_split_only(cfg):
    vocab = sdata.vocabulary(cfg)
    assert vocab[:2] == ["", "[UNK]"]
    assert "good" in vocab and "!" in vocab
    assert TEST_ONLY_WORD not in vocab
    test_text = next(t for t in APP.example_text(cfg, "test") if TEST_ONLY_WORD in t)
    assert sdata.OOV_ID in sdata.preprocess(test_text, vocab=vocab, seq_len=cfg.seq_len)


def test_preprocess_matches_the_training_pipeline_exactly(cfg):
    vocab = sdata.vocabulary(cfg)
    test_cfg = dataclasses.replace(cfg, batch_size=1000)
    x = np.asarray(next(iter(APP.dataset(test_cfg, "test")))[0])
    texts = APP.example_text(cfg, "test")
    for i in range(5):
        np.testing.assert_array_equal(sdata.preprocess(texts[i], vocab=vocab, seq_len=cfg.seq_len), x[i])


def test_standardize_splits_punctuation_and_clitics():
    vocab = ["", "[UNK]", "it", "is", "n't", "good", "!", "the", "film", "'s", "fine"]
    ids = sdata.preprocess("It isn't GOOD!! The film's ''fine''", vocab=vocab, seq_len=12)
    words = [vocab[i] for i in ids if i]
    assert words == ["it", "is", "n't", "good", "!", "!", "the", "film", "'s", "fine"]


@pytest.mark.parametrize(
    "raw",
    [
        "x" * 1_000_000,
        "great " * 200_000,
        b"great film \xff\xfe\xc3(",
        "\U0001f600\U0001f44d\U0001f525",
        "映画はとても良かった",
        "Фильм просто великолепный",
        "great\ud800film",
        "one",
    ],
    ids=["1MB-one-word", "1MB-many-words", "bad-utf8", "emoji", "japanese", "cyrillic", "surrogate", "short"],
)
def test_preprocess_handles_odd_text_without_crashing(raw):
    vocab = ["", "[UNK]", "great", "film"]
    start = time.perf_counter()
    ids = sdata.preprocess(raw, vocab=vocab, seq_len=16)
    assert time.perf_counter() - start < 2.0
    assert ids.shape == (16,) and ids.dtype == np.int32
    assert ids[0] != sdata.PAD_ID and 0 <= ids.min() and ids.max() < len(vocab)


def test_preprocess_truncates_long_text_and_pads_short_text():
    vocab = ["", "[UNK]", "great", "film"]
    np.testing.assert_array_equal(sdata.preprocess("great " * 100, vocab=vocab, seq_len=6), [2] * 6)
    np.testing.assert_array_equal(sdata.preprocess("great unseen", vocab=vocab, seq_len=4), [2, 1, 0, 0])


@pytest.mark.parametrize("raw", ["", "   \n\t ", b"  ", "\u3000"])
def test_preprocess_rejects_empty_text_clearly(raw):
    with pytest.raises(GlasswingError, match="empty"):
        sdata.preprocess(raw, vocab=["", "[UNK]"], seq_len=4)


@pytest.mark.parametrize("raw", [None, 42, ["a list"]])
def test_preprocess_rejects_non_text(raw):
    with pytest.raises(GlasswingError, match="Expected text"):
        sdata.preprocess(raw, vocab=["", "[UNK]"], seq_len=4)


def test_read_vocab_round_trip_and_bad_files(cfg, tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text(sdata.artifact_files(cfg)["vocab.txt"], encoding="utf-8")
    assert sdata.read_vocab(path) == sdata.vocabulary(cfg)
    path.write_text("hello\nworld\n")
    with pytest.raises(GlasswingError, match="not a sentiment vocabulary"):
        sdata.read_vocab(path)
    with pytest.raises(GlasswingError, match="Train the model"):
        sdata.read_vocab(tmp_path / "missing.txt")


def test_lexicon_words_are_vader_rated_words_labelled_by_sign():
    words, labels = sdata.lexicon_words(1.0, seed=0)
    assert len(words) == len(labels) == 5586  # vaderSentiment 3.3.2, alphabetic, |rating| >= 1
    rated = dict(zip(words, labels))
    assert rated["good"] == 1 and rated["peace"] == 1 and rated["war"] == 0 and rated["killed"] == 0
    assert all(w.isalpha() for w in words) and ":)" not in rated
    some, again, other = (sdata.lexicon_words(0.3, seed=s)[0] for s in (1, 1, 2))
    assert some == again and some != other and len(some) == round(0.3 * 5586)
    assert set(some) <= set(words)


def test_lexicon_words_join_the_builtin_training_split_only(cfg):
    with_words = dataclasses.replace(cfg, lexicon_fraction=0.1)

    def size(c, split):
        return sum(len(y) for _, y in APP.dataset(c, split))

    assert size(with_words, "train") == size(cfg, "train") + round(0.1 * 5586)
    assert size(with_words, "validation") == size(cfg, "validation")
    assert size(with_words, "test") == size(cfg, "test")


def test_lexicon_words_never_join_a_users_own_data(cfg, monkeypatch):
    import tensorflow as tf

    texts, labels = tf.constant(["a fine film", "a dull film"]), tf.constant([1, 0], tf.int64)
    two = tf.data.Dataset.from_tensor_slices((texts, labels))
    monkeypatch.setattr(sdata.datasets, "examples", lambda *_: two)
    own = dataclasses.replace(cfg, lexicon_fraction=0.1, data="reviews.csv")
    assert len(list(sdata._examples(own, "train"))) == 2
    assert len(list(sdata._examples(dataclasses.replace(own, data=""), "train"))) == 2 + round(0.1 * 5586)


def test_committed_teacher_sentences_are_confident_general_sentences():
    texts, probs = sdata.read_teacher_sentences(sdata.REPO_DATA_DIR / sdata.TEACHER_FILE)
    assert len(texts) == len(probs) == 10000 and len(set(texts)) == len(texts)
    # bench/sentiment_teacher.py keeps only sentences the teacher is sure of, both ways.
    assert np.all((probs >= 0.7) | (probs <= 0.3)) and 0.3 < np.mean(probs > 0.5) < 0.7
    assert all(t.strip() == t and "\t" not in t for t in texts)
    some, labels = sdata.teacher_sentences(0.25, seed=1)
    assert some == sdata.teacher_sentences(0.25, seed=1)[0] != sdata.teacher_sentences(0.25, seed=2)[0]
    assert len(some) == 2500 and set(some) <= set(texts)
    teacher = dict(zip(texts, probs))
    assert all(label == (teacher[t] > 0.5) for t, label in zip(some, labels))


def test_teacher_sentences_join_the_builtin_training_split_only(cfg, monkeypatch):
    import tensorflow as tf

    with_teacher = dataclasses.replace(cfg, teacher_fraction=0.01)
    texts = list(sdata._examples(with_teacher, "train"))
    assert len(texts) == len(list(sdata._examples(cfg, "train"))) + 100
    for split in ("validation", "test"):
        assert len(list(sdata._examples(with_teacher, split))) == len(list(sdata._examples(cfg, split)))
    two = tf.data.Dataset.from_tensor_slices(
        (tf.constant(["a fine film", "dull"]), tf.constant([1, 0], tf.int64))
    )
    monkeypatch.setattr(sdata.datasets, "examples", lambda *_: two)
    assert len(list(sdata._examples(dataclasses.replace(with_teacher, data="reviews.csv"), "train"))) == 2


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "Cannot read"),
        (b"p_positive\tsentence\n0.9 A fine day.\n", ":2: expected p_positive<TAB>sentence"),
        (b"p_positive\tsentence\nhigh\tA fine day.\n", ":2: expected"),
        (b"p_positive\tsentence\n", "holds no sentences"),
        (b"p_positive\tsentence\n0.9\t\xff\xfe\n", "Cannot read"),
    ],
)
def test_a_bad_teacher_file_gets_one_line_naming_the_fix(tmp_path, content, problem):
    path = tmp_path / "teacher.tsv"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(GlasswingError, match=problem) as err:
        sdata.read_teacher_sentences(path)
    assert "\n" not in str(err.value) and "sentiment_teacher.py" in str(err.value)


def test_lexicon_needs_vader_and_a_fraction_in_range(monkeypatch):
    with pytest.raises(GlasswingError, match=r"lexicon_fraction must be in \[0, 1\]"):
        apply_overrides(Config.tiny(), ["lexicon_fraction=1.5"])
    with pytest.raises(GlasswingError, match=r"teacher_fraction must be in \[0, 1\]"):
        apply_overrides(Config.tiny(), ["teacher_fraction=-0.1"])

    def missing(name):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(sdata.importlib.resources, "files", missing)
    with pytest.raises(GlasswingError, match="vaderSentiment.*lexicon_fraction=0"):
        sdata.lexicon_words(0.3, seed=0)


def test_unknown_arch_lists_the_valid_ones():
    with pytest.raises(GlasswingError, match=r"arch='cnn'.*bilstm.*transformer"):
        apply_overrides(Config.tiny(), ["arch=cnn"])


@pytest.mark.parametrize("arch", ["bilstm", "transformer"])
def test_both_architectures_learn_the_synthetic_task(arch):
    import keras

    cfg = Config.tiny(arch=arch, learning_rate=1e-2)
    keras.utils.set_random_seed(cfg.seed)
    x, y = APP.fake_batch(cfg, 256)
    model = APP.build(cfg)
    assert model.name == f"sentiment_{arch}"
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    accuracy = float((np.asarray(model(x, training=False)).argmax(-1) == y).mean())
    assert accuracy >= 0.9, accuracy


@pytest.mark.parametrize("arch", ["bilstm", "transformer"])
def test_int8_export_runs_in_litert_and_agrees_with_keras(arch, tmp_path):
    import keras
    import tensorflow as tf

    cfg = Config.tiny(arch=arch, learning_rate=1e-2)
    keras.utils.set_random_seed(cfg.seed)
    x, y = APP.fake_batch(cfg, 128)
    model = APP.build(cfg)
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    variant = smodel.export_variant(model, cfg, "int8")
    if arch == "bilstm":
        assert variant is not model and variant.get_layer("bilstm").forward_layer.unroll
        np.testing.assert_allclose(
            np.asarray(variant(x[:16], training=False)), np.asarray(model(x[:16], training=False)), atol=1e-5
        )
    else:
        assert variant is model
    assert smodel.export_variant(model, cfg, "float32") is model

    def representative():
        for i in range(64):
            yield [tf.constant(x[i : i + 1])]

    path = tmp_path / "int8.tflite"
    export_model(variant, path, "int8", representative)
    runner = LiteRTModel(path)
    assert runner.input_details["dtype"] == np.int32 and runner.output_details["dtype"] == np.int8
    lite, ref = runner(x[:64]), np.asarray(model(x[:64], training=False))
    assert (lite.argmax(-1) == ref.argmax(-1)).mean() >= 0.95
    assert np.abs(lite - ref).max() < 0.1


def test_training_writes_the_vocabulary_and_text_drilldown(cfg, tmp_path):
    from apps.train import train

    run_cfg = dataclasses.replace(cfg, epochs=2, learning_rate=1e-2)
    folder = train(APP, run_cfg, tmp_path)
    assert sdata.read_vocab(folder / "vocab.txt") == sdata.vocabulary(run_cfg)
    metrics = artifacts.read_json(folder / "metrics.json")
    assert 0.0 <= metrics["roc_auc"] <= 1.0
    texts = APP.example_text(run_cfg, "test")
    for row in metrics["most_confident_errors"]:
        assert row["input"] == texts[row["index"]] and row["confidence"] >= 0.5
    # The bound preprocess reads this model's vocabulary and seq_len.
    ids = APP.preprocessor(folder)(texts[0])
    x = np.asarray(next(iter(APP.dataset(dataclasses.replace(run_cfg, batch_size=1000), "test")))[0])
    np.testing.assert_array_equal(ids, x[0])
