"""Speech models side by side, per voice engine of the held-out test split and on real recordings.

For each model folder: accuracy on the current dataset's test split, per engine
(espeak-ng variants, each held-out natural voice, noise), the share of
``_unknown_`` test words accepted as a keyword, and, with ``--recordings DIR``
(a folder of labelled real recordings, e.g. ``<speaker>/<word>.wav``), accuracy,
top-2 and accuracy per speaker folder there. Every model is scored on the same
clips in one run, so the rows compare directly.

    python bench/speech_voices.py models/speech OTHER_MODEL_DIR [--recordings DIR] [--markdown F]
    python bench/speech_voices.py SEED1_DIR SEED2_DIR SEED3_DIR --seeds   # + mean ± sd and their ensemble
    python bench/speech_voices.py models/speech --pocketsphinx   # + PocketSphinx's keyword grammar

"keywords" is the accuracy on the keyword clips alone, the only ones a closed-set peer such as
PocketSphinx's grammar (``bench/pocketsphinx_peer.py``) can get right.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(HERE))

import pocketsphinx_peer  # noqa: E402
import report  # noqa: E402


def recordings_folder(text: str) -> Path:
    """argparse type of ``--recordings``: an existing folder, or argparse's one-line error naming it."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} {'is a file' if path.exists() else 'does not exist'}; expected a folder"
        )
    return path


def recordings_parser(doc: str) -> argparse.ArgumentParser:
    """The options of a bench that scores speech models on real recordings, beside PocketSphinx's grammar."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="speech model folders")
    parser.add_argument(
        "--recordings", type=recordings_folder, required=True, help="a folder of labelled real recordings"
    )
    parser.add_argument("--pocketsphinx", action="store_true", help="add PocketSphinx's keyword grammar")
    parser.add_argument("--markdown", help="append the table to this Markdown fragment")
    return parser


def _split_clips(cfg, split: str) -> tuple[list[dict], np.ndarray]:
    import soundfile

    from apps.speech import data, synth

    root = data.clips_dir(cfg)
    rows = [r for r in synth.read_manifest(root) if r["split"] == split]
    clips = np.stack([soundfile.read(root / r["path"], dtype="float32")[0] for r in rows])
    return rows, clips


def _group(row: dict) -> str:
    return row["engine"] if row["engine"] in ("espeak-ng", "noise") else row["variant"]


def predictor(folder: Path):
    """``(cfg, model, run)`` of a speech model folder; ``run`` maps 16 kHz float clips to probabilities."""
    from apps import artifacts, labelled
    from apps.speech import APP, data

    cfg, model = artifacts.load_trained(APP, folder)
    front = data.frontend(cfg)

    def run(clips):
        return labelled.in_chunks(lambda chunk: model(front(chunk), training=False), clips, 256)

    return cfg, model, run


def probabilities(folder: Path, clips, recordings: str | None) -> dict:
    """One model's class probabilities on the split's clips and, with ``recordings``, on those."""
    from apps import labelled
    from apps.speech import APP

    cfg, model, run = predictor(folder)
    names = APP.labels(cfg)
    out = {"names": names, "split": run(clips)}
    if recordings:
        out["recordings"] = labelled.predict(APP, folder, cfg, model, APP.labelled(recordings, names))
    return out


def pocketsphinx_probabilities(folder: Path, clips, recordings: str | None) -> dict:
    """PocketSphinx's keyword-grammar answers as one-hot probabilities, on the same clips and recordings."""
    from apps import artifacts, labelled
    from apps.speech import APP

    cfg = artifacts.load_config(APP, folder)
    names = APP.labels(cfg)
    run = pocketsphinx_peer.predictor(names)
    out = {"names": names, "split": labelled.in_chunks(run, clips, 256), "one_hot": True}
    if recordings:
        waves, kept = labelled.read(APP, folder, cfg, APP.labelled(recordings, names), raw_signal=True)
        out["recordings"] = (run(waves), kept)
    return out


