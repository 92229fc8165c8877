"""Movie-review sentences: committed corpus -> tfds builder -> token ids; and preprocess.

The corpus is ``movieReviewSnippets_GroundTruth.txt`` from the vaderSentiment 3.3.2
sdist (Hutto & Gilbert 2014): the 10,605 Pang & Lee sentence-polarity sentences,
each with the mean of ~20 human ratings in -4..+4; label = score > 0. A copy is
committed under ``data/sentiment/`` (provenance in ``data/README.md``).

Tokenization runs in the input pipeline, never inside the model: string ops are
not TF Lite builtins, so the exported model takes int32 token ids. The word
models (``bilstm``, ``transformer``, ``linear``) use a ``TextVectorization``
adapted on the training split only; ``minilm`` and ``mpnet`` use their pretrained
encoder's WordPiece tokenizer (``tokenizer.json``, copied into the model folder).
"""

from __future__ import annotations

import functools
import importlib.resources
import unicodedata
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from apps import datasets
from apps.app import class_names
from apps.errors import GlasswingError
from apps.sentiment import encoder, mpnet

LABELS = ["negative", "positive"]
FILE_NAME = "movieReviewSnippets_GroundTruth.txt"
VOCAB_FILE = "vocab.txt"
# The committed copy, found even when the working directory is not the repository root.
REPO_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "sentiment"
REPO_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "sentiment"
PAD_ID, OOV_ID = 0, 1
# Fixed split: 80% train, 10% validation, 10% test, by a seeded permutation.
SPLIT_SEED = 20_241_123
HOLDOUT_FRACTION = 0.1
# VADER's lexicon (vaderSentiment package): word<TAB>mean rating<TAB>sd<TAB>ratings.
LEXICON_FILE = "vader_lexicon.txt"
LEXICON_MIN_SCORE = 1.0
# General English sentences (WordNet usage examples, fortunes) labelled by a frozen MPNet probe:
# p_positive<TAB>sentence, written by bench/sentiment_teacher.py (provenance in data/README.md).
TEACHER_FILE = "teacher_sentences.tsv"
# Only the first seq_len tokens are used, so longer input is cut before tokenizing:
# bounds the cost of a 1 MB paste without changing the ids of any real sentence.
MAX_CHARS = 20_000
HOW_TO_GET = (
    "The corpus is committed as data/sentiment/" + FILE_NAME + ". To fetch it again: "
    "`pip download --no-deps --no-binary :all: vaderSentiment==3.3.2`, untar the sdist, untar "
    "additional_resources/hutto_ICWSM_2014.tar.gz and copy " + FILE_NAME + " into data/sentiment/."
)


def labels(cfg=None) -> list[str]:
    """The class names in label order: negative, positive; or a user dataset's (``cfg.classes``)."""
    return class_names(cfg, LABELS) if cfg is not None else list(LABELS)


def find_source_file(cfg) -> Path:
    """``<data_dir>/sentiment/`` first, then the repository's committed copy.

    Raises:
        GlasswingError: Neither holds the corpus; says how to get it.
    """
    for folder in (Path(cfg.data_dir) / "sentiment", REPO_DATA_DIR):
        if (folder / FILE_NAME).is_file():
            return folder / FILE_NAME
    raise GlasswingError(f"Sentiment corpus {FILE_NAME} not found. {HOW_TO_GET}")


