"""The textgen app: corpus split by work, vocabulary, generate(), metrics, one-step export and CLI."""

import math

import numpy as np
import pytest

from apps.cli import main
from apps.errors import GlasswingError
from apps.textgen import APP, data
from apps.textgen.generate import TextGenerator, cross_entropy, log_softmax


def test_splits_hold_out_whole_works():
    cfg = APP.Config.tiny()
    works = data.split_works_of(cfg)
    assert len(works["validation"]) == len(works["test"]) == data.HELD_OUT_WORKS
    names = [set(works[s]) for s in ("train", "validation", "test")]
    assert not (names[0] & names[1]) and not (names[0] & names[2]) and not (names[1] & names[2])
    assert sum(map(len, names)) == 42 and all(n.endswith("_gut.txt") for s in names for n in s)


def test_vocabulary_round_trips_text_and_windows_shift_by_one():
    cfg = APP.Config.tiny()
    vocab = data.vocabulary(cfg)
    assert vocab[0] == "" and "\n" in vocab and len(set(vocab)) == len(vocab)
    text = "ROMEO:\nBut soft, what light?"
    assert data.decode(data.encode(text, vocab), vocab) == text
    x, y = data.windows(np.arange(23), 5)
    assert x.shape == y.shape == (4, 5)
    np.testing.assert_array_equal(y, x + 1)
    xb, yb = next(iter(APP.dataset(cfg, "validation")))
    np.testing.assert_array_equal(np.asarray(xb)[:, 1:], np.asarray(yb)[:, :-1])


def test_vocab_artifact_reads_back(tmp_path):
    cfg = APP.Config.tiny()
    for name, text in APP.artifact_files(cfg).items():
        (tmp_path / name).write_text(text)
    assert data.read_vocab(tmp_path) == data.vocabulary(cfg)
    (tmp_path / data.VOCAB_FILE).write_text('{"chars": ["x"]}')
    with pytest.raises(GlasswingError, match="not a textgen vocabulary"):
        data.read_vocab(tmp_path)


@pytest.mark.parametrize(
    "prompt, fragment", [("", "empty"), ("naïve €", "never saw: 'ï', '€'"), (42, "Expected text")]
)
def test_preprocess_names_bad_prompts(prompt, fragment):
    vocab = data.vocabulary(APP.Config.tiny())
    with pytest.raises(GlasswingError, match=fragment):
        data.preprocess(prompt, vocab)


def test_unigram_baseline_is_a_distribution():
    lp = data.unigram_log_probs(APP.Config.tiny())
    assert np.exp(lp).sum() == pytest.approx(1.0) and np.argmax(lp) == data.vocabulary(
        APP.Config.tiny()
    ).index(" ")


def test_cross_entropy_renormalises_and_matches_the_definition():
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]]))
    assert cross_entropy(logits + 3.0, np.array([0, 2])) == pytest.approx(-(np.log(0.5) + np.log(0.8)) / 2)
    np.testing.assert_allclose(np.exp(log_softmax(logits)).sum(-1), 1.0)


@pytest.fixture(scope="module", params=["gru", "transformer"])
def fitted(request):
    import keras

    cfg = APP.Config.tiny(arch=request.param)
    keras.utils.set_random_seed(cfg.seed)
    x, y = APP.fake_batch(cfg, 256)
    model = APP.build(cfg)
    before = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    after = model.evaluate(x, y, verbose=0, return_dict=True)["loss"]
    return cfg, model, before, after


def test_both_architectures_learn_the_synthetic_rule(fitted):
    _, _, before, after = fitted
    assert after < 0.5 * before, (before, after)


def test_generate_is_deterministic_for_a_seed(fitted):
    cfg, model, *_ = fitted
    gen = TextGenerator(model, data.vocabulary(cfg), cfg.seq_len)
    a = gen.generate("ROMEO:", 40, temperature=0.8, top_k=5, seed=7)
    assert a == gen.generate("ROMEO:", 40, temperature=0.8, top_k=5, seed=7)
    assert a.startswith("ROMEO:") and len(a) == len("ROMEO:") + 40
    others = {gen.generate("ROMEO:", 40, temperature=1.5, seed=s) for s in range(4)}
    assert len(others) > 1
    # top_k=1 is greedy: the seed no longer matters.
    greedy = gen.generate("To be", 20, top_k=1, seed=1)
    assert greedy == gen.generate("To be", 20, top_k=1, seed=2)
    # A vanishing temperature is the same limit, not a division overflow ("probabilities contain NaN").
    assert gen.generate("To be", 20, temperature=1e-320, seed=3) == greedy