def score(probs: dict, rows) -> dict:
    """Accuracy per test-split engine, unknown-word acceptance and recordings accuracy from ``probs``."""
    from apps import labelled

    names = probs["names"]
    y = np.array([names.index(r["label"]) for r in rows])
    hits = probs["split"].argmax(-1) == y
    groups = defaultdict(list)
    for row, hit in zip(rows, hits):
        groups[_group(row)].append(hit)
    unknown = y == names.index("_unknown_")
    keyword = ~unknown & (y != names.index("_silence_"))
    out = {
        "test": float(hits.mean()),
        "keywords": float(hits[keyword].mean()),
        "groups": {g: (float(np.mean(v)), len(v)) for g, v in groups.items()},
        "unknown accepted": float(np.mean(probs["split"][unknown].argmax(-1) != y[unknown])),
    }
    if "recordings" in probs:
        p, kept = probs["recordings"]
        result = labelled.report(p, kept, names)
        # A one-hot peer has no second choice: its top-2 would be an argsort tie.
        top2 = float("nan") if probs.get("one_hot") else result.get("top2_accuracy")
        out["recordings"] = (result["accuracy"], top2, len(kept.labels))
        out["speakers"] = {g: v["accuracy"] for g, v in result["groups"].items()}
    return out


def ensemble(members: list[dict]) -> dict:
    """The mean of several models' probabilities: what one graph averaging their softmaxes would give."""
    out = {"names": members[0]["names"], "split": np.mean([m["split"] for m in members], axis=0)}
    if "recordings" in members[0]:
        kept = members[0]["recordings"][1]
        out["recordings"] = (np.mean([m["recordings"][0] for m in members], axis=0), kept)
    return out


def _spread(values: list[float], digits: int) -> str:
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", help="speech model folders")
    parser.add_argument("--recordings", type=recordings_folder, help="a folder of labelled real recordings")
    parser.add_argument("--markdown", help="append the tables to this Markdown fragment")
    parser.add_argument(
        "--split",
        default="test",
        choices=("test", "validation"),
        help="the dataset split to score (validation: to choose between models without the test split)",
    )
    parser.add_argument(
        "--seeds",
        action="store_true",
        help=(
            "the models are seeds of one recipe: add their mean ± sd and their ensemble (mean probabilities)"
        ),
    )
    parser.add_argument(
        "--pocketsphinx",
        action="store_true",
        help="add PocketSphinx's en-us model with a grammar of the keywords (no training) as a row",
    )
    args = parser.parse_args()

    from apps import artifacts
    from apps.speech import APP

    rows, clips = _split_clips(artifacts.load_config(APP, Path(args.models[0])), args.split)
    probs = {m: probabilities(Path(m), clips, args.recordings) for m in args.models}
    if args.seeds:
        probs[f"ensemble of the {len(args.models)}"] = ensemble(list(probs.values()))
    if args.pocketsphinx:
        first = Path(args.models[0])
        probs[pocketsphinx_peer.NAME] = pocketsphinx_probabilities(first, clips, args.recordings)
    results = {m: score(p, rows) for m, p in probs.items()}
    groups = sorted({g for r in results.values() for g in r["groups"]})
    n = {g: next(r["groups"][g][1] for r in results.values() if g in r["groups"]) for g in groups}
    headers = [
        "model",
        f"{args.split} ({len(rows)})",
        *(f"{g} ({n[g]})" for g in groups),
        "keywords",
        "unknown words accepted",
    ]
    if args.recordings:
        count = next(iter(results.values()))["recordings"][2]
        headers += [f"real recordings ({count})", "top-2"]
    table_rows = []
    for model, r in results.items():
        row = [model, f"{r['test']:.4f}", *(f"{r['groups'].get(g, (float('nan'),))[0]:.4f}" for g in groups)]
        row.append(f"{r['keywords']:.4f}")
        row.append(f"{r['unknown accepted']:.3f}")
        if args.recordings:
            row += [f"{r['recordings'][0]:.4f}", f"{r['recordings'][1]:.4f}"]
        table_rows.append(row)
    if args.seeds:
        seeds = [results[m] for m in args.models]
        row = [f"**mean ± sd of the {len(seeds)}**", _spread([r["test"] for r in seeds], 4)]
        row += [_spread([r["groups"][g][0] for r in seeds if g in r["groups"]], 4) for g in groups]
        row.append(_spread([r["keywords"] for r in seeds], 4))
        row.append(_spread([r["unknown accepted"] for r in seeds], 3))
        if args.recordings:
            row += [_spread([r["recordings"][i] for r in seeds], 4) for i in (0, 1)]
        table_rows.append(row)
    text = report.table(headers, table_rows)
    if args.recordings:
        speakers = sorted({s for r in results.values() for s in r["speakers"]})
        text += "\n\n" + report.table(
            ["model", *speakers],
            [
                [m, *(f"{r['speakers'].get(s, float('nan')):.3f}" for s in speakers)]
                for m, r in results.items()
            ],
        )
    print(text)
    report.append(args.markdown, text)


if __name__ == "__main__":
    main()
