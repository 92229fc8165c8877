"""Writes ``data/sentiment/teacher_sentences.tsv``: general English sentences labelled by MPNet.

The sentiment app's ``teacher_fraction`` adds these sentences to the movie training split, so
the committed MiniLM learns from sentences that are not about films, labelled by a 5x larger
encoder that carries sentiment further outside movie reviews (``bench/sentiment_encoders.py``:
NYT 0.768 frozen, against MiniLM's 0.693). This script is how the committed file was made:

1. the teacher: a logistic regression on frozen all-mpnet-base-v2 vectors (``make install``)
   of the movie training split plus VADER's words (``lexicon_fraction`` 0.3, seed 42), C picked
   on movie validation;
2. the sentences: the first ``--pool`` of ``sentiment_encoders.general_sentences`` (WordNet 3.0's
   usage examples and one-line fortunes; ``apt-get install wordnet-base fortunes``);
3. the file: a seeded sample of ``--keep`` sentences the teacher is sure of (probability of
   positive at least ``--sure``, 0.7, or at most 1 - ``--sure``), as ``p_positive<TAB>sentence`` rows.

``--pool 0 --sure 0.5 --keep 0`` writes all 50,606 sentences, sure or not (~20 minutes); trained on
a 0.3 share of those, 3 seeds gained nothing on NYT (results.md, "the whole pool").

    python bench/sentiment_teacher.py [--out data/sentiment/teacher_sentences.tsv]

About 12 minutes on 2 cores (MPNet's forward pass over ~38,000 sentences).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.append(str(HERE))

import sentiment as bench_sentiment  # noqa: E402
import sentiment_encoders  # noqa: E402

from apps.errors import GlasswingError  # noqa: E402
from apps.sentiment import APP, features, mpnet  # noqa: E402
from apps.sentiment import data as sdata  # noqa: E402


def confident_sample(probs: np.ndarray, keep: int, seed: int, sure: float) -> np.ndarray:
    """Indices (ascending) of the rows whose ``probs`` are >= ``sure`` or <= 1 - ``sure``.

    ``keep`` > 0 keeps a seeded sample of that many of them; 0 keeps them all.
    """
    confident = np.flatnonzero((probs >= sure) | (probs <= 1 - sure))
    if not keep:
        return confident
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(confident, min(keep, len(confident)), replace=False))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=str(sdata.REPO_DATA_DIR / sdata.TEACHER_FILE))
    parser.add_argument(
        "--pool", type=int, default=20000, help="general sentences the teacher labels (0: all)"
    )
    parser.add_argument(
        "--sure", type=float, default=0.7, help="keep only sentences with p >= SURE or <= 1 - SURE (0.5: all)"
    )
    parser.add_argument("--keep", type=int, default=10000, help="sentences written, a seeded sample (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="which sentences --keep keeps")
    args = parser.parse_args()
    if not 0.5 <= args.sure < 1.0:
        parser.error(f"--sure must be in [0.5, 1), not {args.sure}")

    try:
        mpnet.model_dir()  # the wheels are installed, or one clear line
    except GlasswingError as err:
        raise SystemExit(str(err)) from None
    cfg = APP.Config()
    sets = bench_sentiment.load_sets(cfg)
    words, _ = sdata.lexicon_words(sentiment_encoders.SHARE, sentiment_encoders.SEEDS[0])
    texts = {
        **{name: sets.texts[name] for name in ("train", "validation", "test", "nyt")},
        "words": words,
        "general": sentiment_encoders.general_sentences(args.pool or sys.maxsize),
    }
    vectors = {}
    for name, batch in texts.items():
        print(f"MPNet: {name} ({len(batch)} texts)", flush=True)
        vectors[name] = features.embed([sdata.spell_symbols(t) for t in batch])
    teacher, c = sentiment_encoders.fit_teacher(vectors, sets.labels, dict(zip(words, vectors.pop("words"))))
    scores = {s: teacher.score(vectors[s], sets.labels[s]) for s in ("test", "nyt")}
    print(f"teacher (C={c:g}): movie test {scores['test']:.4f}, NYT {scores['nyt']:.4f}")

    probs = teacher.predict_proba(vectors["general"])[:, 1]
    kept = confident_sample(probs, args.keep, args.seed, args.sure)
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")  # renamed into place whole: no half-written file
    rows = (f"{probs[i]:.4f}\t{' '.join(texts['general'][i].split())}\n" for i in kept)
    tmp.write_text("p_positive\tsentence\n" + "".join(rows), encoding="utf-8")
    tmp.replace(out)
    print(f"Wrote {out}: {len(kept)} of {len(probs)} sentences, {np.mean(probs[kept] > 0.5):.1%} positive")


if __name__ == "__main__":
    main()
