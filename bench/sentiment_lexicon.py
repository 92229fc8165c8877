"""How large a share of VADER's rated words should join sentiment training (``lexicon_fraction``)?

A cheap stand-in for fine-tuning once per share: a linear probe on the frozen, pretrained
MiniLM (logistic regression on its mean-pooled sentence vectors, C picked on movie
validation), trained on the movie training split plus each share of the lexicon's words,
exactly the words ``apps/sentiment/data.py:lexicon_words`` adds (seed 42). The share is
chosen by movie validation accuracy; the NYT editorial snippets (another domain, never
trained on) and the behaviour checklist are only reported.

    python bench/sentiment_lexicon.py [--markdown F]

About 5 minutes on 2 cores (the encoder runs once over ~23,000 sentences and words).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.append(str(HERE))

import report  # noqa: E402
import sentiment as bench_sentiment  # noqa: E402
import sentiment_wise  # noqa: E402

from apps.sentiment import APP  # noqa: E402
from apps.sentiment import data as sdata  # noqa: E402
from apps.sentiment import model as smodel  # noqa: E402

FRACTIONS = (0.0, 0.15, 0.3, 0.5, 1.0)
SEED = 42
SCORED = ("validation", "test", "nyt", "nyt_clear", "checklist")
# Table headers of the SCORED sets, in order.
SCORED_HEADERS = [
    "movie validation",
    "movie test",
    "NYT editorials",
    "NYT clear (abs score >= 1)",
    "checklist",
]


def lexicon_rows(embeddings: dict, labels: dict, word_vectors: dict, fractions=FRACTIONS) -> list[list]:
    """One row per share: [share, lexicon words, C, accuracy on each of ``SCORED``], best validation marked.

    Args:
        embeddings: Sentence vectors per set name (``train`` and every name in ``SCORED``).
        labels: 0/1 labels per set name.
        word_vectors: ``word -> vector`` for every lexicon word ``lexicon_words(1.0)`` returns.
        fractions: The shares of the lexicon to try.
    """
    rows = []
    for fraction in fractions:
        words, word_labels = sdata.lexicon_words(fraction, SEED)
        added = np.array([word_vectors[w] for w in words]).reshape(len(words), embeddings["train"].shape[1])
        x = np.concatenate([embeddings["train"], added])
        y = np.concatenate([labels["train"], word_labels])
        lr, c = sentiment_wise.best_probe(x, y, embeddings["validation"], labels["validation"])
        rows.append([fraction, len(words), c, *(lr.score(embeddings[name], labels[name]) for name in SCORED)])
    best = max(range(len(rows)), key=lambda i: rows[i][3])
    rows[best][0] = f"**{rows[best][0]}** (best on validation)"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--markdown", help="append the table to this Markdown fragment")
    args = parser.parse_args()

    cfg = APP.Config()
    sets = bench_sentiment.load_sets(cfg)
    words, word_labels = sdata.lexicon_words(1.0, SEED)
    texts = {name: sets.texts[name] for name in ("train", *SCORED)}
    embeddings = sentiment_wise.frozen_embeddings(
        smodel.build(cfg), sentiment_wise.encode_sets(cfg, {**texts, "lexicon": words})
    )
    word_vectors = dict(zip(words, embeddings.pop("lexicon")))
    rows = lexicon_rows(embeddings, sets.labels, word_vectors)
    headers = ["lexicon share", "words added", "C", *SCORED_HEADERS]
    table = report.table(headers, [[r[0], r[1], f"{r[2]:g}", *(f"{v:.4f}" for v in r[3:])] for r in rows])
    print(f"\nLinear probe on the frozen encoder, movie training split + lexicon words:\n\n{table}")
    report.append(args.markdown, f"\n{table}\n")


if __name__ == "__main__":
    main()
