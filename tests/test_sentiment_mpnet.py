"""all-mpnet-base-v2 in Keras (apps/sentiment/mpnet.py, arch=mpnet): its forward pass against a NumPy
reference, relative buckets, padding, the pad-first tokenizer, cached-vector training, export, wheels."""

from __future__ import annotations

import dataclasses
import json
import re
import zipfile

import keras
import numpy as np
import pytest

from apps import artifacts
from apps.errors import GlasswingError
from apps.sentiment import mpnet

WORDS = ["good", "bad", "film", "not", "very", "the", "plot", "drags"]


def write_safetensors(path, tensors: dict) -> None:
    """The inverse of ``encoder.read_safetensors``: a JSON header of offsets, then raw float32 bytes."""
    header, body, offset = {}, b"", 0
    for name, array in tensors.items():
        raw = np.ascontiguousarray(array, np.float32).tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        body, offset = body + raw, offset + len(raw)
    head = json.dumps(header).encode()
    path.write_bytes(len(head).to_bytes(8, "little") + head + body)


def tiny_mpnet(folder, hidden=8, heads=2, layers=2, seed=0):
    """A random 2-layer MPNet with a word-level tokenizer, in the wheel's file layout."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{w: i + 4 for i, w in enumerate(WORDS)}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    folder.mkdir(parents=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    config = {
        "hidden_size": hidden,
        "num_attention_heads": heads,
        "num_hidden_layers": layers,
        "layer_norm_eps": 1e-5,
        "pad_token_id": 1,
        "relative_attention_num_buckets": 32,
        "vocab_size": len(vocab),
    }
    (folder / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(seed)
    t = {
        "embeddings.word_embeddings.weight": rng.normal(size=(len(vocab), hidden)),
        "embeddings.position_embeddings.weight": rng.normal(size=(40, hidden)),
        "embeddings.LayerNorm.weight": np.ones(hidden),
        "embeddings.LayerNorm.bias": np.zeros(hidden),
        "encoder.relative_attention_bias.weight": rng.normal(size=(32, heads)),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        shapes = {"attention.attn.q": (hidden, hidden), "attention.attn.k": (hidden, hidden)}
        shapes |= {"attention.attn.v": (hidden, hidden), "attention.attn.o": (hidden, hidden)}
        shapes |= {"intermediate.dense": (4 * hidden, hidden), "output.dense": (hidden, 4 * hidden)}
        for name, shape in shapes.items():
            t[p + name + ".weight"] = rng.normal(size=shape) / np.sqrt(shape[1])
            t[p + name + ".bias"] = rng.normal(size=shape[0]) * 0.1
        for norm in ("attention.LayerNorm", "output.LayerNorm"):
            t[p + norm + ".weight"], t[p + norm + ".bias"] = np.ones(hidden), np.zeros(hidden)
    write_safetensors(folder / "model.safetensors", t)
    return folder


def reference_buckets(length: int, num_buckets: int = 32, max_distance: int = 128) -> np.ndarray:
    """Hugging Face's ``MPNetModel.relative_position_bucket``, in NumPy."""
    n = np.arange(length)[:, None] - np.arange(length)[None, :]  # query - key
    half = num_buckets // 2
    exact = half // 2
    far = np.abs(n)
    log_bucket = exact + (
        np.log(np.maximum(far, 1) / exact) / np.log(max_distance / exact) * (half - exact)
    ).astype(np.int64)
    return (n < 0) * half + np.where(far < exact, far, np.minimum(log_bucket, half - 1))


