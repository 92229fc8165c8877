"""Does fine-tuning cost the sentiment model its robustness outside movie reviews?

Two remedies from the robust fine-tuning literature, measured on the movie
validation/test splits, the NYT editorial snippets (another domain, never trained
on) and the behaviour checklist:

- **linear probe**: logistic regression on the frozen, pretrained MiniLM's mean-pooled
  sentence vectors (C picked on validation);
- **WiSE-FT** (Wortsman et al. 2022): the weights interpolated between the
  pretrained encoder with the probe's head (alpha = 0) and the committed
  fine-tuned model (alpha = 1).

Then, for the fine-tuned model, what a better decision rule would buy on NYT
(see :func:`decision_rows`).

    python bench/sentiment_wise.py [--model models/sentiment] [--markdown F]

About 15 minutes on 2 cores (each alpha runs the encoder over ~17,000 sentences).
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

from apps.sentiment import APP, encoder  # noqa: E402
from apps.sentiment import data as sdata  # noqa: E402
from apps.sentiment import model as smodel  # noqa: E402

ALPHAS = (0.0, 0.3, 0.5, 0.7, 0.85, 1.0)
SETS = ("validation", "test", "nyt", "nyt_clear", "checklist")


def encode_sets(cfg, texts: dict) -> dict:
    """Each named list of sentences as the pretrained tokenizer's ids, the way training encodes them."""
    tokenizer = encoder.load_tokenizer(str(encoder.package_tokenizer_path()))
    return {
        name: encoder.encode(tokenizer, [sdata.spell_symbols(t) for t in batch], cfg.seq_len)
        for name, batch in texts.items()
    }


def frozen_embeddings(model, ids: dict) -> dict:
    """The model's mean-pooled sentence vectors (its ``mean_pool`` layer) for each named id array."""
    import keras

    pooled = keras.Model(model.input, model.get_layer("mean_pool").output)
    return {name: pooled.predict(x, batch_size=256, verbose=0) for name, x in ids.items()}


def best_probe(x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, sample_weight=None):
    """The logistic regression with the C of ``C_GRID`` that scores best on validation: (model, C).

    ``sample_weight`` (optional, one per row of ``x``) weights the training rows, e.g. soft labels
    given as a positive and a negative copy of a sentence weighted p and 1 - p.
    """
    from sklearn.linear_model import LogisticRegression

    best = None
    for c in bench_sentiment.C_GRID:
        lr = LogisticRegression(C=c, max_iter=3000).fit(x, y, sample_weight=sample_weight)
        score = lr.score(x_val, y_val)
        if best is None or score > best[0]:
            best = (score, c, lr)
    return best[2], best[1]


def probe_head(embeddings: dict, labels: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """A 2-class softmax head equal to the best logistic regression on validation: (kernel, bias, C)."""
    lr, c = best_probe(embeddings["train"], labels["train"], embeddings["validation"], labels["validation"])
    w, b = lr.coef_[0], lr.intercept_[0]
    # softmax([-z/2, z/2]) = sigmoid(z): the same decision and probability as the regression.
    return np.stack([-w / 2, w / 2], 1).astype("float32"), np.array([-b / 2, b / 2], "float32"), c


def _logit(probs: np.ndarray) -> np.ndarray:
    return np.log(probs[:, 1] + 1e-9) - np.log(probs[:, 0] + 1e-9)


def decision_rows(probs: dict, sets) -> list[list[str]]:
    """How far a better decision rule gets the fine-tuned model on NYT.

    - its positive rate against the truth's;
    - the best threshold on its logit, chosen on NYT's own labels (a ceiling, not a method);
    - a VADER ensemble: logistic regression over [logit, VADER compound], fitted on the
      *movie validation* split (never on NYT).
    """
    from sklearn.linear_model import LogisticRegression
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    y = sets.labels["nyt"]
    logit = _logit(probs["nyt"])
    best = max((float(np.mean((logit > t) == y)), t) for t in np.arange(-3, 3.01, 0.25))
    analyzer = SentimentIntensityAnalyzer()

    def features(name):
        compound = [analyzer.polarity_scores(t)["compound"] for t in sets.texts[name]]
        return np.stack([_logit(probs[name]), compound], 1)

    ensemble = LogisticRegression(C=1.0).fit(features("validation"), sets.labels["validation"])
    return [
        ["positive rate: model / truth", f"{np.mean(logit > 0):.3f} / {np.mean(y):.3f}"],
        [f"best threshold on NYT's own labels (logit > {best[1]:g}; a ceiling)", f"{best[0]:.4f}"],
        ["+ VADER compound, combined on movie validation: NYT", f"{ensemble.score(features('nyt'), y):.4f}"],
        [
            "+ VADER compound, combined on movie validation: movie test",
            f"{ensemble.score(features('test'), sets.labels['test']):.4f}",
        ],
    ]


def main() -> None:
    import keras

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="models/sentiment", help="a fine-tuned minilm model folder")
    parser.add_argument("--markdown", help="append the table to this Markdown fragment")
    args = parser.parse_args()

    cfg = APP.Config()
    sets = bench_sentiment.load_sets(cfg)
    ids = encode_sets(cfg, sets.texts)
    tuned = keras.saving.load_model(Path(args.model) / "model.keras", compile=False)
    model = smodel.build(cfg)  # the pretrained encoder
    embeddings = frozen_embeddings(model, ids)
    kernel, bias, c = probe_head(embeddings, sets.labels)
    start = model.get_weights()
    paths = [w.path for w in model.weights]
    start[paths.index("probs/kernel")], start[paths.index("probs/bias")] = kernel, bias
    end = tuned.get_weights()
    rows = []
    for alpha in ALPHAS:
        model.set_weights([(1 - alpha) * a + alpha * b for a, b in zip(start, end)])
        probs = {name: model.predict(ids[name], batch_size=256, verbose=0) for name in SETS}
        acc = {name: float(np.mean(probs[name].argmax(-1) == sets.labels[name])) for name in SETS}
        what = "linear probe (frozen encoder)" if alpha == 0 else "fine-tuned" if alpha == 1 else "WiSE-FT"
        rows.append([f"{what}, alpha={alpha:g}", *(f"{acc[name]:.4f}" for name in SETS)])
        print(rows[-1], flush=True)
    headers = [
        "model",
        "movie validation",
        "movie test",
        "NYT editorials",
        "NYT clear (|score| >= 1)",
        "checklist",
    ]
    table = report.table(headers, rows)
    print(f"\nLinear probe C={c:g} (best on validation).\n\n{table}")
    # probs now holds the fine-tuned model's (alpha = 1, the last).
    ceiling = report.table(["NYT: what moving the decision would buy", "value"], decision_rows(probs, sets))
    print(f"\n{ceiling}")
    report.append(args.markdown, f"\n{table}\n\n{ceiling}\n")


if __name__ == "__main__":
    main()
