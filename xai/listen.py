"""Listen to an explanation: the recording, only what a map ranks highest, and the rest.

For an app whose model input is computed from a raw signal (``App.raw``) and that
can invert that computation (``RawInput.resynthesize``), the top-ranked regions
of an attribution map are kept (or removed) in the model input's own space and
turned back into sound. Each version is also classified from its resynthesized
signal, through the app's own front-end, so what a person hears and the numbers
shown beside it describe the same signal.

Regions are the modality's parts (``xai.segments``: time x mel patches for
audio), ranked by their mean attribution, so the kept sound is a few whole
patches rather than scattered bins.
"""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np

from apps.errors import GlasswingError
from xai import segments

VERSIONS = ("recorded", "kept", "removed")


@dataclasses.dataclass(frozen=True)
class Listening:
    """Three versions of one signal and the model's output on each.

    Attributes:
        sample_rate: Samples per second of every signal.
        signals: ``{"recorded" | "kept" | "removed": 1-D float signal}``.
        probs: The model's class probabilities on each signal, same keys.
        keep: The model-input-shaped 0/1 map of what "kept" keeps.
        fraction: Share of the regions kept.
    """

    sample_rate: int
    signals: dict
    probs: dict
    keep: np.ndarray
    fraction: float


def supports(app) -> bool:
    """Whether ``app`` can turn a masked model input back into its raw signal."""
    return app.raw is not None and app.raw.resynthesize is not None


def top_regions(app, x, values, fraction: float) -> np.ndarray:
    """0/1 map over ``x``: the ``fraction`` of the modality's regions with the highest mean attribution.

    At least one region is kept. Signed maps rank evidence *for* the class first.

    Raises:
        GlasswingError: ``fraction`` is not in (0, 1).
    """
    if not 0.0 < fraction < 1.0:
        raise GlasswingError(f"The kept fraction must be between 0 and 1, got {fraction}.")
    parts = segments.segment(app.modality, x)
    k = segments.n_segments(parts)
    flat, labels = np.asarray(values, np.float64).reshape(-1), parts.reshape(-1)
    real = labels >= 0
    means = np.bincount(labels[real], flat[real], k) / np.maximum(np.bincount(labels[real], minlength=k), 1)
    chosen = np.argsort(-means, kind="stable")[: max(1, math.ceil(fraction * k))]
    return np.isin(parts, chosen).astype(np.float32)


def listen(app, cfg, model, signal, values, fraction: float = 0.25) -> Listening:
    """The recording, its top-``fraction`` regions of ``values`` alone, and the recording without them.

    Args:
        app: An app for which :func:`supports` is true.
        cfg: The trained model's Config.
        model: The Keras model (takes the model input, not the raw signal).
        signal: One raw signal, as ``app.raw.load`` returns it.
        values: An attribution map over the model input of ``signal``.
        fraction: Share of the regions to keep.

    Raises:
        GlasswingError: The app cannot resynthesize, or the map does not fit the input.
    """
    if not supports(app):
        raise GlasswingError(f"App {app.name!r} cannot turn its model input back into a signal to listen to.")
    frontend = app.raw.frontend(cfg)
    x = np.asarray(frontend(np.asarray(signal, np.float32)[None]))[0]
    if np.shape(values) != x.shape:
        raise GlasswingError(f"The map has shape {np.shape(values)}, but the model input has {x.shape}.")
    keep = top_regions(app, x, values, fraction)
    signals = {
        "recorded": np.asarray(signal, np.float32),
        "kept": app.raw.resynthesize(signal, keep, cfg),
        "removed": app.raw.resynthesize(signal, 1.0 - keep, cfg),
    }
    batch = np.stack([signals[v] for v in VERSIONS])
    probs = np.asarray(model(frontend(batch), training=False))
    rate = int(app.raw.metadata(cfg)["sample_rate"])
    return Listening(rate, signals, dict(zip(VERSIONS, probs)), keep, fraction)


def wav_bytes(signal, sample_rate: int) -> bytes:
    """A 16-bit mono WAV file of ``signal`` (int16, or float in [-1, 1]).

    Written as is: players that rescale a float array to full volume (``st.audio``
    does) would make a quiet clip loud and divide by zero on silence.
    """
    import wave

    signal = np.asarray(signal)
    if signal.dtype != np.int16:
        signal = (np.clip(signal.astype(np.float32), -1.0, 1.0) * 32767).astype(np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(signal.astype("<i2").tobytes())
    return buffer.getvalue()


def sequence(listening: Listening, gap_s: float = 0.5) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """The three versions one after another with ``gap_s`` of silence between them.

    Returns:
        The joined signal and ``(version, start s, end s)`` for each part.
    """
    rate = listening.sample_rate
    gap = np.zeros(int(gap_s * rate), np.float32)
    parts, spans, at = [], [], 0.0
    for version in VERSIONS:
        clip = listening.signals[version]
        spans.append((version, at, at + len(clip) / rate))
        parts += [clip, gap]
        at += (len(clip) + len(gap)) / rate
    return np.concatenate(parts[:-1]), spans