def reference_vectors(folder, texts: list[str]) -> np.ndarray:
    """MPNet's mean-pooled vectors by a NumPy forward pass, one unpadded sentence at a time, with the
    wheel's own tokenizer (``<pad>`` at its original id): the reference the Keras graph must match."""
    from scipy.special import erf

    from apps.sentiment import encoder

    config = json.loads((folder / "config.json").read_text())
    t = encoder.read_safetensors(folder / "model.safetensors")
    heads, eps, pad = config["num_attention_heads"], config["layer_norm_eps"], config["pad_token_id"]

    def norm(x, prefix):
        x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)
        return x * t[prefix + ".weight"] + t[prefix + ".bias"]

    def dense(x, prefix):
        return x @ t[prefix + ".weight"].T + t[prefix + ".bias"]

    out = []
    for text in texts:
        ids = encoder.load_tokenizer(str(folder / "tokenizer.json")).encode(text).ids  # no padding
        length = len(ids)
        x = t["embeddings.word_embeddings.weight"][ids]
        x = norm(
            x + t["embeddings.position_embeddings.weight"][pad + 1 + np.arange(length)],
            "embeddings.LayerNorm",
        )
        bias = t["encoder.relative_attention_bias.weight"][reference_buckets(length)].transpose(2, 0, 1)
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            q, k, v = (
                dense(x, f"{p}attention.attn.{n}").reshape(length, heads, -1).transpose(1, 0, 2)
                for n in "qkv"
            )
            scores = q @ k.transpose(0, 2, 1) / np.sqrt(q.shape[-1]) + bias
            weights = np.exp(scores - scores.max(-1, keepdims=True))
            context = (weights / weights.sum(-1, keepdims=True)) @ v
            x = norm(
                dense(context.transpose(1, 0, 2).reshape(length, -1), f"{p}attention.attn.o") + x,
                f"{p}attention.LayerNorm",
            )
            inner = dense(x, f"{p}intermediate.dense")
            inner = 0.5 * inner * (1 + erf(inner / np.sqrt(2)))
            x = norm(dense(inner, f"{p}output.dense") + x, f"{p}output.LayerNorm")
        out.append(x.mean(0))
    return np.array(out, np.float32)


def test_relative_buckets_follow_t5s_bidirectional_scheme():
    b = np.asarray(mpnet.RelativeBias(heads=2).bucket_ids(200))
    np.testing.assert_array_equal(b, reference_buckets(200))
    assert b.shape == (200, 200)
    assert b[5, 5] == 0
    assert b[1, 0] == 1 and b[7, 0] == 7  # keys before the query, exact under 8
    assert b[0, 1] == 17 and b[0, 7] == 23  # keys after the query use the upper half
    # Longer distances share log-spaced buckets: 8 + floor(log(d / 8) / log(16) * 8).
    assert b[20, 0] == 10 and b[64, 0] == 14
    assert b[150, 0] == 15 and b[0, 150] == 31  # capped at the half's last bucket


def test_padding_does_not_change_a_sentence_vector(tiny_wheels):
    from apps.sentiment import data, encoder, features
    from apps.sentiment import model as sentiment_model

    cfg = mpnet_cfg()
    tokenizer = encoder.load_tokenizer(str(data.tokenizer_path(cfg)))
    pooled_encoder = sentiment_model.pooled_encoder(cfg)

    def vectors(texts):  # computed, not read from the cache
        return features.compute(pooled_encoder, encoder.encode(tokenizer, texts, cfg.seq_len), progress=None)

    alone = vectors(["good film"])
    # Cut to its batch's longest row, "good film" is padded when a longer sentence shares it.
    together = vectors(["good film", "the plot drags not very good very bad film"])
    assert alone.shape == (1, 8)
    np.testing.assert_allclose(together[0], alone[0], atol=1e-5)
    # Word order reaches the vector (positions and the relative bias are in the graph).
    swapped = vectors(["film good"])
    assert np.abs(swapped[0] - alone[0]).max() > 1e-3
    # The benches' embed() gives the same vectors, through the cache.
    np.testing.assert_allclose(features.embed(["good film"], seq_len=cfg.seq_len), alone, atol=1e-5)


def test_model_dir_joins_the_wheels_pieces_once(tmp_path, monkeypatch):
    archive = tmp_path / "whole.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(f"{mpnet.NAME}/config.json", "{}")
        z.writestr(f"{mpnet.NAME}/model.safetensors", b"x" * 5000)
    data = archive.read_bytes()
    pieces = []
    for i, start in enumerate(range(0, len(data), 2000)):
        piece = tmp_path / f"{mpnet.NAME}.zip.{i + 1:03d}"
        piece.write_bytes(data[start : start + 2000])
        pieces.append(piece)
    assert len(pieces) >= 3
    monkeypatch.setattr(mpnet, "_part_files", lambda: pieces)
    cache = tmp_path / "cache"
    folder = mpnet.model_dir(cache)
    assert (folder / "model.safetensors").read_bytes() == b"x" * 5000
    assert sorted(p.name for p in cache.iterdir()) == [mpnet.NAME]  # nothing half-written left

    def fail():
        raise AssertionError("the unpacked folder should be reused")

    monkeypatch.setattr(mpnet, "_part_files", fail)
    assert mpnet.model_dir(cache) == folder


