"""Google's pretrained speech embedding under a small head, alone and averaged with the DS-CNN.

Question (#13): the DS-CNN learns its features from synthesized voices only. Does a
feature extractor pretrained on real speech (``apps/speech/embedding.py``: Lin et al.
2020, frozen) carry over better to voices neither model heard, and does it add to the
DS-CNN?

For each seed, a head (flatten, batch norm, dense 256 + ReLU, dropout 0.2, softmax) is
trained on the embeddings of the training split's clips (as synthesized: no further
augmentation), with early stopping on the validation split. Scored on the test split
per engine and on ``--recordings DIR``, side by side with the DS-CNN model folder given
and with the mean of the two models' probabilities (equal weights, fixed before any run).

    python bench/speech_embedding.py models/speech --recordings DIR [--seeds 3] [--markdown F]
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

import report  # noqa: E402
import speech_voices  # noqa: E402

SEEDS = (42, 1, 2)


def train_head(x: np.ndarray, y: np.ndarray, val: tuple[np.ndarray, np.ndarray], classes: int, seed: int):
    """The head over ``(windows, 96)`` embeddings, early-stopped on ``val``."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(x.shape[1:])
    h = keras.layers.BatchNormalization()(keras.layers.Flatten()(inputs))
    h = keras.layers.Dropout(0.2)(keras.layers.Dense(256, activation="relu")(h))
    model = keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(h))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(
        x,
        y,
        batch_size=128,
        epochs=30,
        verbose=0,
        validation_data=val,
        callbacks=[keras.callbacks.EarlyStopping(patience=4, restore_best_weights=True)],
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", help="the DS-CNN model folder to compare with and average")
    parser.add_argument(
        "--recordings", type=speech_voices.recordings_folder, help="a folder of labelled real recordings"
    )
    parser.add_argument("--seeds", type=int, default=3, help="head seeds (42, 1, 2)")
    parser.add_argument("--markdown", help="append the tables to this Markdown fragment")
    args = parser.parse_args()

    from apps import artifacts, labelled
    from apps.speech import APP, embedding

    cfg = artifacts.load_config(APP, Path(args.model))
    start = time.time()
    splits = {s: speech_voices._split_clips(cfg, s) for s in ("train", "validation", "test")}
    names = APP.labels(cfg)
    feats = {s: embedding.embed(clips) for s, (_, clips) in splits.items()}
    ys = {s: np.array([names.index(r["label"]) for r in rows]) for s, (rows, _) in splits.items()}
    print(
        f"embedded {sum(len(v) for v in feats.values()):,} clips in {time.time() - start:.0f} s", flush=True
    )

    dscnn = speech_voices.probabilities(Path(args.model), splits["test"][1], args.recordings)
    rec_feats = None
    if args.recordings:
        waves, kept = labelled.read(
            APP, Path(args.model), cfg, APP.labelled(args.recordings, names), raw_signal=True
        )
        rec_feats, rec_kept = embedding.embed(waves), kept

    probs = {f"DS-CNN ({args.model})": dscnn}
    heads, fused = [], []
    for seed in SEEDS[: args.seeds]:
        t = time.time()
        head = train_head(
            feats["train"], ys["train"], (feats["validation"], ys["validation"]), len(names), seed
        )
        p = {"names": names, "split": head.predict(feats["test"], verbose=0)}
        if rec_feats is not None:
            p["recordings"] = (head.predict(rec_feats, verbose=0), rec_kept)
        print(f"head seed {seed}: {time.time() - t:.0f} s", flush=True)
        probs[f"embedding + head, seed {seed}"] = p
        probs[f"mean of DS-CNN and head {seed}"] = speech_voices.ensemble([dscnn, p])
        heads.append(f"embedding + head, seed {seed}")
        fused.append(f"mean of DS-CNN and head {seed}")

    rows = splits["test"][0]
    results = {m: speech_voices.score(p, rows) for m, p in probs.items()}
    groups = sorted({g for r in results.values() for g in r["groups"]})
    headers = ["model", f"test ({len(rows)})", *groups, "unknown words accepted"]
    if args.recordings:
        headers += ["real recordings", "top-2"]

    def cells(r):
        out = [
            f"{r['test']:.4f}",
            *(f"{r['groups'][g][0]:.4f}" for g in groups),
            f"{r['unknown accepted']:.3f}",
        ]
        return out + ([f"{r['recordings'][0]:.4f}", f"{r['recordings'][1]:.4f}"] if args.recordings else [])

    def spread(members):
        rs = [results[m] for m in members]
        out = [speech_voices._spread([r["test"] for r in rs], 4)]
        out += [speech_voices._spread([r["groups"][g][0] for r in rs], 4) for g in groups]
        out.append(speech_voices._spread([r["unknown accepted"] for r in rs], 3))
        if args.recordings:
            out += [speech_voices._spread([r["recordings"][i] for r in rs], 4) for i in (0, 1)]
        return out

    table = [[m, *cells(r)] for m, r in results.items()]
    if len(heads) > 1:
        table += [
            ["**embedding + head, mean ± sd**", *spread(heads)],
            ["**mean of the two, mean ± sd**", *spread(fused)],
        ]
    text = report.table(headers, table)
    print(text)
    report.append(args.markdown, text)


if __name__ == "__main__":
    main()
