"""Sentiment side by side: the baselines a sceptic tries first vs Glasswing's models.

On the movie test split (1,060 sentences, the app's own split), the NYT editorial
snippets (5,190 sentences, another domain, never trained on), its clearly polar
part (|mean score| >= 1) and the 56-sentence behaviour checklist:

- scikit-learn TF-IDF (word 1-2-grams + char 2-5-grams) + logistic regression,
  C picked on the validation split;
- NB-SVM-style log-count-ratio 1-3-grams + logistic regression, C on validation;
- the VADER lexicon (compound > 0), no training;
- Glasswing's linear bag of n-grams, trained here for each ``--linear-seeds``;
- every trained Glasswing model folder given with ``--runs`` (e.g. several seeds),
  with a mean +- sd per recipe (runs that differ only in seed) over its seeds.

    python bench/sentiment.py [--runs models/sentiment DIR ...] [--linear-seeds 42,1,2] [--markdown F]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(HERE))  # last, for bench/report.py only

import report  # noqa: E402

from apps import artifacts  # noqa: E402
from apps.sentiment import APP  # noqa: E402
from apps.sentiment import data as sdata  # noqa: E402

NYT = ROOT / "data" / "sentiment" / "nytEditorialSnippets_GroundTruth.txt"
CHECKLIST = ROOT / "data" / "sentiment" / "checklist.csv"
C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)


@dataclasses.dataclass
class Sets:
    """Texts and 0/1 labels of every evaluation set, and the training/validation splits."""

    texts: dict
    labels: dict
    groups: list[str]  # checklist capabilities


def load_sets(cfg) -> Sets:
    texts, labels = {}, {}
    for split in ("train", "validation", "test"):
        pairs = list(sdata.datasets.load_split(sdata._builder(cfg), split).as_numpy_iterator())
        texts[split] = [t.decode("utf-8") for t, _ in pairs]
        labels[split] = np.array([y for _, y in pairs])
    rows = sdata.read_snippets(NYT)
    texts["nyt"], labels["nyt"] = [r[2] for r in rows], np.array([int(r[1] > 0) for r in rows])
    clear = [r for r in rows if abs(r[1]) >= 1.0]
    texts["nyt_clear"], labels["nyt_clear"] = [r[2] for r in clear], np.array([int(r[1] > 0) for r in clear])
    checklist = sdata.read_labelled(CHECKLIST, sdata.LABELS)
    texts["checklist"] = checklist.inputs
    labels["checklist"] = np.array([sdata.LABELS.index(label) for label in checklist.labels])
    return Sets(texts, labels, checklist.groups)


EVAL = ("test", "nyt", "nyt_clear", "checklist")


def accuracies(predict, sets: Sets) -> dict:
    """``predict(texts) -> 0/1 array`` scored on every evaluation set, plus per-capability checklist."""
    out = {name: float(np.mean(predict(sets.texts[name]) == sets.labels[name])) for name in EVAL}
    hits = predict(sets.texts["checklist"]) == sets.labels["checklist"]
    out["capabilities"] = {
        g: float(np.mean(hits[[i for i, x in enumerate(sets.groups) if x == g]]))
        for g in dict.fromkeys(sets.groups)
    }
    return out


def _best_c(make, sets: Sets):
    """Fits ``make(C)`` for each C on train; keeps the one best on validation."""
    best = None
    for c in C_GRID:
        model = make(c).fit(sets.texts["train"], sets.labels["train"])
        score = float(np.mean(model.predict(sets.texts["validation"]) == sets.labels["validation"]))
        if best is None or score > best[0]:
            best = (score, c, model)
    return best[1], best[2]


def tfidf_lr(sets: Sets) -> tuple[dict, str]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    def make(c):
        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        )
        return make_pipeline(features, LogisticRegression(C=c, max_iter=2000))

    c, model = _best_c(make, sets)
    return accuracies(model.predict, sets), f"C={c:g} (best of {len(C_GRID)} on validation)"


class NBLogistic:
    """Wang & Manning (2012)-style: binary 1-3-gram counts scaled by their log-count ratio, then LR."""

    def __init__(self, c: float):
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.linear_model import LogisticRegression

        self.vectorizer = CountVectorizer(ngram_range=(1, 3), binary=True)
        self.model = LogisticRegression(C=c, max_iter=2000)

    def fit(self, texts, y):
        x = self.vectorizer.fit_transform(texts)
        p = np.asarray(x[y == 1].sum(0)).ravel() + 1.0
        q = np.asarray(x[y == 0].sum(0)).ravel() + 1.0
        self.r = np.log((p / p.sum()) / (q / q.sum()))
        self.model.fit(x.multiply(self.r).tocsr(), y)
        return self

    def predict(self, texts):
        return self.model.predict(self.vectorizer.transform(texts).multiply(self.r).tocsr())


def nbsvm(sets: Sets) -> tuple[dict, str]:
    c, model = _best_c(NBLogistic, sets)
    return accuracies(model.predict, sets), f"C={c:g} (best of {len(C_GRID)} on validation)"


def vader(sets: Sets) -> tuple[dict, str]:
    from importlib import metadata

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return accuracies(
        lambda texts: np.array([int(analyzer.polarity_scores(t)["compound"] > 0) for t in texts]), sets
    ), (f"vaderSentiment {metadata.version('vaderSentiment')}")


def glasswing_predictor(model, preprocess):
    from apps.evaluate import keras_predictor

    run = keras_predictor(model)

    def predict(texts):
        x = np.stack([preprocess(t) for t in texts])
        return np.concatenate([run(x[i : i + 256]) for i in range(0, len(x), 256)]).argmax(-1)

    return predict


def linear_run(seed: int, sets: Sets) -> tuple[dict, int, float]:
    """Glasswing's linear baseline (the App's own baseline Config) trained in memory with ``seed``."""
    from apps.baselines import fit_baseline
    from apps.sentiment.config import Config, baselines

    cfg = dataclasses.replace(next(iter(baselines(Config()).values())), seed=seed)
    start = time.time()
    model = fit_baseline(APP, cfg)
    seconds = time.time() - start
    vocab = sdata.vocabulary(cfg)
    predict = glasswing_predictor(model, lambda t: sdata.preprocess(t, vocab=vocab, seq_len=cfg.seq_len))
    return accuracies(predict, sets), model.count_params(), seconds


def _fmt(value) -> str:
    return "" if value is None else f"{value:.4f}"


def _mean_sd(values: list[float]) -> str:
    return f"**{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}**" if len(values) > 1 else ""


# Fields that do not make a different recipe: runs that differ only in these are seeds of one.
NOT_RECIPE = ("seed", "data_dir", "strategy", "mixed_precision", "jit_compile")


def recipe(run_cfg) -> str:
    """The arch, plus every setting that differs from the app's defaults (seeds and paths aside)."""
    default = APP.Config()
    changed = [
        f"{f.name}={getattr(run_cfg, f.name)}"
        for f in dataclasses.fields(run_cfg)
        if f.name not in (*NOT_RECIPE, "arch") and getattr(run_cfg, f.name) != getattr(default, f.name)
    ]
    return ", ".join([run_cfg.arch, *changed])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--runs", nargs="*", default=["models/sentiment"], help="trained sentiment model folders"
    )
    parser.add_argument("--linear-seeds", default="42,1,2", help="seeds of the Glasswing linear baseline")
    parser.add_argument("--markdown", help="append the tables to this Markdown fragment")
    args = parser.parse_args()

    cfg = APP.Config()
    sets = load_sets(cfg)
    headers = [
        "model",
        f"movie test ({len(sets.labels['test'])})",
        f"NYT editorials ({len(sets.labels['nyt'])})",
        f"NYT, clear (abs score >= 1) ({len(sets.labels['nyt_clear'])})",
        f"checklist ({len(sets.labels['checklist'])})",
        "train s",
        "params",
        "note",
    ]
    rows, per_model = [], {}

    def add(name, result, seconds=None, params=None, note=""):
        per_model[name] = result
        rows.append(
            [
                name,
                *(_fmt(result[k]) for k in EVAL),
                "" if seconds is None else f"{seconds:.0f}",
                "" if params is None else f"{params:,}",
                note,
            ]
        )
        print(rows[-1], flush=True)

    for name, fn in (
        ("scikit-learn TF-IDF word 1-2 + char 2-5, logistic regression", tfidf_lr),
        ("NB-SVM-style log-count-ratio 1-3-grams, logistic regression", nbsvm),
        ("VADER lexicon (compound > 0), no training", vader),
    ):
        start = time.time()
        try:
            result, note = fn(sets)
        except ImportError as err:
            rows.append([name, "", "", "", "", "", "", f"not run: {err}"])
            continue
        add(name, result, time.time() - start, None, note)

    by_recipe = {}
    seeds = [int(s) for s in args.linear_seeds.split(",") if s.strip()]
    for seed in seeds:
        result, params, seconds = linear_run(seed, sets)
        add(f"Glasswing linear bag of n-grams (seed {seed})", result, seconds, params)
        by_recipe.setdefault("linear", []).append(result)
    for run in args.runs:
        folder = Path(run)
        run_cfg = artifacts.load_config(APP, folder)
        model = artifacts.load_model(folder / artifacts.MODEL_FILE)
        metrics = artifacts.read_json(folder / artifacts.METRICS_FILE)
        result = accuracies(glasswing_predictor(model, APP.preprocessor(folder)), sets)
        add(
            f"Glasswing {recipe(run_cfg)} (seed {run_cfg.seed}, {folder})",
            result,
            metrics.get("wall_time_s"),
            model.count_params(),
        )
        by_recipe.setdefault(recipe(run_cfg), []).append(result)
    for name, results in by_recipe.items():
        if len(results) > 1:
            rows.append(
                [
                    f"**Glasswing {name}, mean ± sd over {len(results)} seeds**",
                    *(_mean_sd([r[k] for r in results]) for k in EVAL),
                    "",
                    "",
                    "",
                ]
            )
    text = report.table(headers, rows)
    capabilities = list(next(iter(per_model.values()))["capabilities"])
    names = list(per_model)
    cap_rows = [[cap, *(f"{per_model[n]['capabilities'][cap]:.2f}" for n in names)] for cap in capabilities]
    cap_text = report.table(["capability", *names], cap_rows)
    print(text)
    print(cap_text)
    report.append(
        args.markdown,
        "### Sentiment: baselines vs Glasswing, in-domain and beyond\n\n"
        "Movie test = the app's own split; NYT = VADER's NYT editorial snippets (label = mean score > 0), "
        "a development set never trained on; checklist = `data/sentiment/checklist.csv`.\n\n"
        + text
        + "\n\n#### Checklist pass rate per capability\n\n"
        + cap_text,
    )


if __name__ == "__main__":
    main()