def test_model_dir_refuses_pieces_that_are_not_a_zip(tmp_path, monkeypatch):
    piece = tmp_path / f"{mpnet.NAME}.zip.001"
    piece.write_bytes(b"not a zip at all")
    monkeypatch.setattr(mpnet, "_part_files", lambda: [piece])
    cache = tmp_path / "cache"
    with pytest.raises(GlasswingError, match="not a readable zip"):
        mpnet.model_dir(cache)
    assert list(cache.iterdir()) == []  # the temporary folder is gone


def test_model_dir_without_the_wheels_says_how_to_install_them(tmp_path, monkeypatch):
    monkeypatch.setattr(mpnet, "PARTS", ["glasswing-no-such-wheel==0.0.1"])
    with pytest.raises(GlasswingError, match="make install"):
        mpnet.model_dir(tmp_path)
    assert not any(tmp_path.iterdir())


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    from tests.test_sentiment import corpus_dir

    return corpus_dir(tmp_path_factory.mktemp("sentiment_mpnet_data"))


@pytest.fixture
def tiny_wheels(tmp_path, monkeypatch):
    """A tiny random MPNet standing in for the unpacked wheels (``mpnet.model_dir``)."""
    folder = tiny_mpnet(tmp_path / "encoders" / mpnet.NAME)
    monkeypatch.setattr(mpnet, "model_dir", lambda *a: folder)
    return folder


def mpnet_cfg(**overrides):
    from apps.app import apply_overrides
    from apps.sentiment.config import Config

    cfg = apply_overrides(
        Config.tiny(), ["arch=mpnet", "seq_len=12", "baselines=false", "lexicon_fraction=0"]
    )
    return dataclasses.replace(cfg, **overrides)


def test_pad_first_tokenizer_puts_padding_at_id_0(tiny_wheels):
    from apps.sentiment import encoder

    path = mpnet.tokenizer_path(tiny_wheels)
    ids = encoder.encode(encoder.load_tokenizer(str(path)), ["good film", "not " * 20], 6)
    assert ids[0].tolist() == [1, 4, 6, 2, 0, 0]  # <s> took <pad>'s id 1; padding is 0
    assert ids[1].tolist() == [1, 7, 7, 7, 7, 2]  # cut, keeping the closing </s>
    vocab = encoder.vocabulary(path)
    assert vocab[:4] == ["", "<s>", "</s>", "<unk>"]


def test_keras_mpnet_matches_the_reference_forward_pass(tiny_wheels):
    from apps.sentiment import data, encoder
    from apps.sentiment import model as sentiment_model

    texts = ["good film", "the plot drags not very good very bad film", "film good"]
    reference = reference_vectors(tiny_wheels, texts)
    cfg = mpnet_cfg()
    ids = encoder.encode(encoder.load_tokenizer(str(data.tokenizer_path(cfg))), texts, cfg.seq_len)
    # Any length (the cached vectors) and the published graph's fixed seq_len give the same vectors.
    dynamic = sentiment_model.pooled_encoder(cfg)(ids[:, :11]).numpy()
    np.testing.assert_allclose(dynamic, reference, atol=1e-4)
    published = sentiment_model.build(cfg)
    pooled = keras.Model(published.input, published.get_layer("mean_pool").output)(ids).numpy()
    np.testing.assert_allclose(pooled, reference, atol=1e-4)
    assert [w.name for w in published.trainable_weights] == ["kernel", "bias"]  # only the head


