"""Acoustic conditions of a synthesized clip: the room, the line and the microphone.

A clean TTS word is nothing like a word said into a laptop in a kitchen. Each
clip of the dataset gets a *channel*: a short spec drawn from the dataset seed
(so it is stored in ``manifest.csv`` and the clip is reproducible), applied in
order after the word is placed in its 1-s window:

- ``speed=R``: resampling by R (tempo and pitch together, as Kaldi's speed perturbation);
- ``eq=G@F``: a microphone's coloration, a peaking filter of G dB at F Hz, and ``tilt=T`` a
  first-order spectral tilt;
- ``reverb=T``: a room with a reverberation time (RT60) of T seconds, a simulated
  impulse response (direct path, then exponentially decaying noise);
- ``phone``: a telephone band (300-3,400 Hz) through an 8 kHz round trip; ``8k``: the round
  trip alone;
- ``mulaw``: 8-bit mu-law companding (G.711); ``gsm``: a GSM 06.10 round trip through sox;
- ``clip=G``: gain G then hard clipping (an overdriven input); ``dc=D``: a DC offset.

Background noise at 0-30 dB SNR is added on the fly in training (``apps.speech.data.feature_augment``).
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

RATE = 16_000
# Probability of each effect, drawn independently per clip.
PROBABILITY = {
    "speed": 0.5,
    "eq": 0.5,
    "tilt": 0.3,
    "reverb": 0.4,
    "phone": 0.12,
    "8k": 0.08,
    "mulaw": 0.08,
    "gsm": 0.06,
    "clip": 0.05,
    "dc": 0.05,
}


def draw(rng: np.random.Generator) -> str:
    """A random channel spec such as ``"speed=1.07;reverb=0.42;phone"`` (``""``: clean)."""
    parts = []
    if rng.uniform() < PROBABILITY["speed"]:
        parts.append(f"speed={rng.uniform(0.85, 1.15):.3f}")
    if rng.uniform() < PROBABILITY["eq"]:
        parts.append(f"eq={rng.uniform(-9, 9):.1f}@{np.exp(rng.uniform(np.log(150), np.log(5000))):.0f}")
    if rng.uniform() < PROBABILITY["tilt"]:
        parts.append(f"tilt={rng.uniform(-0.9, 0.9):.2f}")
    if rng.uniform() < PROBABILITY["reverb"]:
        parts.append(f"reverb={rng.uniform(0.15, 0.9):.2f}")
    line = rng.uniform()
    if line < PROBABILITY["phone"]:
        parts.append("phone")
    elif line < PROBABILITY["phone"] + PROBABILITY["8k"]:
        parts.append("8k")
    codec = rng.uniform()
    if codec < PROBABILITY["mulaw"]:
        parts.append("mulaw")
    elif codec < PROBABILITY["mulaw"] + PROBABILITY["gsm"]:
        parts.append("gsm")
    if rng.uniform() < PROBABILITY["clip"]:
        parts.append(f"clip={rng.uniform(2, 6):.1f}")
    if rng.uniform() < PROBABILITY["dc"]:
        parts.append(f"dc={rng.uniform(-0.05, 0.05):.3f}")
    return ";".join(parts)


def _peaking(x: np.ndarray, gain_db: float, freq: float, q: float = 1.0) -> np.ndarray:
    """RBJ cookbook peaking biquad."""
    from scipy.signal import lfilter

    a_gain = 10 ** (gain_db / 40)
    w = 2 * np.pi * freq / RATE
    alpha = np.sin(w) / (2 * q)
    b = [1 + alpha * a_gain, -2 * np.cos(w), 1 - alpha * a_gain]
    a = [1 + alpha / a_gain, -2 * np.cos(w), 1 - alpha / a_gain]
    return lfilter(b, a, x)


def _tilt(x: np.ndarray, amount: float) -> np.ndarray:
    """First-order tilt: > 0 brightens (adds a first difference), < 0 darkens (leaky integration)."""
    from scipy.signal import lfilter

    if amount >= 0:
        return lfilter([1.0, -amount], [1.0], x)
    return lfilter([1.0 + amount], [1.0, amount], x)


def _reverb(x: np.ndarray, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Convolution with a simulated room response: direct path plus decaying diffuse noise."""
    from scipy.signal import fftconvolve

    n = int(rt60 * RATE)
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    pre_delay = int(rng.uniform(0.002, 0.02) * RATE)
    ir = np.zeros(n + pre_delay)
    ir[0] = 1.0
    ir[pre_delay:] += tail * rng.uniform(0.1, 0.4)
    wet = fftconvolve(x, ir)[: len(x)]
    return wet / max(np.abs(wet).max(), 1e-9) * max(np.abs(x).max(), 1e-9)


