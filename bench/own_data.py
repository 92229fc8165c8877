"""Your own data, measured: few-shot keywords, small digit sets and a text corpus, transfer vs scratch.

Every figure comes from ``glasswing train KIND --data ... --name ...`` itself. A
``--from`` run also trains the same architecture from scratch on the same split
(its ``metrics.json["baselines"]``), so both columns of a row are measured side
by side in one run. Data, all real and never generated from a template:

- **speech**: new words ("lights", "music", "computer") that the committed
  spotter never heard, spoken by the espeak-ng/flite/festival voices of the built-in
  dataset's *training* split (the user's recordings); tested on 30 clips per
  word by its held-out *test* voices, never used by any model, plus 60 other
  words (``_unknown_``) and 30 noises (``_silence_``) by the same voices, the
  false-alarm check (training gets its ``_unknown_``/``_silence_`` automatically).
  1, 3, 5, 10, 20 examples per word, over seeds (which voices record the
  examples); accuracy on all 180 test clips and on the 90 new-word clips alone.
- **image**: scikit-learn's 1,797 real 8x8 handwritten digits, as PNGs in a
  folder per class; 1, 5, 20 per class for training, a fixed 500-digit test set;
  ``--from image`` (the Fashion-MNIST CNN) vs scratch.
- **text**: Debian's ``fortunes`` package, one class per category file
  (computers, science, politics, law, education, food, love, sports), as a CSV;
  the default text model (fine-tuned MiniLM) beside its linear baseline.

    python bench/own_data.py [--only speech,image,text] [--seeds 3] [--markdown F]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(HERE))  # last, for bench/report.py only

import report  # noqa: E402

NEW_WORDS = ("lights", "music", "computer")
SHOTS = {"speech": (1, 3, 5, 10, 20), "image": (1, 5, 20)}
FORTUNES = Path("/usr/share/games/fortunes")
FORTUNE_CLASSES = ("computers", "science", "politics", "law", "education", "food", "love", "sports")
SCRATCH = "same architecture without --from"


def write_words(root: Path, words, per_word: int, split: str, seed: int) -> Path:
    """``root/<word>/<k>.wav``: ``per_word`` clips of each word by voices of the built-in ``split``.

    The voice split is the built-in dataset's (seed 42): test voices are unseen by the
    committed model. ``seed`` picks which voices and renditions record the examples.
    """
    import soundfile

    from apps.speech import synth

    rows = synth.plan(synth.espeak_variants(), 0, 4000, 0, 42, natural=synth.natural_variants())
    rows = [r for r in rows if r["split"] == split]
    picks = np.random.default_rng(seed).permutation(len(rows))
    for w, word in enumerate(words):
        (root / word).mkdir(parents=True, exist_ok=True)
        for k in range(per_word):
            row = {**rows[picks[w * per_word + k]], "word": word, "label": word}
            soundfile.write(root / word / f"{k}.wav", synth.render(row, seed), synth.SAMPLE_RATE)
    return root


def write_others(root: Path, unknown: int, silence: int, seed: int, words=NEW_WORDS) -> Path:
    """``root/_unknown_/`` (other words) and ``root/_silence_/`` (noise) clips by held-out test voices.

    A fixed false-alarm check beside the new words: the test set of every few-shot run.
    """
    import soundfile

    from apps.speech import synth

    rows = synth.plan(
        synth.espeak_variants(), 0, unknown * 20, silence * 20, 42, natural=synth.natural_variants()
    )
    pool = [w for w in (*synth.KEYWORDS, *synth.UNKNOWN_WORDS) if w not in words]
    rng = np.random.default_rng(seed)
    for label, n in ((synth.UNKNOWN, unknown), (synth.SILENCE, silence)):
        (root / label).mkdir(parents=True, exist_ok=True)
        picked = [r for r in rows if r["label"] == label and r["split"] == "test"][:n]
        for k, row in enumerate(picked):
            if label == synth.UNKNOWN:
                row = {**row, "word": pool[rng.integers(len(pool))]}
            soundfile.write(root / label / f"{k}.wav", synth.render(row, seed), synth.SAMPLE_RATE)
    return root


def write_digits(root: Path, per_class: int | None, seed: int, test: bool = False) -> Path:
    """scikit-learn's 8x8 digits as PNGs: the last 500 are the test set, ``per_class`` drawn from the rest."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * 255 / 16).astype(np.uint8)
    idx = np.arange(len(images) - 500, len(images)) if test else np.arange(len(images) - 500)
    rng = np.random.default_rng(seed)
    for label in range(10):
        mine = [i for i in idx if digits.target[i] == label]
        chosen = mine if test or per_class is None else rng.choice(mine, per_class, replace=False)
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        for i in chosen:
            Image.fromarray(images[i]).save(root / str(label) / f"{i}.png")
    return root