def test_mpnet_trains_its_head_on_cached_vectors_and_publishes_the_whole_graph(
    tiny_wheels, data_dir, tmp_path
):
    from apps.sentiment import APP, data, features
    from apps.train import train

    cfg = mpnet_cfg(data_dir=str(data_dir), max_train_examples=256, epochs=2, learning_rate=1e-2)
    folder = train(APP, cfg, tmp_path / "models")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert metrics["validated_with"] == {"encoder_features": True}
    published = artifacts.load_model(folder / "model.keras")
    assert published.input.shape[1:] == (cfg.seq_len,) and published.input.dtype == "int32"
    # The encoder kept its pretrained weights (<s> and <pad> rows swapped); the head trained.
    table = encoder_tensors(tiny_wheels)["embeddings.word_embeddings.weight"]
    np.testing.assert_allclose(published.get_layer("embedding").get_weights()[0][[0, 1]], table[[1, 0]])
    # The ids the model folder's tokenizer gives are the ones it trained on.
    ids = data.preprocess("good film", vocab=folder)
    assert ids.tolist()[:4] == [1, 4, 6, 2]
    # Every training and validation sentence's vector is cached: a second read computes nothing.
    texts, _ = data.wordpiece_texts(cfg, "validation")
    calls = []
    features.pooled(cfg, np.stack([data.preprocess(t, vocab=folder) for t in texts]), progress=calls.append)
    assert features.cache_file(cfg).is_file() and calls == []


def test_a_packed_folder_leaves_the_frozen_encoder_out_and_unpack_rebuilds_it(
    tiny_wheels, data_dir, tmp_path, monkeypatch
):
    from apps import packed
    from apps.export import export
    from apps.sentiment import APP, data
    from apps.train import train

    models = tmp_path / "models"
    cfg = mpnet_cfg(data_dir=str(data_dir), max_train_examples=256, epochs=2, learning_rate=1e-2)
    folder = train(APP, cfg, models)
    export(APP, models, "dynamic")
    x = np.stack([data.preprocess(t, vocab=folder) for t in ["good film", "the plot drags", "not very bad"]])
    before = np.asarray(artifacts.load_model(folder / "model.keras")(x))
    lite_before = (folder / "tflite" / "dynamic.tflite").read_bytes()
    report = packed.pack(APP, folder)
    assert report["trained_layers"] == ["probs"] and report["trained_parameters"] == 8 * 2 + 2
    assert report["frozen_parameters"] > 10 * report["trained_parameters"]
    assert set(report["tflite"]) == {"dynamic"}
    assert (folder / ".gitignore").read_text() == "/model.keras\n/tflite/*.tflite\n/.unpacked\n"
    assert not packed.needs_unpack(folder)
    # A fresh clone: git has neither the model file nor the .tflite.
    for name in ("model.keras", "tflite/dynamic.tflite", ".unpacked"):
        (folder / name).unlink()
    assert packed.needs_unpack(folder)
    lines = []
    assert packed.unpack_all(models, log=lines.append) == ["sentiment"]
    np.testing.assert_allclose(np.asarray(artifacts.load_model(folder / "model.keras")(x)), before, atol=1e-6)
    assert (folder / "tflite" / "dynamic.tflite").stat().st_size == len(lite_before)
    assert "dynamic.tflite written" in lines[-1]
    assert packed.unpack_all(models) == []  # nothing left to do
    # Other pretrained weights than the head was trained on: one line, and no model file.
    (folder / "model.keras").unlink()
    other = tiny_mpnet(tmp_path / "other" / mpnet.NAME, seed=1)
    monkeypatch.setattr(mpnet, "model_dir", lambda *a: other)
    with pytest.raises(GlasswingError, match="not the ones this sentiment model was trained on"):
        packed.unpack_all(models)
    assert not (folder / "model.keras").exists()


def test_packing_a_model_with_nothing_frozen_is_refused(tmp_path):
    from apps import packed
    from apps.sentiment import APP
    from apps.sentiment.config import Config

    folder = tmp_path / "sentiment"
    folder.mkdir()
    cfg = Config.tiny()
    (folder / "config.json").write_text(json.dumps(dataclasses.asdict(cfg)))
    (folder / "labels.txt").write_text("negative\npositive\n")
    artifacts.save_model(APP.build(cfg), folder / "model.keras")
    with pytest.raises(GlasswingError, match="every layer of this model trains"):
        packed.pack(APP, folder)
    assert not (folder / "packed.json").exists()