def _round_trip_8k(x: np.ndarray, band: bool) -> np.ndarray:
    from scipy.signal import butter, resample_poly, sosfilt

    low = resample_poly(x, 1, 2)
    if band:
        low = sosfilt(butter(4, [300, 3400], btype="bandpass", fs=RATE // 2, output="sos"), low)
    return resample_poly(low, 2, 1)[: len(x)]


def _mulaw(x: np.ndarray, mu: float = 255.0) -> np.ndarray:
    x = np.clip(x, -1, 1)
    code = np.round((np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu) + 1) / 2 * mu)
    y = code / mu * 2 - 1
    return np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu


def _gsm(x: np.ndarray) -> np.ndarray:
    """GSM 06.10 at 8 kHz and back, through sox (skipped if sox is missing)."""
    if shutil.which("sox") is None:
        return x
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    raw = ["-t", "raw", "-e", "signed", "-b", "16", "-c", "1"]
    encoded = subprocess.run(
        ["sox", *raw, "-r", str(RATE), "-", "-r", "8000", "-t", "gsm", "-"], input=pcm, capture_output=True
    )
    decoded = subprocess.run(
        ["sox", "-t", "gsm", "-r", "8000", "-", *raw, "-r", str(RATE), "-"],
        input=encoded.stdout,
        capture_output=True,
    )
    if encoded.returncode or decoded.returncode:
        return x
    y = np.frombuffer(decoded.stdout, "<i2").astype(np.float32) / 32768.0
    return np.pad(y, (0, max(0, len(x) - len(y))))[: len(x)]


def speed(audio: np.ndarray, spec: str) -> np.ndarray:
    """The word resampled by the spec's ``speed=R`` (before it is placed in its window)."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    for part in spec.split(";"):
        if part.startswith("speed="):
            ratio = Fraction(float(part[6:])).limit_denominator(100)
            return resample_poly(audio, ratio.denominator, ratio.numerator).astype(np.float32)
    return audio


def apply(clip: np.ndarray, spec: str, rng: np.random.Generator) -> np.ndarray:
    """The clip through the spec's room, line and microphone (``speed`` is applied by :func:`speed`)."""
    x = clip.astype(np.float64)
    peak = max(np.abs(x).max(), 1e-9)
    for part in filter(None, spec.split(";")):
        name, _, value = part.partition("=")
        if name == "eq":
            gain, freq = value.split("@")
            x = _peaking(x, float(gain), float(freq))
        elif name == "tilt":
            x = _tilt(x, float(value))
        elif name == "reverb":
            x = _reverb(x, float(value), rng)
        elif name in ("phone", "8k"):
            x = _round_trip_8k(x, band=name == "phone")
        elif name == "mulaw":
            x = _mulaw(x)
        elif name == "gsm":
            x = _gsm(x)
        elif name == "clip":
            x = np.clip(x / max(np.abs(x).max(), 1e-9) * float(value), -1, 1) * peak
        elif name == "dc":
            x = x + float(value)
    # Filters change the level; keep the planned peak level (the clip's gain).
    x = x / max(np.abs(x).max(), 1e-9) * peak
    return np.clip(x, -1, 1).astype(np.float32)