def fortunes_in(path: Path) -> list[str]:
    """The non-empty fortunes of one ``fortunes`` package file, each on one line (whitespace collapsed)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return [f for f in (" ".join(entry.split()) for entry in text.split("\n%\n")) if f]


def write_fortunes(path: Path) -> Path:
    """A ``text,label`` CSV of the ``fortunes`` package's category files (one fortune a row).

    Raises:
        SystemExit: The package is missing (``apt-get install fortunes``).
    """
    if not (FORTUNES / FORTUNE_CLASSES[0]).is_file():
        raise SystemExit("Debian's fortunes package is missing: apt-get install -y fortunes")
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("text", "label"))
        for label in FORTUNE_CLASSES:
            writer.writerows((fortune, label) for fortune in fortunes_in(FORTUNES / label))
    return path


def train(argv: list[str]) -> dict:
    """Runs ``glasswing train`` in this process; returns the published metrics.json."""
    import keras

    from apps.cli import main

    keras.backend.clear_session()
    models = Path(argv[argv.index("--models-dir") + 1])
    name = argv[argv.index("--name") + 1]
    code = main(argv)
    if code:
        raise SystemExit(f"glasswing train failed ({code}): {' '.join(argv)}")
    return json.loads((models / name / "metrics.json").read_text())


def _mean(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def curve(
    work: Path, kind: str, source: str, shots, seeds: int, write, test: Path, extra=()
) -> tuple[list, list]:
    """Test accuracy vs examples per class, ``--from source`` and from scratch (same run, same split).

    ``write(folder, k, seed)`` writes ``k`` training examples per class; ``test`` is the fixed test set;
    ``extra``: more ``glasswing train`` options.
    """
    rows, raw = [], []
    for k in shots:
        transfer, scratch, times, classes = [], [], [], []
        for seed in range(seeds):
            folder = write(work / f"{kind}_{k}_{seed}", k, seed)
            start = time.time()
            metrics = train(
                ["train", kind, "--data", str(folder), "--test-data", str(test),
                 "--name", f"{kind}_{k}_{seed}",
                 "--from", source, "--models-dir", str(work / "models"), "--set", f"data_dir={work / 'data'}",
                 "--set", f"seed={seed}", *extra]
            )  # fmt: skip
            times.append(time.time() - start)
            transfer.append(metrics["accuracy"])
            scratch.append(metrics["baselines"][SCRATCH]["accuracy"])
            classes.append(_user_class_accuracy(metrics, work / "models" / f"{kind}_{k}_{seed}"))
            raw.append(
                {"shots": k, "seed": seed, "transfer": transfer[-1], "scratch": scratch[-1], "s": times[-1]}
            )
            print(
                f"{kind} {k} per class, seed {seed}: "
                f"--from {source} {transfer[-1]:.3f}, scratch {scratch[-1]:.3f}"
            )
        rows.append([k, _mean(transfer), _mean(classes), _mean(scratch), f"{statistics.mean(times):.0f}"])
    return rows, raw


def _user_class_accuracy(metrics: dict, folder: Path) -> float:
    """Accuracy on the test examples of the user's own classes (not the ``_unknown_``/``_silence_`` added)."""
    matrix = np.asarray(metrics["confusion_matrix"])
    labels = (folder / "labels.txt").read_text().split()
    mine = [i for i, label in enumerate(labels) if not (label.startswith("_") and label.endswith("_"))]
    return float(matrix[np.ix_(mine, mine)].trace() / matrix[mine].sum())