def read_snippets(path: Path) -> list[tuple[str, float, str]]:
    """Parses the corpus: one ``id<TAB>mean score<TAB>text`` per line.

    The id is kept as written: VADER's other files number sentences ``1_11``, which
    ``int`` would read as 111 and so collide with another sentence's id.

    Raises:
        GlasswingError: Not UTF-8, a malformed line, or no sentences at all.
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise GlasswingError(f"{path} is not UTF-8 text ({err}). {HOW_TO_GET}") from None
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        try:
            if len(parts) != 3:
                raise ValueError(f"{len(parts)} tab-separated fields instead of 3")
            rows.append((parts[0].strip(), float(parts[1]), parts[2].strip()))
        except ValueError as err:
            raise GlasswingError(f"{path}:{number}: malformed line ({err}): {line[:80]!r}") from None
    if not rows:
        raise GlasswingError(f"{path} holds no sentences. {HOW_TO_GET}")
    return rows


def split_indices(n: int) -> dict[str, np.ndarray]:
    """Seeded train/validation/test index sets; the same on every machine."""
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_hold = max(1, round(HOLDOUT_FRACTION * n))
    return {"test": order[:n_hold], "validation": order[n_hold : 2 * n_hold], "train": order[2 * n_hold :]}


class GlasswingMovieSnippets(tfds.core.GeneratorBasedBuilder):
    """Movie-review sentences with mean human sentiment scores, read from a local file."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = HOW_TO_GET

    def _info(self):
        return self.dataset_info_from_configs(
            description=(
                "Movie-review sentences (Pang & Lee 2005) rated by humans for VADER "
                "(Hutto & Gilbert 2014), MIT licence; label = mean score > 0."
            ),
            features=tfds.features.FeaturesDict(
                {
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=LABELS),
                    "score": np.float32,
                    "id": np.int32,
                }
            ),
            supervised_keys=("text", "label"),
        )

    def _split_generators(self, dl_manager):
        rows = read_snippets(Path(dl_manager.manual_dir) / FILE_NAME)
        return {
            name: self._generate_examples([(i + 1, *rows[i][1:]) for i in idx])
            for name, idx in split_indices(len(rows)).items()
        }

    def _generate_examples(self, rows):
        # ``line``: the sentence's place among the file's sentences, which is the movie
        # corpus's own id (1, 2, ...) and, unlike a file's id column, always a number.
        for key, (line, score, text) in enumerate(rows):
            yield key, {"text": text, "label": int(score > 0), "score": score, "id": line}


def _builder(cfg):
    source = find_source_file(cfg)
    return datasets.prepare_builder(GlasswingMovieSnippets, cfg, source.parent)


def prepare(cfg, progress: bool = True) -> str:
    """Builds the tfds dataset once; returns a summary of the split sizes."""
    builder = _builder(cfg)
    sizes = {name: split.num_examples for name, split in builder.info.splits.items()}
    return f"movie snippets ready in {builder.data_dir}: {sizes}"


def standardize(text: tf.Tensor) -> tf.Tensor:
    """Lower-cases and splits punctuation and English clitics into their own tokens.

    Keeps ``!``, ``?`` and ``n't`` as tokens (the default standardizer drops
    them) because they carry sentiment; strips the corpus' ``''`` quote marks.
    """
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"''|``|\"", " ")
    text = tf.strings.regex_replace(text, r"n't\b", " n't")
    text = tf.strings.regex_replace(text, r"'(s|re|ve|ll|d|m)\b", r" '\1")
    return tf.strings.regex_replace(text, r"([.,!?;:()\[\]/*])", r" \1 ")


def make_vectorizer(vocab: list[str], seq_len: int) -> keras.layers.TextVectorization:
    """A TextVectorization with a fixed vocabulary: ids padded/truncated to ``seq_len``."""
    return keras.layers.TextVectorization(
        standardize=standardize,
        split="whitespace",
        output_mode="int",
        output_sequence_length=seq_len,
        vocabulary=vocab,
    )


@functools.lru_cache(maxsize=8)
def _adapted_vocabulary(data_dir: str, data: str, max_tokens: int) -> tuple[str, ...]:
    train = datasets.examples(_DataSource(data_dir, data), "train", _builder)
    layer = keras.layers.TextVectorization(max_tokens=max_tokens, standardize=standardize, split="whitespace")
    layer.adapt(train.map(lambda text, _: text).batch(1024))
    return tuple(str(token) for token in layer.get_vocabulary())


class _DataSource:
    """The Config fields that pick the data (``data_dir``, ``data``), so the cache key stays hashable."""

    def __init__(self, data_dir: str, data: str):
        self.data_dir, self.data = data_dir, data


def tokenizer_path(cfg) -> Path | None:
    """The pretrained encoder's ``tokenizer.json`` (``minilm``, ``mpnet``); ``None`` for the word models."""
    if cfg.arch == "minilm":
        return encoder.package_tokenizer_path()
    if cfg.arch == "mpnet":
        return mpnet.tokenizer_path(mpnet.model_dir())
    return None


def vocabulary(cfg) -> list[str]:
    """The token of each id: the encoder's WordPiece vocabulary, else the adapted word vocabulary.

    The word vocabulary is adapted on the whole training split (never validation/test).

    ``vocab[0]`` is padding (``""``), ``vocab[1]`` is the OOV token ``[UNK]``;
    the rest are sorted by training-split frequency. Deterministic for a given
    corpus and ``max_tokens`` (``max_train_examples`` does not change it).
    """
    if path := tokenizer_path(cfg):
        return encoder.vocabulary(path)
    return list(_adapted_vocabulary(str(Path(cfg.data_dir).resolve()), cfg.data, cfg.max_tokens))