def encoder_tensors(folder):
    from apps.sentiment import encoder

    return encoder.read_safetensors(folder / "model.safetensors")


def test_mpnet_config_refusals():
    from apps.sentiment.config import Config

    with pytest.raises(GlasswingError, match="pretrained and frozen"):
        Config(arch="mpnet", pretrained=False)
    with pytest.raises(GlasswingError, match="only for arch=mpnet"):
        Config(arch="minilm", encoder_features=True)


@pytest.mark.slow
def test_real_mpnet_puts_paraphrases_together():
    try:
        mpnet.model_dir()
    except GlasswingError as err:
        pytest.skip(str(err))
    from apps.sentiment import features

    v = features.embed(
        ["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."]
    )
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    assert v[0] @ v[1] > 0.6 and v[0] @ v[2] < 0.2


@pytest.mark.slow
def test_real_mpnet_in_keras_matches_the_reference_and_its_tokenizer_round_trips():
    from apps.sentiment import data, encoder
    from apps.sentiment import model as sentiment_model

    try:
        folder = mpnet.model_dir()
    except GlasswingError as err:
        pytest.skip(str(err))
    texts = ["A man is playing a guitar.", "Not bad at all 👍", "The stock market fell sharply today."]
    cfg = mpnet_cfg(seq_len=64)
    ids = encoder.encode(encoder.load_tokenizer(str(data.tokenizer_path(cfg))), texts, cfg.seq_len)
    assert ids[0, 0] == 1 and (ids[0] == 2).sum() == 1 and ids[0, -1] == 0  # <s> ... </s> then padding
    keras_vectors = sentiment_model.pooled_encoder(cfg)(ids).numpy()
    np.testing.assert_allclose(keras_vectors, reference_vectors(folder, texts), atol=2e-4)


@pytest.mark.parametrize("quant", ["float32", "int8"])
def test_mpnet_graph_converts_to_tflite_and_agrees_in_litert(tiny_wheels, tmp_path, quant):
    import tensorflow as tf

    from apps.conversion import export_model, float_layers
    from apps.litert import LiteRTModel
    from apps.sentiment import APP, data, encoder

    cfg = mpnet_cfg()
    keras.utils.set_random_seed(0)
    model = APP.build(cfg)
    words = " ".join(WORDS)
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words.split(), size=rng.integers(1, 9))) for _ in range(64)]
    x = encoder.encode(encoder.load_tokenizer(str(data.tokenizer_path(cfg))), texts, cfg.seq_len)

    def representative():
        for i in range(32):
            yield [tf.constant(x[i : i + 1])]

    path = tmp_path / f"{quant}.tflite"
    # Softmaxes, LayerNorms and residual adds stay float, as MiniLM's: a softmax's 0/1 divide in
    # int8 crashed the real model in LiteRT (a divisor quantized to its zero point).
    keep = float_layers(APP, cfg, model)
    assert "block1_attention/softmax" in keep and "block1_norm2" in keep
    export_model(model, path, quant, representative, float_layers=keep)
    runner = LiteRTModel(path)
    divisions = [op for op in runner._interp._get_ops_details() if op["op_name"] == "DIV"]
    tensors = {t["index"]: t for t in runner._interp.get_tensor_details()}
    softmax = {
        tensors[i]["dtype"] for op in divisions for i in op["inputs"] if "softmax" in tensors[i]["name"]
    }
    assert softmax == {np.float32}
    # So does each score + relative-position bias add (a quantized one cost the real model 8.7 pt).
    ops = runner._interp._get_ops_details()
    bias_adds = {
        tensors[i]["dtype"]
        for op in ops
        if op["op_name"] == "ADD"
        for i in op["outputs"]
        if re.search(r"attention(_\d+)?/add", tensors[i]["name"])
    }
    assert bias_adds == {np.float32}
    lite, ref = runner(x), np.asarray(model(x, training=False))
    if quant == "float32":
        assert np.abs(lite - ref).max() < 1e-4
    else:  # the output alone is int8 steps of 1/256; the encoder's int8 adds a few more
        assert np.abs(lite - ref).mean() < 0.02 and np.abs(lite - ref).max() < 0.1