def speech(work: Path, seeds: int, shots=SHOTS["speech"]) -> tuple[list, list]:
    """The few-shot curve: accuracy on held-out voices vs examples per new word, --from speech vs scratch."""
    test = write_words(work / "words_test", NEW_WORDS, 30, "test", seed=1000)
    write_others(test, unknown=60, silence=30, seed=1000)
    return curve(
        work,
        "speech",
        "speech",
        shots,
        seeds,
        lambda f, k, seed: write_words(f, NEW_WORDS, k, "train", seed),
        test,
    )


def image(work: Path, seeds: int, shots=SHOTS["image"]) -> tuple[list, list]:
    """Digits: accuracy on 500 held-out digits vs images per class, --from image vs scratch."""
    test = write_digits(work / "digits_test", None, 0, test=True)
    # A mirrored digit is another digit (or none): no flips, as a user of this data would set.
    rows, raw = curve(work, "image", "image", shots, seeds, write_digits, test, extra=("--set", "flip=false"))
    return [row[:2] + row[3:] for row in rows], raw  # no added classes: "own classes" = all


def text(work: Path) -> tuple[list, list]:
    """Fortunes by category: the default text model beside its linear baseline, same split."""
    data = write_fortunes(work / "fortunes.csv")
    start = time.time()
    metrics = train(
        ["train", "text", "--data", str(data), "--name", "fortunes", "--models-dir", str(work / "models"),
         "--set", f"data_dir={work / 'data'}"]
    )  # fmt: skip
    wall = time.time() - start
    rows = [["fine-tuned MiniLM (default)", f"{metrics['accuracy']:.3f}", f"{metrics['macro_f1']:.3f}"]]
    for name, row in metrics.get("baselines", {}).items():
        rows.append([name, f"{row['accuracy']:.3f}", f"{row['macro_f1']:.3f}"])
    rows.append(["majority class", f"{_majority(metrics):.3f}", ""])
    print(f"fortunes: {rows} in {wall:.0f} s; splits {metrics['split_sizes']}")
    return rows, [{"metrics": {k: metrics[k] for k in ("accuracy", "macro_f1", "split_sizes")}, "s": wall}]


def _majority(metrics: dict) -> float:
    matrix = np.asarray(metrics["confusion_matrix"])
    return float(matrix.sum(axis=1).max() / matrix.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="speech,image,text")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--markdown", default=None)
    parser.add_argument("--work", default=None, help="keep the data and models here (default: a temp folder)")
    args = parser.parse_args()
    only = args.only.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        if "speech" in only:
            rows, raw = speech(work, args.seeds)
            report.append(
                args.markdown,
                "### Few-shot keywords: new words, held-out voices\n\n"
                f"New words {', '.join(NEW_WORDS)} (never in the committed model's data) "
                "+ `_unknown_` + `_silence_`; examples per word by training-split voices, "
                "test = 30 clips per word by held-out voices plus 60 other words and 30 noises "
                "by the same voices (180 clips). "
                f"Mean ± sd over {args.seeds} seeds (which voices recorded the examples); "
                "`glasswing train speech --data words/ --test-data test/ --from speech`.\n\n"
                + report.table(
                    [
                        "examples per word",
                        "--from speech (all 180)",
                        "--from speech (new words)",
                        "from scratch (all)",
                        "run s (both)",
                    ],
                    rows,
                ),  # fmt: skip
            )
            print(json.dumps(raw))
        if "image" in only:
            rows, raw = image(work, args.seeds)
            report.append(
                args.markdown,
                "### Small image sets: scikit-learn's real 8x8 digits\n\n"
                "Test = the last 500 digits; training images per class drawn from the rest; "
                f"`--set flip=false`. Mean ± sd over {args.seeds} seeds; "
                "`glasswing train image --data digits/ --test-data test/ --from image`.\n\n"
                + report.table(
                    ["images per class", "--from image (Fashion-MNIST CNN)", "from scratch", "run s (both)"],
                    rows,
                ),
            )
            print(json.dumps(raw))
        if "text" in only:
            rows, raw = text(work)
            report.append(
                args.markdown,
                "### A text corpus: fortunes by category\n\n"
                f"Debian `fortunes` files {', '.join(FORTUNE_CLASSES)} as a CSV; "
                "seeded stratified 80/10/10 split; "
                "`glasswing train text --data fortunes.csv`.\n\n"
                + report.table(["model", "test accuracy", "macro F1"], rows),
            )
            print(json.dumps(raw))


if __name__ == "__main__":
    main()