def artifact_files(cfg) -> dict[str, str]:
    """Extra artifacts for ``models/sentiment/``: the vocabulary, one token a line (line i = id i),
    and for the pretrained encoders the tokenizer itself, so tokenizing needs no weights' wheel."""
    files = {VOCAB_FILE: "\n".join(vocabulary(cfg)) + "\n"}
    if path := tokenizer_path(cfg):
        files[encoder.TOKENIZER_FILE] = path.read_text(encoding="utf-8")
    return files


def read_vocab(path: Path) -> list[str]:
    """Reads ``vocab.txt``; line 1 is the empty padding token, line 2 the OOV token.

    Raises:
        GlasswingError: Missing, or not a vocabulary this app wrote.
    """
    path = Path(path)
    if not path.is_file():
        raise GlasswingError(
            f"Vocabulary {path} is missing. Train the model with `glasswing train sentiment`."
        )
    vocab = path.read_text(encoding="utf-8").split("\n")
    if vocab and vocab[-1] == "":
        vocab.pop()  # the file's final newline
    if len(vocab) < 2 or vocab[0] != "" or vocab[1] != "[UNK]":
        raise GlasswingError(f"{path} is not a sentiment vocabulary (expected '' then '[UNK]' first).")
    return vocab


def make_word_dropout(rate: float, seed: int):
    """Batch-level augmentation: each real token becomes the OOV id with prob. ``rate``.

    Teaches the model not to hinge on single words and mimics unseen words at test time.
    """
    generator = tf.random.Generator.from_seed(seed)

    def augment(x, y):
        drop = generator.uniform(tf.shape(x)) < rate
        return tf.where(drop & (x > OOV_ID), tf.ones_like(x) * OOV_ID, x), y

    return augment


def lexicon_words(fraction: float, seed: int) -> tuple[list[str], np.ndarray]:
    """A seeded ``fraction`` of VADER's lexicon words as one-word examples, label = mean rating > 0.

    Only alphabetic entries rated at least ``LEXICON_MIN_SCORE`` either way: 5,586 words, no
    emoticons, no near-neutral words. Movie reviews say what is good or bad about a film; the
    lexicon holds words people rated in general use ("war", "rescue", "peace"), which is
    what sentences from other domains are judged by.

    Raises:
        GlasswingError: The vaderSentiment package (which ships the lexicon) is not installed.
    """
    try:
        text = importlib.resources.files("vaderSentiment").joinpath(LEXICON_FILE).read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        raise GlasswingError(
            f"lexicon_fraction={fraction} needs VADER's {LEXICON_FILE}, which ships in the vaderSentiment "
            "package: `.venv/bin/pip install --no-deps vaderSentiment==3.3.2` (make install does), "
            "or --set lexicon_fraction=0."
        ) from None
    rows = [line.split("\t")[:2] for line in text.splitlines() if line.strip()]
    rows = [(word, float(score)) for word, score in rows if word.isalpha()]
    rows = [(word, score) for word, score in rows if abs(score) >= LEXICON_MIN_SCORE]
    keep = np.sort(np.random.default_rng(seed).permutation(len(rows))[: round(fraction * len(rows))])
    return [rows[i][0] for i in keep], np.array([int(rows[i][1] > 0) for i in keep], np.int64)


def read_teacher_sentences(path: Path) -> tuple[list[str], np.ndarray]:
    """A ``p_positive<TAB>sentence`` file (header row first): the sentences and the teacher's probabilities.

    Raises:
        GlasswingError: The file is missing, not UTF-8, or has a malformed row; says how to write it.
    """
    how = (
        f"It is committed as data/sentiment/{TEACHER_FILE}; `python bench/sentiment_teacher.py` "
        "writes it again, or --set teacher_fraction=0 trains without it."
    )
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()[1:]
    except (OSError, UnicodeDecodeError) as err:
        raise GlasswingError(f"Cannot read {path} ({type(err).__name__}). {how}") from None
    texts, probs = [], []
    for number, line in enumerate(lines, start=2):
        try:
            p, text = line.split("\t")
            probs.append(float(p))
        except ValueError:
            raise GlasswingError(f"{path}:{number}: expected p_positive<TAB>sentence. {how}") from None
        texts.append(text)
    if not texts:
        raise GlasswingError(f"{path} holds no sentences. {how}")
    return texts, np.array(probs)


