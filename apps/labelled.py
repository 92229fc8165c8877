"""Scoring a model on the user's own labelled data: ``glasswing evaluate APP --data PATH``.

An app reads its format with its ``App.labelled`` hook (a file of sentences, a
folder of recordings, ...) into a :class:`Labelled`; everything after that is
shared: preprocessing with the model's own ``preprocess``, prediction by the
Keras model or an exported .tflite, and one report (accuracy overall and per
group, macro-F1, top-2, confusion matrix, the most confident misses).
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

import numpy as np

from apps.errors import GlasswingError
from apps.evaluate import classification_metrics

# "seven_02.wav" and "seven-2.wav" are the word "seven".
_TAKE_SUFFIX = re.compile(r"[_-]\d+$")


@dataclasses.dataclass
class Labelled:
    """Raw inputs with their true class names.

    Attributes:
        inputs: What the app's ``preprocess`` takes (a file path, a sentence).
        labels: The true class name of each input.
        names: A short name of each input for the report (a file, a line number).
        groups: The group of each input (a sub-folder, a CSV ``group`` column).
        skipped: ``(name, why)`` of inputs that could not be read or labelled.
        unknown: Names of inputs that hold no word the model knows (text models;
            they are still predicted, and the report lists them).
    """

    inputs: list
    labels: list[str]
    names: list[str]
    groups: list[str]
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    unknown: list[str] = dataclasses.field(default_factory=list)


def require_file(path) -> Path:
    """``path`` as a readable file, or one clear line that says what it is instead."""
    path = Path(path)
    if path.is_dir():
        raise GlasswingError(f"--data {path} is a folder; this app reads a file.")
    if not path.is_file():
        raise GlasswingError(f"--data {path} does not exist.")
    return path


def read_folder(root, labels: list[str], extensions: tuple[str, ...]) -> Labelled:
    """Files under ``root`` labelled by a ``<label>/`` folder or a ``<label>[_N].ext`` name.

    The folder name wins when it is a class; otherwise the file name (without a
    ``_N`` take number) must be one. The group of a file is its first folder
    below ``root``. Files of other types, and files with no class in their path,
    are listed in ``skipped``.

    Raises:
        GlasswingError: ``root`` is not a folder, or holds no labelled file.
    """
    root = Path(root)
    if not root.is_dir():
        raise GlasswingError(
            f"--data {root} {'is a file' if root.exists() else 'does not exist'}; expected a folder."
        )
    known = set(labels)
    data = Labelled([], [], [], [])
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = str(path.relative_to(root))
        if path.suffix.lower() not in extensions:
            if path.suffix.lower() not in (".csv", ".md", ".txt", ".json"):  # a set's own notes
                data.skipped.append((name, f"not one of {', '.join(extensions)}"))
            continue
        stem = _TAKE_SUFFIX.sub("", path.stem).lower()
        label = path.parent.name if path.parent != root and path.parent.name in known else stem
        if label not in known:
            data.skipped.append((name, f"neither {path.parent.name!r} nor {stem!r} is a class of this model"))
            continue
        parts = path.relative_to(root).parts
        data.inputs.append(path)
        data.labels.append(label)
        data.names.append(name)
        data.groups.append(parts[0] if len(parts) > 1 else ".")
    if not data.inputs:
        raise GlasswingError(_nothing_labelled(root, data, labels, extensions))
    return data


def _nothing_labelled(root: Path, data: Labelled, labels: list[str], extensions: tuple[str, ...]) -> str:
    """Why no file of ``root`` was taken: no file of a readable type, or no name that is a class."""
    classless = [name for name, why in data.skipped if "is a class" in why]
    if not classless:
        return (
            f"--data {root}: no {'/'.join(extensions)} file "
            f"(name files <class>{extensions[0]} or put them in <class>/ folders)."
        )
    shown = ", ".join(labels[:12]) + (", ..." if len(labels) > 12 else "")
    return (
        f"--data {root}: none of its {len(classless)} file(s) is named for a class of this model "
        f"(e.g. {classless[0]!r}); use <class>/ folders or <class>{extensions[0]} names, "
        f"with classes from: {shown}."
    )


def read(app, folder, cfg, data: Labelled, raw_signal: bool = False) -> tuple[np.ndarray, Labelled]:
    """Every readable input of ``data`` as the model takes it (or as its raw signal).

    Inputs ``preprocess`` refuses move to ``skipped``; inputs with no word the
    model knows are listed in ``unknown``.

    Args:
        raw_signal: Return a raw-input app's signal (what its .tflite takes)
            instead of the model input.

    Returns:
        ``(batch, kept)``: the inputs stacked, in the order of ``kept``.

    Raises:
        GlasswingError: No input could be read.
    """
    from apps.artifacts import known_words

    preprocess = app.preprocessor(folder)
    kept = Labelled([], [], [], [], list(data.skipped))
    features = []
    for raw, label, name, group in zip(data.inputs, data.labels, data.names, data.groups):
        try:
            x = preprocess(raw)
            if raw_signal and app.raw is not None:
                x = app.raw.load(raw, cfg)[0]
        except GlasswingError as err:
            kept.skipped.append((name, str(err)))
            continue
        features.append(x)
        if known_words(folder, x) == 0:
            kept.unknown.append(name)
        for field, value in zip(("inputs", "labels", "names", "groups"), (raw, label, name, group)):
            getattr(kept, field).append(value)
    if not features:
        raise GlasswingError("No input of --data could be read; see the skipped list above.")
    return np.stack(features), kept


def predict(app, folder, cfg, model, data: Labelled, lite=None) -> tuple[np.ndarray, Labelled]:
    """Class probabilities of every readable input, by ``model`` or by ``lite`` (a LiteRT runner).

    A raw-input app's .tflite gets the raw signal (it computes its own features),
    as in ``glasswing predict``.

    Returns:
        ``(probs, kept)``: probabilities in the order of ``kept``, the readable inputs.
    """
    batch, kept = read(app, folder, cfg, data, raw_signal=lite is not None)
    if lite is not None:
        return in_chunks(lite, batch, 1), kept
    from apps.evaluate import keras_predictor

    return in_chunks(keras_predictor(model), batch, 256), kept


def in_chunks(run, inputs: np.ndarray, size: int, every_s: float = 30.0, progress=print) -> np.ndarray:
    """``run`` over ``inputs`` ``size`` rows at a time, concatenated, with a progress line every ``every_s``.

    A large model on 2 cores scores a few thousand sentences in minutes (arch=mpnet: ~6 min for
    5,190), which should not look like a hang.
    """
    out, start = [], time.time()
    last = start
    for i in range(0, len(inputs), size):
        out.append(np.asarray(run(inputs[i : i + size])))
        if time.time() - last > every_s:
            last = time.time()
            progress(
                f"  scored {min(i + size, len(inputs)):,}/{len(inputs):,} in {last - start:.0f} s", flush=True
            )
    return np.concatenate(out)


def report(probs: np.ndarray, data: Labelled, labels: list[str], misses: int = 10) -> dict:
    """The JSON-ready report: metrics overall, per group, top-2, and the most confident misses."""
    index = {name: i for i, name in enumerate(labels)}
    y_true = np.array([index[label] for label in data.labels])
    metrics = classification_metrics(y_true, probs, labels)
    # Macro-F1 over the classes the data holds or the model predicted (sklearn's
    # default): a 22-class model scored on 11 words would else average in 11 zeros.
    per_class = metrics.pop("per_class")
    present = set(y_true.tolist()) | set(probs.argmax(axis=1).tolist())
    metrics["macro_f1"] = float(np.mean([per_class[labels[k]]["f1"] for k in sorted(present)]))
    order = np.argsort(-probs, axis=1)
    metrics["top2_accuracy"] = float(np.mean((order[:, :2] == y_true[:, None]).any(axis=1)))
    groups = {}
    for group in sorted(set(data.groups)):
        rows = [i for i, g in enumerate(data.groups) if g == group]
        groups[group] = {"n": len(rows), "accuracy": float(np.mean(order[rows, 0] == y_true[rows]))}
    metrics["groups"] = groups
    wrong = np.flatnonzero(order[:, 0] != y_true)
    wrong = wrong[np.argsort(-probs[wrong, order[wrong, 0]], kind="stable")]
    metrics["most_confident_errors"] = [
        {
            "input": data.names[i],
            "true": data.labels[i],
            "top3": [[labels[k], round(float(probs[i, k]), 4)] for k in order[i, :3]],
        }
        for i in wrong[:misses]
    ]
    metrics["skipped"] = [{"input": name, "why": why} for name, why in data.skipped]
    metrics["no_known_word"] = list(data.unknown)
    return metrics


def format_report(metrics: dict) -> str:
    """The report as text for a terminal."""
    labels = metrics["labels"]
    lines = [
        f"accuracy {metrics['accuracy']:.4f} on {metrics['n_examples']} examples; "
        f"macro F1 {metrics['macro_f1']:.4f}; top-2 {metrics['top2_accuracy']:.4f}"
    ]
    if len(metrics["groups"]) > 1:
        lines.append("per group:")
        lines += [f"  {g:40s} {row['accuracy']:.4f}  ({row['n']})" for g, row in metrics["groups"].items()]
    used = [
        i
        for i, row in enumerate(metrics["confusion_matrix"])
        if any(row) or any(r[i] for r in metrics["confusion_matrix"])
    ]
    width = max(6, *(len(labels[i]) for i in used)) + 1
    lines.append("confusion matrix (rows: true, columns: predicted):")
    lines.append(" " * width + "".join(f"{labels[i]:>{width}s}" for i in used))
    for i in used:
        lines.append(
            f"{labels[i]:>{width}s}" + "".join(f"{metrics['confusion_matrix'][i][j]:>{width}d}" for j in used)
        )
    if metrics["most_confident_errors"]:
        lines.append("most confident misses:")
        for row in metrics["most_confident_errors"]:
            top = ", ".join(f"{name} {p:.3f}" for name, p in row["top3"])
            lines.append(f"  {row['input'][:60]!r} (true {row['true']}): {top}")
    if metrics.get("no_known_word"):
        unknown = metrics["no_known_word"]
        lines.append(
            f"{len(unknown)} input(s) hold no word the model knows (predicted anyway): "
            + ", ".join(unknown[:5])
        )
    if metrics["skipped"]:
        lines.append(f"skipped {len(metrics['skipped'])}:")
        lines += [f"  {row['input']}: {row['why']}" for row in metrics["skipped"][:20]]
    return "\n".join(lines)
