"""Sentiment: does MiniLM generalize further if it learns MPNet's sentence vectors, not only its labels?

The committed recipe distils all-mpnet-base-v2 into MiniLM through one bit per sentence (the
teacher's label, ``teacher_fraction``), and five variants of that stop 4 pt under the teacher
on NYT (results.md). Feature distillation hands over the whole 768-wide vector: the default
sentiment run (same training examples, optimizer, schedule and seed) with a second output, a
linear projection of MiniLM's pooled vector, pulled towards MPNet's vector of the same text by
a cosine loss weighted ``--weight``. The published classifier is the same graph as today's;
the projection exists only while training.

``--init lstsq`` starts the projection at the least-squares map from the pretrained (not yet
fine-tuned) MiniLM vectors to MPNet's, so the cosine loss pulls the encoder from the first
step instead of waiting for a random projection to learn at the encoder's 5e-5 rate; ``random``
is Keras' default initializer. Targets are centred on their mean and unit-normalised (the
shared component of every sentence vector says nothing about a sentence).

Each epoch's weights are scored on movie validation and test, NYT (never trained on), NYT's
clearly polar part and the checklist, as ``bench/sentiment_epochs.py`` does.

    python bench/sentiment_feature_distill.py --out DIR [--seed 42] [--weight 1] [--init lstsq]
        [--markdown F]

On 2 cores: ~7 minutes of MPNet over the 20,161 training texts
(kept in the app's vector cache, ``apps/sentiment/features.py``, for the next run), ~22 minutes
of training, ~3 of scoring.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.append(str(HERE))

import keras  # noqa: E402
import report  # noqa: E402
import sentiment as bench_sentiment  # noqa: E402
import tensorflow as tf  # noqa: E402
from sentiment_epochs import epoch_table, refuse_used_folder, score_epochs  # noqa: E402

from apps.errors import GlasswingError  # noqa: E402
from apps.sentiment import APP, encoder, features, mpnet  # noqa: E402
from apps.sentiment import data as sdata  # noqa: E402
from apps.sentiment import model as smodel  # noqa: E402
from apps.train import cosine_schedule  # noqa: E402

PROJECTION = "mpnet_projection"


def centred_unit(vectors: np.ndarray) -> np.ndarray:
    """Rows minus their mean, scaled to unit length."""
    centred = vectors - vectors.mean(axis=0)
    return centred / np.linalg.norm(centred, axis=1, keepdims=True)


def lstsq_projection(pooled: np.ndarray, targets: np.ndarray, ridge: float = 1e-3) -> tuple:
    """Ridge least-squares ``(kernel, bias)`` with ``pooled @ kernel + bias ~ targets``."""
    x = np.hstack([pooled, np.ones((len(pooled), 1), np.float32)])
    gram = x.T @ x + ridge * len(x) * np.eye(x.shape[1], dtype=np.float32)
    solution = np.linalg.solve(gram, x.T @ targets)
    return solution[:-1].astype(np.float32), solution[-1].astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, help="folder for each epoch's classifier weights")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--weight", type=float, default=1.0, help="the cosine loss' weight beside the label's"
    )
    parser.add_argument("--init", choices=("lstsq", "random"), default="lstsq")
    parser.add_argument("--markdown", help="append the table to this Markdown fragment")
    args = parser.parse_args()
    out = Path(args.out)
    refuse_used_folder(parser, out)
    if args.weight < 0:
        parser.error(f"--weight must be >= 0, not {args.weight}")
    cfg = APP.Config(seed=args.seed, baselines=False)
    try:
        mpnet.model_dir()
    except GlasswingError as err:
        raise SystemExit(str(err)) from None

    texts, labels = sdata.wordpiece_texts(cfg, "train")
    targets = centred_unit(features.embed(texts))
    ids = encoder.encode(encoder.load_tokenizer(str(encoder.package_tokenizer_path())), texts, cfg.seq_len)

    keras.utils.set_random_seed(cfg.seed)
    classifier = smodel.build(cfg)
    pooled = classifier.get_layer("mean_pool").output
    projection = keras.layers.Dense(targets.shape[1], name=PROJECTION)
    both = keras.Model(classifier.input, [classifier.output, projection(pooled)])
    if args.init == "lstsq":
        start = keras.Model(classifier.input, pooled).predict(ids, batch_size=256, verbose=0)
        projection.set_weights(list(lstsq_projection(start, targets)))
    both.compile(
        optimizer=classifier.optimizer,  # the recipe's own (AdamW), not yet built
        loss=["sparse_categorical_crossentropy", keras.losses.CosineSimilarity()],
        loss_weights=[1.0, args.weight],
    )
    train = (
        tf.data.Dataset.from_tensor_slices((ids, (labels, targets)))
        .shuffle(len(ids), seed=cfg.seed)
        .batch(cfg.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    out.mkdir(parents=True, exist_ok=True)
    save = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, _logs: classifier.save(out / f"epoch-{epoch + 1}.keras")
    )
    started = time.time()
    both.fit(
        train,
        epochs=cfg.epochs,
        verbose=2,
        callbacks=[keras.callbacks.LearningRateScheduler(cosine_schedule(cfg)), save],
    )
    print(f"trained in {time.time() - started:.0f} s", flush=True)

    epoch_files = [out / f"epoch-{n}.keras" for n in range(1, cfg.epochs + 1)]
    sets = bench_sentiment.load_sets(cfg)
    # No run folder is published here; the committed model's folder has the same tokenizer and seq_len.
    rows = score_epochs(sdata.REPO_MODEL_DIR, epoch_files, sets)
    title = (
        f"Sentiment, feature distillation from MPNet: weight {args.weight:g}, {args.init} projection, "
        f"{bench_sentiment.recipe(cfg)}, seed {cfg.seed}"
    )
    text = epoch_table(sets, rows)
    print(f"{title}\n\n{text}")
    report.append(args.markdown, f"### {title}\n\n{text}")


if __name__ == "__main__":
    main()