def teacher_sentences(fraction: float, seed: int) -> tuple[list[str], np.ndarray]:
    """A seeded ``fraction`` of the committed teacher-labelled sentences, label = teacher's p > 0.5.

    Movie reviews judge films; these are general English sentences (dictionary usage examples,
    one-line fortunes) that a 5x larger frozen encoder labelled, so the fine-tuned model sees
    how sentiment reads outside film talk.
    """
    texts, probs = read_teacher_sentences(REPO_DATA_DIR / TEACHER_FILE)
    keep = np.sort(np.random.default_rng(seed).permutation(len(texts))[: round(fraction * len(texts))])
    return [texts[i] for i in keep], (probs[keep] > 0.5).astype(np.int64)


def _examples(cfg, split: str) -> tf.data.Dataset:
    """Unbatched ``(text, label)`` of a split.

    The built-in corpus' training split gains lexicon words and teacher-labelled sentences; a
    user's own data (``--data``) and every evaluation split stay as they are.
    """
    ds = datasets.examples(cfg, split, _builder)
    if split != "train" or cfg.data:
        return ds
    for fraction, draw in ((cfg.lexicon_fraction, lexicon_words), (cfg.teacher_fraction, teacher_sentences)):
        if fraction:
            texts, extra_labels = draw(fraction, cfg.seed)
            ds = ds.concatenate(tf.data.Dataset.from_tensor_slices((tf.constant(texts), extra_labels)))
    return ds


def wordpiece_texts(cfg, split: str) -> tuple[list[str], np.ndarray]:
    """A split's texts as the encoders read them (symbols spelled out) and their labels, in order."""
    pairs = list(_examples(cfg, split).as_numpy_iterator())
    texts = [spell_symbols(text.decode("utf-8")) for text, _ in pairs]
    return texts, np.array([label for _, label in pairs], np.int64)


def _wordpiece_split(cfg, split: str) -> tf.data.Dataset:
    """The encoders' unbatched ``(ids, label)``: the split tokenized once in Python (fast Rust tokenizer).

    With ``encoder_features`` (arch=mpnet's head), ``x`` is each sentence's frozen-encoder vector.
    """
    texts, split_labels = wordpiece_texts(cfg, split)
    ids = encoder.encode(encoder.load_tokenizer(str(tokenizer_path(cfg))), texts, cfg.seq_len)
    if cfg.encoder_features:
        from apps.sentiment import features  # it builds the model, which imports this module

        ids = features.pooled(cfg, ids)
    return tf.data.Dataset.from_tensor_slices((ids, split_labels))


def dataset(cfg, split: str) -> tf.data.Dataset:
    """Batched, cached, prefetched ``(x, y)``: x int32 ``(seq_len,)`` token ids, y int.

    (``encoder_features``: x is the frozen encoder's float32 vector of the sentence.)
    """
    if tokenizer_path(cfg):
        return datasets.finish_pipeline(_wordpiece_split(cfg, split), cfg, split)
    vectorizer = make_vectorizer(vocabulary(cfg), cfg.seq_len)

    def to_ids(text, label):
        return tf.cast(vectorizer(text[None])[0], tf.int32), label

    ds = _examples(cfg, split).map(to_ids, num_parallel_calls=datasets.AUTOTUNE)
    augment = make_word_dropout(cfg.word_dropout, cfg.seed) if cfg.augment and cfg.word_dropout else None
    return datasets.finish_pipeline(ds, cfg, split, augment=augment)


def example_text(cfg, split: str) -> list[str]:
    """The raw sentences of ``split`` in the order ``dataset`` yields them (unshuffled splits)."""
    ds = datasets.examples(cfg, split, _builder)
    return [text.decode("utf-8") for text, _ in ds.as_numpy_iterator()]


def decode_text(data: bytes) -> str:
    """Bytes of a text file or upload -> str: UTF-8 (BOM dropped), UTF-16 with its BOM, else Windows-1252.

    The Windows-1252 fallback keeps a Latin-1 review readable ("très bien")
    instead of turning its accents into unknown tokens; binary data is caught
    afterwards by ``_clean_text``.
    """
    data = bytes(data)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


