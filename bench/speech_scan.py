"""A 10-minute recording scanned by speech models: keywords found, and false detections.

Question (#13): ``glasswing predict speech --input long.wav --scan`` must find the
keywords said in a long recording and fire nowhere else. For each seed, one recording
is built: 20 keywords (one of each) and 20 other words, in shuffled order, one every
15 s, each said once by a held-out test voice of the dataset (``--split validation``: the
validation voices, to choose settings on) in a clean rendering (no room or line), over
Gaussian background noise at -50 dBFS RMS. Each model folder (and
its exported ``--tflite`` files) scans the same recordings with ``apps.scan``, exactly
as ``--scan`` does (with each ``--min-windows``), and is scored on:

- keywords found: the keyword's slot has a detection of that keyword;
- keywords with another keyword too: its slot also has a detection of another keyword
  (e.g. the tail of "stop" heard as "up");
- other words taken for a keyword: the slot of another word has a detection;
- detections in the background: anywhere no word was said.

    python bench/speech_scan.py models/speech OTHER_MODEL_DIR [--tflite int8] [--seeds 5]
        [--split validation] [--min-windows 1 2]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.append(str(HERE))

import report  # noqa: E402

SPACING_S = 15.0
BACKGROUND_DBFS = -50.0
PEAK = 0.5  # each word's peak level
SAMPLE_RATE = 16_000


def recording(
    data_dir: Path, rows: list[dict], seed: int
) -> tuple[np.ndarray, list[tuple[float, str, bool]]]:
    """The seed's recording by the voices of manifest ``rows`` (one split's), and its slots
    ``(start s, word, is a keyword)``."""
    from apps.speech import synth

    rng = np.random.default_rng(seed)

    def pick(candidates: list[dict]) -> dict:
        return candidates[rng.integers(len(candidates))]

    words = [pick([r for r in rows if r["label"] == k]) for k in synth.KEYWORDS]
    unknown = [r for r in rows if r["label"] == synth.UNKNOWN]
    others = rng.choice(sorted({r["word"] for r in unknown}), size=len(synth.KEYWORDS), replace=False)
    words += [pick([r for r in unknown if r["word"] == w]) for w in others]
    order = rng.permutation(len(words))
    audio = rng.normal(0, 10 ** (BACKGROUND_DBFS / 20), int(len(words) * SPACING_S * SAMPLE_RATE))
    slots = []
    cache = data_dir / synth.RENDITION_CACHE
    for i, k in enumerate(order):
        row = {**words[k], "channel": "", "gain": PEAK, "offset": 0.5}
        start = i * SPACING_S + SPACING_S / 2
        at = int(start * SAMPLE_RATE)
        audio[at : at + synth.CLIP_SAMPLES] += synth.render(row, seed, cache)
        slots.append((start, row["word"], row["label"] != synth.UNKNOWN))
    return np.clip(audio, -1, 1).astype(np.float32), slots


def score(found, slots) -> dict:
    """:func:`apps.scan.detections` against the slots (a slot spans its clip +-0.75 s).

    Keywords and other words are counted by slot (a word that fires twice counts once);
    the background by detection.
    """
    hit, mislabelled, fired, background = set(), set(), set(), 0
    for d in found:
        slot = next((s for s in slots if d.start_s < s[0] + 1.75 and d.end_s > s[0] - 0.75), None)
        if slot is None:
            background += 1
        elif not slot[2]:
            fired.add(slot[0])
        else:
            (hit if d.label == slot[1] else mislabelled).add(slot[0])
    return {
        "keywords found": len(hit),
        "keywords with another keyword too": len(mislabelled),
        "other words taken for a keyword": len(fired),
        "detections in background": background,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", nargs="+", help="speech model folders")
    parser.add_argument("--tflite", nargs="*", default=[], help="also scan with these exported files")
    parser.add_argument("--seeds", type=int, default=1, help="recordings (seeds 0..N-1)")
    parser.add_argument("--data", default="data/speech", help="the prepared speech dataset")
    parser.add_argument("--split", default="test", help="whose voices say the words (validation: to choose)")
    parser.add_argument(
        "--min-windows", type=int, nargs="+", default=[1, 2], help="scan.detections' min_windows to compare"
    )
    parser.add_argument("--markdown", help="append the table to this Markdown fragment")
    args = parser.parse_args()

    import soundfile

    from apps import artifacts, scan
    from apps.litert import LiteRTModel
    from apps.speech import APP, synth

    loaded = []
    for m in args.models:
        cfg, model = artifacts.load_trained(APP, Path(m))
        lite = {mode: LiteRTModel(Path(m) / "tflite" / f"{mode}.tflite") for mode in args.tflite}
        loaded.append((Path(m), cfg, model, lite))
    rows = [r for r in synth.read_manifest(Path(args.data)) if r["split"] == args.split]
    totals: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            audio, slots = recording(Path(args.data), rows, seed)
            path = Path(tmp) / f"scan{seed}.wav"
            soundfile.write(path, audio, SAMPLE_RATE)
            for folder, cfg, model, lite in loaded:
                signals, spans, _ = scan.windows(APP, cfg, path)
                runs = {"Keras": scan.classify(APP, model, cfg, signals)}
                runs.update({mode: runner(signals) for mode, runner in lite.items()})
                for (how, probs), least in itertools.product(runs.items(), args.min_windows):
                    found = scan.detections(probs, spans, APP.labels(cfg), min_windows=least)
                    counts = score(found, slots)
                    name = f"{folder} ({how}, min_windows {least})"
                    print(f"seed {seed} {name}: {counts}", flush=True)
                    total = totals.setdefault(name, dict.fromkeys(counts, 0))
                    for key, value in counts.items():
                        total[key] += value
    keys = list(next(iter(totals.values())))
    n = args.seeds
    headers = ["model", *(f"{k} (of {20 * n})" for k in keys[:3]), f"{keys[3]} ({n} x 10 min)"]
    text = report.table(headers, [[name, *(str(t[k]) for k in keys)] for name, t in totals.items()])
    print(text)
    report.append(args.markdown, text)


if __name__ == "__main__":
    main()
