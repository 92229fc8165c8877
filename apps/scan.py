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


def detections(probs, spans, labels, min_prob: float = 0.5) -> list[Detection]:
    """Runs of windows whose top class is one keyword with probability >= ``min_prob``.

    Overlapping windows that agree are one detection spanning all of them, so a
    word heard in three quarter-second-apart windows is reported once.
    """
    found: list[Detection] = []
    top, conf = probs.argmax(1), probs.max(1)
    previous = None  # index of the last window that extended a detection
    for i, (k, p) in enumerate(zip(top, conf)):
        label = labels[k]
        if is_background(label) or p < min_prob:
            previous = None
            continue
        if previous == i - 1 and found and found[-1].label == label:
            last = found[-1]
            found[-1] = dataclasses.replace(
                last, end_s=float(spans[i][1]), prob=max(last.prob, float(p)), windows=last.windows + 1
            )
        else:
            found.append(Detection(label, float(spans[i][0]), float(spans[i][1]), float(p), 1))
        previous = i
    return found