# Above this share of control characters or undecodable bytes, an input is binary data, not text.
_MAX_NON_TEXT_SHARE = 0.02


def _refuse_binary(text: str) -> None:
    bad = sum(ch == "\ufffd" or (unicodedata.category(ch) == "Cc" and ch not in "\t\n\r\f\v") for ch in text)
    if "\x00" in text or bad > _MAX_NON_TEXT_SHARE * len(text):
        raise GlasswingError(
            f"This is not text: {bad} of its {len(text)} characters are control codes or undecodable "
            "bytes (binary data, such as an image or audio file?). Give UTF-8 text."
        )


def _clean_text(raw) -> str:
    """Any str/bytes -> valid text; other types, binary data and empty text are GlasswingErrors."""
    if isinstance(raw, (bytes, bytearray, memoryview)):
        raw = decode_text(raw)
    if not isinstance(raw, str):
        raise GlasswingError(f"Expected text (str or bytes), got {type(raw).__name__}.")
    # Lone surrogates (e.g. from surrogateescape) are not encodable: replace them.
    text = raw.encode("utf-8", errors="replace").decode("utf-8")
    if not text.strip():
        raise GlasswingError("The text is empty. Enter a sentence to classify.")
    text = text[:MAX_CHARS]
    _refuse_binary(text)
    return text


@functools.lru_cache(maxsize=4)
def _vectorizer_for(vocab: tuple[str, ...], seq_len: int):
    layer = make_vectorizer(list(vocab), seq_len)
    return tf.function(lambda text: layer(text), reduce_retracing=True)


@functools.lru_cache(maxsize=4)
def _vocab_from_file(path: str, mtime: float) -> tuple[str, ...]:
    return tuple(read_vocab(Path(path)))


def spell_symbols(text: str) -> str:
    """Emoji and other symbols become their Unicode names ("👎" -> " thumbs down sign ").

    The WordPiece vocabulary lacks most emoji (they would all be ``[UNK]``), but
    it knows their names' words. The movie corpus has no such symbols, so the
    training text is unchanged by this.
    """
    if text.isascii():
        return text
    out = []
    for char in text:
        if char == "\ufffd":  # an undecodable byte: no word at all, not "replacement character"
            out.append(" ")
        elif unicodedata.category(char) == "So":
            out.append(f" {unicodedata.name(char, '').lower()} ")
        elif unicodedata.category(char) not in ("Mn", "Cf"):  # variation selectors, joiners
            out.append(char)
    return "".join(out)


def _wordpiece_ids(text: str, folder: Path, seq_len: int) -> np.ndarray:
    tokenizer = encoder.load_tokenizer(str(folder / encoder.TOKENIZER_FILE))
    return encoder.encode(tokenizer, [spell_symbols(text)], seq_len)[0]


def preprocess(raw, vocab=None, seq_len: int | None = None) -> np.ndarray:
    """Raw text -> int32 ``(seq_len,)`` token ids, exactly as the training pipeline makes them.

    A model folder with a ``tokenizer.json`` (minilm) gets WordPiece ids
    (``[CLS] ... [SEP]``, emoji spelled out by name); otherwise words not in the
    vocabulary become the OOV id 1. Text longer than ``seq_len`` tokens is
    truncated, shorter text is padded with 0. Bytes are decoded as UTF-8 with
    UTF-16 with a BOM and Windows-1252 accepted.

    Args:
        raw: A ``str`` or UTF-8 ``bytes``.
        vocab: A vocabulary list, a ``vocab.txt`` path, or a model folder holding
            one; default: the committed ``models/sentiment/``.
        seq_len: Ids per text; default: the model folder's ``config.json``, else the Config default.

    Raises:
        GlasswingError: Empty or whitespace-only text, binary data, a non-text input, or no vocabulary.
    """
    text = _clean_text(raw)
    folder = None
    if vocab is None or isinstance(vocab, (str, Path)):
        path = Path(vocab) if vocab is not None else REPO_MODEL_DIR
        folder = path if path.is_dir() else path.parent
        path = path / VOCAB_FILE if path.is_dir() else path
        if not (folder / encoder.TOKENIZER_FILE).is_file():
            vocab = _vocab_from_file(str(path), path.stat().st_mtime if path.exists() else 0.0)
    if seq_len is None:
        seq_len = _seq_len_of(folder)
    if folder is not None and (folder / encoder.TOKENIZER_FILE).is_file():
        return _wordpiece_ids(text, folder, int(seq_len))
    ids = _vectorizer_for(tuple(vocab), int(seq_len))(tf.constant([text]))
    return np.asarray(ids[0], dtype=np.int32)


