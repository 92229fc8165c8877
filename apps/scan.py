"""Scanning a long recording: classify every window and merge them into detections.

``glasswing predict APP FILE`` classifies one window (for speech, the loudest
second). A user's own recording is often longer and the loudest second is not
always the word (a cough, a door). ``--scan`` runs the model over every window
the app's :class:`~apps.app.RawInput` ``windows`` hook yields, through the same
front-end ``preprocess`` uses, and reports where each class was heard.

Background labels are the ones written ``_like_this_`` (the Speech Commands
convention for ``_silence_`` and ``_unknown_``): they never make a detection.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from apps.errors import GlasswingError

BATCH = 256
# A word lies whole in several overlapping windows (speech: a 0.5-s word in 3 of the 1-s windows a
# quarter second apart), while a window that holds only a fragment of a longer word, or the tail of
# a keyword, tops a keyword on its own. On 5 synthetic 10-minute recordings by the validation
# voices, 2 instead of 1: keyword slots with a second keyword 47 -> 3 of 100, other words taken for
# a keyword 93 -> 45 of 100, keywords found 95 -> 93 (bench/speech_scan.py, bench/results.md).
MIN_WINDOWS = 2


def is_background(label: str) -> bool:
    """``_silence_``, ``_unknown_``: classes that mean "no keyword here"."""
    return len(label) > 2 and label.startswith("_") and label.endswith("_")


@dataclasses.dataclass(frozen=True)
class Detection:
    """Consecutive windows whose top class is the same keyword."""

    label: str
    start_s: float
    end_s: float
    prob: float  # the highest top-1 probability among those windows
    windows: int


def scannable(app) -> bool:
    """Whether ``app`` yields the windows of a recording (a ``RawInput.windows`` hook)."""
    return app.raw is not None and app.raw.windows is not None


def require_scannable(app) -> None:
    """Raises a :class:`GlasswingError` unless ``app`` yields windows of a recording."""
    if not scannable(app):
        raise GlasswingError(f"--scan applies to apps that read long recordings; {app.name!r} does not.")


def windows(app, cfg, raw) -> tuple[np.ndarray, np.ndarray, str]:
    """Every window of ``raw`` as the model's raw signal.

    Returns:
        ``(signals (k, samples), spans (k, 2) start and end in s, note)``.

    Raises:
        GlasswingError: The app cannot scan (no ``raw.windows`` hook) or the input is unreadable.
    """
    require_scannable(app)
    signals, spans, note = app.raw.windows(raw, cfg)
    return signals, np.asarray(spans, dtype=float), note


def classify(app, model, cfg, signals) -> np.ndarray:
    """Keras class probabilities ``(k, classes)`` of raw ``signals``, through the app's front-end."""
    frontend = app.raw.frontend(cfg)
    probs = [
        np.asarray(model(frontend(signals[i : i + BATCH]), training=False))
        for i in range(0, len(signals), BATCH)
    ]
    return np.concatenate(probs)


def scan(app, model, cfg, raw) -> tuple[np.ndarray, np.ndarray, str]:
    """Keras class probabilities of every window of ``raw``.

    Returns:
        ``(probs (k, classes), spans (k, 2) start and end in s, note)``.

    Raises:
        GlasswingError: The app cannot scan (no ``raw.windows`` hook) or the input is unreadable.
    """
    signals, spans, note = windows(app, cfg, raw)
    return classify(app, model, cfg, signals), spans, note


def detections(
    probs, spans, labels, min_prob: float = 0.5, min_windows: int = MIN_WINDOWS
) -> list[Detection]:
    """Runs of windows whose top class is one keyword with probability >= ``min_prob``.

    Overlapping windows that agree are one detection spanning all of them, so a
    word heard in three quarter-second-apart windows is reported once. A run of
    fewer than ``min_windows`` windows is dropped unless it touches the recording's
    first or last window, where a word cut by the recording's edge may sit whole in
    only one.
    """
    runs: list[list] = []  # [label, first window, last window, highest probability]
    top, conf = probs.argmax(1), probs.max(1)
    for i, (k, p) in enumerate(zip(top, conf)):
        label = labels[k]
        if is_background(label) or p < min_prob:
            continue
        if runs and runs[-1][2] == i - 1 and runs[-1][0] == label:
            runs[-1][2], runs[-1][3] = i, max(runs[-1][3], float(p))
        else:
            runs.append([label, i, i, float(p)])
    edges = {0, len(top) - 1}
    return [
        Detection(label, float(spans[first][0]), float(spans[last][1]), prob, last - first + 1)
        for label, first, last, prob in runs
        if last - first + 1 >= min_windows or first in edges or last in edges
    ]
