"""Sentiment: what each epoch of one training run scores, in domain and on NYT.

``glasswing train`` publishes the epoch with the lowest validation loss, so a run's other
epochs are never seen. This trains the sentiment app once (its default Config plus any
``--set``), keeps every epoch's weights, and scores each on the movie validation and test
splits, the NYT editorial snippets (never trained on), their clearly polar part and the
behaviour checklist, the sets ``bench/sentiment.py`` uses. It answers "would more passes over
the training data (or the teacher's sentences) help?" without one run per epoch count.

    python bench/sentiment_epochs.py --out DIR [--set epochs=3 --set seed=1 ...] [--markdown F]

The run is published under ``DIR/models``; each epoch's weights are ``DIR/epoch-N.keras``.
A default run takes ~10-12 minutes an epoch on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.append(str(HERE))

import keras  # noqa: E402
import report  # noqa: E402
import sentiment as bench_sentiment  # noqa: E402

from apps import artifacts  # noqa: E402
from apps.app import apply_overrides  # noqa: E402
from apps.errors import GlasswingError  # noqa: E402
from apps.sentiment import APP  # noqa: E402
from apps.train import train  # noqa: E402

SETS = ("validation", *bench_sentiment.EVAL)


def score_epochs(folder: Path, epoch_files: list[Path], sets) -> list[dict]:
    """Each epoch's weights scored on ``SETS`` with the published run's own preprocessing."""
    preprocess = APP.preprocessor(folder)
    rows = []
    for path in epoch_files:
        predict = bench_sentiment.glasswing_predictor(artifacts.load_model(path), preprocess)
        result = bench_sentiment.accuracies(predict, sets)
        hits = predict(sets.texts["validation"]) == sets.labels["validation"]
        rows.append({"validation": float(hits.mean()), **result})
    return rows


def epoch_table(sets, rows: list[dict]) -> str:
    """A Markdown table of ``score_epochs``' rows, one per epoch, each set's size in its header."""
    names = ("movie validation", "movie test", "NYT editorials", "NYT, clear (abs score >= 1)", "checklist")
    headers = ["epoch", *(f"{name} ({len(sets.labels[key])})" for name, key in zip(names, SETS))]
    table = [[n, *(f"{row[k]:.4f}" for k in SETS)] for n, row in enumerate(rows, start=1)]
    return report.table(headers, table)


def refuse_used_folder(parser: argparse.ArgumentParser, out: Path) -> None:
    """One argparse line if ``out`` already holds another run's epoch weights (they would be mixed up)."""
    if any(out.glob("epoch-*.keras")):
        parser.error(f"{out} already holds epoch weights from another run; give an empty or new folder.")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, help="folder for the run and its epochs' weights")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="Config override")
    parser.add_argument("--markdown", help="append the table to this Markdown fragment")
    args = parser.parse_args()
    out = Path(args.out)
    refuse_used_folder(parser, out)

    try:
        cfg = apply_overrides(APP.Config(), ["baselines=false", *args.set])
    except GlasswingError as err:
        parser.error(str(err))
    out.mkdir(parents=True, exist_ok=True)
    # Every epoch, not only the best: keep_best=False publishes the last, the files hold the rest.
    every_epoch = keras.callbacks.ModelCheckpoint(str(out / "epoch-{epoch}.keras"), save_best_only=False)
    folder = train(APP, cfg, models_dir=out / "models", callbacks=[every_epoch], keep_best=False)
    epoch_files = sorted(out.glob("epoch-*.keras"), key=lambda p: int(p.stem.split("-")[1]))

    sets = bench_sentiment.load_sets(cfg)
    rows = score_epochs(folder, epoch_files, sets)
    title = f"Sentiment, every epoch of one run: {bench_sentiment.recipe(cfg)}, seed {cfg.seed}"
    text = epoch_table(sets, rows)
    print(f"{title}\n\n{text}")
    report.append(args.markdown, f"### {title}\n\n{text}")


if __name__ == "__main__":
    main()
