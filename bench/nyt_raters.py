"""How well does one person agree with the NYT editorial labels? A human yardstick for NYT accuracy.

The NYT editorial snippets' label is the sign of the mean of 20 people's ratings (-4..4),
and 70 % of the snippets are near neutral. VADER's sdist also ships each person's
ratings (``nytEditorialSnippets_anonDataRatings.txt`` inside
``additional_resources/hutto_ICWSM_2014.tar.gz``). This script scores, per band of
|mean score|:

- one rater against the mean of the other 19 (rating > 0 = positive, as the label);
- the mean of 3 raters against the mean of the other 17 (drawn at random, seeded);
- with ``--model DIR``: a Glasswing sentiment model, and the VADER lexicon, against
  the label of all 20.

So an accuracy on NYT can be read against what a single person scores on it.

    python bench/nyt_raters.py [--ratings FILE] [--model models/sentiment] [--markdown F]

Without ``--ratings`` it downloads the installed vaderSentiment version's sdist with pip
(the only step that needs a package index); offline, get it once with
``pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d DIR`` and pass the
.tar.gz (or the .txt inside it) as ``--ratings``.
"""

from __future__ import annotations

import argparse
import ast
import io
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(HERE))  # last, for bench/report.py only

import report  # noqa: E402

RATINGS_NAME = "nytEditorialSnippets_anonDataRatings.txt"
NYT = ROOT / "data" / "sentiment" / "nytEditorialSnippets_GroundTruth.txt"
# Bands of |mean score| (upper bounds); the last is open.
BANDS = (0.5, 1.0, 2.0, np.inf)


def _find_in_tar(blob: bytes, name: str) -> bytes | None:
    """``name``'s bytes inside a (possibly nested) .tar.gz, or None."""
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            if member.name.endswith(name):
                return tar.extractfile(member).read()
            if member.name.endswith((".tar.gz", ".tgz", ".tar")):
                found = _find_in_tar(tar.extractfile(member).read(), name)
                if found is not None:
                    return found
    return None


def read_ratings(path: Path) -> dict[str, np.ndarray]:
    """Snippet id -> its raters' scores, from the ratings file or the vaderSentiment sdist holding it."""
    path = Path(path)
    if not path.is_file():
        raise SystemExit(f"{path} does not exist; pass the vaderSentiment sdist or {RATINGS_NAME}.")
    blob = path.read_bytes()
    if not path.name.endswith(".txt"):
        blob = _find_in_tar(blob, RATINGS_NAME)
        if blob is None:
            raise SystemExit(f"{path} holds no {RATINGS_NAME}.")
    ratings = {}
    for line in blob.decode("utf-8").splitlines():
        if line.strip():
            sid, _mean, _sd, scores = line.split("\t")
            ratings[sid] = np.array(ast.literal_eval(scores), dtype=float)
    return ratings


def download_sdist(folder: Path) -> Path:
    """The installed vaderSentiment version's sdist, fetched by pip into ``folder``.

    Raises:
        SystemExit: pip could not fetch it (offline, no index); says how to pass the file instead.
    """
    from importlib import metadata

    spec = f"vaderSentiment=={metadata.version('vaderSentiment')}"
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        spec,
        "-d",
        folder,
    ]
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True)
    found = sorted(Path(folder).glob("*.tar.gz"))
    if done.returncode != 0 or not found:
        raise SystemExit(
            f"Could not download the {spec} sdist (no package index reachable?); "
            f"download it elsewhere and pass --ratings FILE."
        )
    return found[0]


def rater_agreement(ratings: list[np.ndarray], k: int, rng: np.random.Generator) -> np.ndarray:
    """Per snippet: does the mean of ``k`` random raters have the sign (> 0) of the others' mean?"""
    hits = []
    for scores in ratings:
        if k == 1:
            # Every rater in turn, averaged: the expected agreement of one person.
            others = (scores.sum() - scores) / (len(scores) - 1)
            hits.append(np.mean((scores > 0) == (others > 0)))
        else:
            order = rng.permutation(len(scores))
            hits.append(float((scores[order[:k]].mean() > 0) == (scores[order[k:]].mean() > 0)))
    return np.array(hits)


def band_of(means: np.ndarray) -> np.ndarray:
    """Index into ``BANDS`` of each |mean score|."""
    return np.searchsorted(np.array(BANDS), np.abs(means), side="right").clip(max=len(BANDS) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--ratings", type=Path, help=f"{RATINGS_NAME} or the vaderSentiment sdist (default: download it)"
    )
    parser.add_argument(
        "--model", type=Path, help="also score this Glasswing sentiment model folder, and VADER"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the 3-rater draws")
    parser.add_argument("--markdown", help="append the table to this Markdown fragment")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        ratings = read_ratings(args.ratings or download_sdist(Path(folder)))
    rows = [line.split("\t") for line in NYT.read_text(encoding="utf-8").splitlines() if line.strip()]
    missing = [r[0] for r in rows if r[0] not in ratings]
    if missing:
        raise SystemExit(f"{len(missing)} NYT snippets have no ratings (first: {missing[0]}).")
    scores = [ratings[r[0]] for r in rows]
    means = np.array([s.mean() for s in scores])
    labels = means > 0
    rng = np.random.default_rng(args.seed)
    columns = {
        "one rater vs the other 19": rater_agreement(scores, 1, rng),
        "3 raters' mean vs the other 17": rater_agreement(scores, 3, rng),
    }
    if args.model:
        from sentiment import glasswing_predictor
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        from apps import artifacts
        from apps.sentiment import APP

        texts = [r[2] for r in rows]
        model = artifacts.load_model(args.model / artifacts.MODEL_FILE)
        predicted = glasswing_predictor(model, APP.preprocessor(args.model))(texts)
        columns[f"Glasswing ({args.model})"] = (predicted == labels).astype(float)
        analyzer = SentimentIntensityAnalyzer()
        vader = np.array([analyzer.polarity_scores(t)["compound"] > 0 for t in texts])
        columns["VADER lexicon"] = (vader == labels).astype(float)

    bands = band_of(means)
    names = [f"{lo:g} <= abs mean < {hi:g}" for lo, hi in zip((0.0,) + BANDS[:-1], BANDS)]
    names[-1] = f"abs mean >= {BANDS[-2]:g}"
    table = []
    for index, name in enumerate(names):
        mask = bands == index
        table.append([name, str(int(mask.sum())), *(f"{hits[mask].mean():.4f}" for hits in columns.values())])
    table.append(["**all**", str(len(means)), *(f"**{hits.mean():.4f}**" for hits in columns.values())])
    lines = [
        "### Sentiment: NYT accuracy against one person's",
        "",
        f"`python bench/nyt_raters.py{' --model ' + str(args.model) if args.model else ''}` "
        f"(ratings from the vaderSentiment sdist): "
        f"{len(means)} snippets, 20 raters each, label = mean > 0.",
        "",
        report.table(["abs mean score", "n", *columns], table),
    ]
    print("\n".join(lines))
    report.append(args.markdown, "\n".join(lines))


if __name__ == "__main__":
    main()