def _seq_len_of(folder: Path | None) -> int:
    from apps.sentiment.config import Config

    if folder is not None and (folder / "config.json").is_file():
        from apps.artifacts import read_json

        return int(read_json(folder / "config.json").get("seq_len", Config.seq_len))
    return Config.seq_len


def load_preprocess(folder):
    """``preprocess`` bound to the vocabulary and ``seq_len`` of the model in ``folder``."""
    return functools.partial(preprocess, vocab=Path(folder))


def fake_batch(cfg, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic token ids with learnable labels: token 2 marks positive, token 3 negative."""
    rng = np.random.default_rng(cfg.seed)
    y = rng.integers(0, 2, size=n)
    lengths = rng.integers(max(1, cfg.seq_len // 3), cfg.seq_len + 1, size=n)
    x = np.zeros((n, cfg.seq_len), np.int32)
    for i, length in enumerate(lengths):
        x[i, :length] = rng.integers(4, cfg.max_tokens, size=length)
        marks = rng.choice(length, size=max(1, length // 3), replace=False)
        x[i, marks] = 2 if y[i] else 3
    return x, y.astype(np.int64)


def read_labelled(path, labels_: list[str]):
    """A user's labelled sentences for ``glasswing evaluate sentiment --data PATH``.

    Two formats:

    - a ``.csv`` with a ``text`` and a ``label`` column (a class name such as
      ``positive``, or its index ``0``/``1``) and an optional ``group`` column;
    - VADER's ``id<TAB>mean score<TAB>text`` lines (this corpus' own format, and
      its NYT editorial, product-review and tweet files); label = score > 0.

    Raises:
        GlasswingError: Not a file, not UTF-8, empty, missing columns, or an
            unknown label (with its line number).
    """
    from apps.labelled import Labelled, require_file

    path = require_file(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise GlasswingError(f"--data {path} is not UTF-8 text ({err.reason} at byte {err.start}).") from None
    if not text.strip():
        raise GlasswingError(f"--data {path} is empty.")
    if path.suffix.lower() == ".csv":
        rows = _csv_rows(path, text, labels_)
    else:
        rows = [(sentence, labels_[int(score > 0)], ".") for _, score, sentence in _vader_rows(path)]
    return Labelled(
        inputs=[r[0] for r in rows],
        labels=[r[1] for r in rows],
        names=[r[0] for r in rows],
        groups=[r[2] for r in rows],
    )


def _vader_rows(path: Path):
    try:
        return read_snippets(path)
    except GlasswingError as err:
        raise GlasswingError(
            f"{err} (expected id<TAB>score<TAB>text lines, or a .csv with text,label columns)"
        ) from None


def _csv_rows(path: Path, text: str, labels_: list[str]) -> list[tuple[str, str, str]]:
    import csv
    import io

    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().lower(): name for name in reader.fieldnames or []}
    missing = [c for c in ("text", "label") if c not in columns]
    if missing:
        raise GlasswingError(
            f"--data {path}: no {' or '.join(repr(m) for m in missing)} column "
            f"(found: {', '.join(reader.fieldnames or []) or 'none'})."
        )
    names = {name.lower(): name for name in labels_} | {str(i): name for i, name in enumerate(labels_)}
    rows = []
    for line, row in enumerate(reader, start=2):
        raw_label = (row[columns["label"]] or "").strip().lower()
        if raw_label not in names:
            raise GlasswingError(
                f"{path}:{line}: unknown label {raw_label!r} (expected one of {', '.join(names)})."
            )
        sentence = (row[columns["text"]] or "").strip()
        if sentence:
            group = (row[columns["group"]] or ".").strip() if "group" in columns else "."
            rows.append((sentence, names[raw_label], group))
    if not rows:
        raise GlasswingError(f"--data {path} holds no labelled sentence.")
    return rows


def read_file(path) -> str:
    """The text of a file given as ``--input`` (see ``decode_text``)."""
    return decode_text(Path(path).read_bytes())


def read_own(text: str, cfg) -> str:
    """One row of a user's CSV as stored for training: the text, cleaned like ``preprocess`` does."""
    return _clean_text(text)


def own_feature(cfg):
    """The tfds feature of one stored user text."""
    return tfds.features.Text()