def test_context_longer_than_the_window_is_cut(fitted):
    cfg, model, *_ = fitted
    gen = TextGenerator(model, data.vocabulary(cfg), cfg.seq_len)
    long = "abc " * 40
    np.testing.assert_allclose(
        gen.next_log_probs(data.encode(long, gen.vocab)),
        gen.next_log_probs(data.encode(long[-cfg.seq_len :], gen.vocab)),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(prompt=""), "empty"),
        (dict(prompt="ROMEO: ¿qué?"), "never saw"),
        (dict(temperature=0.0), "temperature must be"),
        (dict(temperature=-1.0), "temperature must be"),
        (dict(temperature=float("nan")), "temperature must be"),
        (dict(length=10**7), "length must be"),
        (dict(length=0), "length must be"),
        (dict(top_k=-2), "top_k must be"),
    ],
)
def test_bad_generate_arguments_are_clear_errors(fitted, kwargs, fragment):
    cfg, model, *_ = fitted
    gen = TextGenerator(model, data.vocabulary(cfg), cfg.seq_len)
    with pytest.raises(GlasswingError, match=fragment):
        gen.generate(**({"prompt": "ROMEO:"} | kwargs))


def test_one_step_export_variant_matches_the_full_model(fitted):
    cfg, model, *_ = fitted
    x, _ = APP.fake_batch(cfg, 4)
    one_step = APP.export_variant(model, cfg, "float32")
    full = np.asarray(model(x, training=False))[:, -1]
    np.testing.assert_allclose(np.asarray(one_step(x)), log_softmax(full), atol=1e-5)


def write_small_corpus(folder, works: int = 12, chars: int = 4000):
    """``works`` short "*_gut.txt" files cut from the real texts: the same format, a fraction of the size."""
    source = data.split_text(APP.Config.tiny(), "train")
    folder.mkdir(parents=True)
    for i in range(works):
        start = 50_000 + i * 97_000
        (folder / f"work_{i:02d}_gut.txt").write_text("ROMEO:\n" + source[start : start + chars])
    return folder


@pytest.fixture(scope="module")
def trained_textgen(tmp_path_factory):
    """A tiny GRU trained through the shared path on a small real-text corpus, exported to int8."""
    from apps import export
    from apps.train import train

    models = tmp_path_factory.mktemp("models")
    data_dir = tmp_path_factory.mktemp("data")
    write_small_corpus(data_dir / "shakespeare")
    cfg = APP.Config.tiny(epochs=1, max_train_examples=256, seq_len=12, data_dir=str(data_dir))
    folder = train(APP, cfg, models)
    report = export.export(APP, models, "int8")
    return models, folder, report


def test_metrics_compare_with_the_unigram_baseline(trained_textgen):
    from apps import artifacts

    _, folder, _ = trained_textgen
    metrics = artifacts.read_json(folder / "metrics.json")
    for m in (metrics, metrics["validation"]):
        assert m["perplexity"] == pytest.approx(math.exp(m["cross_entropy_per_char"]), rel=1e-6)
        assert 1.0 < m["unigram_perplexity"] < metrics["vocabulary_size"]
    assert metrics["sample"]["text"].startswith("ROMEO:")
    assert len(metrics["works"]["test"]) == 3 and not set(metrics["works"]["test"]) & set(
        metrics["works"]["train"]
    )
    assert (folder / "vocab.json").is_file() and "unigram" in (folder / "MODEL_CARD.md").read_text()


def test_one_step_export_reports_litert_perplexity(trained_textgen):
    from apps import artifacts

    _, folder, report = trained_textgen
    keras_row = artifacts.read_json(folder / "export.json")["keras"]
    row = report["int8"]
    if "error" in row:  # a failed mode is reported, not hidden
        assert row["error"].startswith("int8")
        return
    assert row["input"]["shape"] == [1, 12] and row["input"]["dtype"] == "int32"
    assert math.isfinite(row["perplexity"]) and row["perplexity"] == pytest.approx(
        keras_row["perplexity"], rel=0.1
    )
    assert row["top1_agreement"] > 0.8


def test_cli_generate_prints_text_and_names_bad_input(trained_textgen, capsys):
    models, *_ = trained_textgen
    args = ["generate", "textgen", "--models-dir", str(models), "--prompt", "ROMEO:", "--length", "30"]
    assert main(args + ["--temperature", "0.8", "--seed", "3"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("ROMEO:") and main(args + ["--temperature", "0.8", "--seed", "3"]) == 0
    assert capsys.readouterr().out == first
    for extra, fragment in (
        (["--temperature", "0"], "temperature must be"),
        (["--prompt", ""], "empty"),
        (["--prompt", "ROMEO€"], "never saw"),
        (["--length", "99999999"], "length must be"),
        (["--seed", "-1"], "--seed must be >= 0"),
    ):
        assert main(args + extra) == 2
        assert fragment in capsys.readouterr().err
    assert main(["generate", "textgen", "--models-dir", str(models)]) == 2
    assert "--prompt" in capsys.readouterr().err
