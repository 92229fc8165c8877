"""Speech models side by side, per voice engine of the held-out test split and on real recordings.

For each model folder: accuracy on the current dataset's test split, per engine
(espeak-ng variants, each held-out natural voice, noise), the share of
``_unknown_`` test words accepted as a keyword, and, with ``--recordings DIR``
(a folder of labelled real recordings, e.g. ``<speaker>/<word>.wav``), accuracy,
top-2 and accuracy per speaker folder there. Every model is scored on the same
clips in one run, so the rows compare directly.

    python bench/speech_voices.py models/speech OTHER_MODEL_DIR [--recordings DIR] [--markdown F]
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

import report  # noqa: E402


def _test_clips(cfg) -> tuple[list[dict], np.ndarray]:
    import soundfile

    from apps.speech import data, synth

    root = data.clips_dir(cfg)
    rows = [r for r in synth.read_manifest(root) if r["split"] == "test"]
    clips = np.stack([soundfile.read(root / r["path"], dtype="float32")[0] for r in rows])
    return rows, clips


def _group(row: dict) -> str:
    return row["engine"] if row["engine"] in ("espeak-ng", "noise") else row["variant"]


def score(folder: Path, rows, clips, recordings: str | None) -> dict:
    """One model's accuracy per test-split engine, its unknown-word acceptance, and on the recordings."""
    from apps import artifacts, labelled
    from apps.speech import APP, data

    cfg, model = artifacts.load_trained(APP, folder)
    names = APP.labels(cfg)
    front = data.frontend(cfg)
    probs = np.concatenate(
        [np.asarray(model(front(clips[i : i + 256]), training=False)) for i in range(0, len(clips), 256)]
    )
    y = np.array([names.index(r["label"]) for r in rows])
    hits = probs.argmax(-1) == y
    groups = defaultdict(list)
    for row, hit in zip(rows, hits):
        groups[_group(row)].append(hit)
    unknown = y == names.index("_unknown_")
    out = {
        "test": float(hits.mean()),
        "groups": {g: (float(np.mean(v)), len(v)) for g, v in groups.items()},
        "unknown accepted": float(np.mean(probs[unknown].argmax(-1) != y[unknown])),
    }
    if recordings:
        dev = APP.labelled(recordings, names)
        p, kept = labelled.predict(APP, folder, cfg, model, dev)
        result = labelled.report(p, kept, names)
        out["recordings"] = (result["accuracy"], result.get("top2_accuracy"), len(kept.labels))
        out["speakers"] = {g: v["accuracy"] for g, v in result["groups"].items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", help="speech model folders")
    parser.add_argument("--recordings", help="a folder of labelled real recordings")
    parser.add_argument("--markdown", help="append the tables to this Markdown fragment")
    args = parser.parse_args()

    from apps import artifacts
    from apps.speech import APP

    rows, clips = _test_clips(artifacts.load_config(APP, Path(args.models[0])))
    results = {m: score(Path(m), rows, clips, args.recordings) for m in args.models}
    groups = sorted({g for r in results.values() for g in r["groups"]})
    n = {g: next(r["groups"][g][1] for r in results.values() if g in r["groups"]) for g in groups}
    headers = ["model", f"test ({len(rows)})", *(f"{g} ({n[g]})" for g in groups), "unknown words accepted"]
    if args.recordings:
        count = next(iter(results.values()))["recordings"][2]
        headers += [f"real recordings ({count})", "top-2"]
    table_rows = []
    for model, r in results.items():
        row = [model, f"{r['test']:.4f}", *(f"{r['groups'].get(g, (float('nan'),))[0]:.4f}" for g in groups)]
        row.append(f"{r['unknown accepted']:.3f}")
        if args.recordings:
            row += [f"{r['recordings'][0]:.4f}", f"{r['recordings'][1]:.4f}"]
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
