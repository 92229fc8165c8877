"""Reading a user's audio file into the 1-s, 16 kHz mono clip the model expects.

WAV, FLAC, OGG and MP3 of any sample rate, bit depth, length and channel count are
decoded with libsndfile (``soundfile``), mixed down to mono, resampled with a
polyphase filter and freed of any DC offset, then padded (short clips, centred) or
searched with a sliding 1-s window (long files: the loudest window wins, and the
note says which).
Anything unreadable becomes one :class:`GlasswingError` naming the problem.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np

from apps.errors import GlasswingError

MAX_SECONDS = 15 * 60
# A clip whose peak is below this (-40 dBFS) is called very quiet in the note: the real recordings
# held 49 of 52 at -40 dB of gain and 39 at -50 dB, the misses `_silence_` (bench/results.md).
QUIET_PEAK = 0.01
# A DC offset at least this large is named in the reader's note (smaller ones are removed silently).
DC_NOTED = 1e-3
FORMATS = "WAV, FLAC, OGG or MP3"


# File types libsndfile decodes that users bring: what `evaluate --data` reads and the
# dashboard's upload box takes (libsndfile has read MP3 since 1.1; the soundfile wheel ships 1.2).
EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")


def _libsndfile_reason(err: Exception) -> str:
    """libsndfile's own words without the in-memory object it names ("Error opening <_io.BytesIO ...>: ")."""
    text = re.sub(r"^Error opening <[^>]*>:\s*", "", str(err).strip())
    return text.rstrip(".") or type(err).__name__


def _read_bytes(raw) -> tuple[bytes, str]:
    """The bytes of a path, bytes-like or file-like input, and a name for messages."""
    if isinstance(raw, (str, Path)):
        path = Path(raw)
        if not path.is_file():
            raise GlasswingError(f"Audio file {path} does not exist.")
        return path.read_bytes(), path.name
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return bytes(raw), "the audio"
    if hasattr(raw, "getvalue"):
        return bytes(raw.getvalue()), getattr(raw, "name", "the upload")
    if hasattr(raw, "read"):
        return raw.read(), getattr(raw, "name", "the file")
    raise GlasswingError(f"Cannot read audio from a {type(raw).__name__}; give a file path or bytes.")


def decode(raw) -> tuple[np.ndarray, int]:
    """Decodes audio to ``(frames, channels)`` float32 in [-1, 1] and its sample rate.

    Raises:
        GlasswingError: Empty, not audio, corrupt, no samples, non-finite, or longer than 15 min.
    """
    import soundfile

    data, name = _read_bytes(raw)
    if not data:
        raise GlasswingError(f"{name} is empty (0 bytes); expected a {FORMATS} file.")
    try:
        info = soundfile.info(io.BytesIO(data))
        if info.duration > MAX_SECONDS:
            raise GlasswingError(
                f"{name} is {info.duration / 60:.1f} min long; the limit is {MAX_SECONDS // 60} min."
            )
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except GlasswingError:
        raise
    except Exception as err:  # libsndfile raises several types for unreadable data
        raise GlasswingError(
            f"{name} is not a readable {FORMATS} file (corrupt, truncated or another format): "
            f"{_libsndfile_reason(err)}."
        ) from None
    if samples.size == 0:
        raise GlasswingError(f"{name} holds no audio samples (a header without data, or truncated).")
    if not np.isfinite(samples).all():
        raise GlasswingError(f"{name} contains NaN or infinite samples.")
    return np.clip(samples, -1.0, 1.0), int(rate)


def to_mono(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Mixes ``(frames, channels)`` down to mono and resamples to ``target_rate``."""
    from scipy.signal import resample_poly

    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    if rate != target_rate:
        g = math.gcd(rate, target_rate)
        mono = resample_poly(mono, target_rate // g, rate // g)
    return np.clip(mono, -1.0, 1.0).astype(np.float32)


def window_starts(length: int, n: int) -> np.ndarray:
    """Start samples of the 1-s windows over ``length`` samples: quarter-window hops, the last flush."""
    if length <= n:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - n + 1, max(1, n // 4))
    if starts[-1] != length - n:
        starts = np.append(starts, length - n)
    return starts


def _padded(wave: np.ndarray, n: int) -> np.ndarray:
    """``wave`` (at most ``n`` samples) centred in ``n`` samples of silence."""
    left = (n - len(wave)) // 2
    clip = np.zeros(n, np.float32)
    clip[left : left + len(wave)] = wave
    return clip


def best_window(wave: np.ndarray, n: int, rate: int) -> tuple[np.ndarray, str]:
    """The clip of exactly ``n`` samples to classify, and where it came from.

    Shorter input is centred in silence; longer input is searched with a 1-s
    window in quarter-second steps and the loudest window is kept.
    """
    if len(wave) <= n:
        note = "" if len(wave) == n else f"padded {len(wave) / rate:.2f} s to {n / rate:.2f} s"
        return _padded(wave, n), note
    starts = window_starts(len(wave), n)
    power = np.concatenate([[0.0], np.cumsum(wave.astype(np.float64) ** 2)])
    energy = power[starts + n] - power[starts]
    start = int(starts[int(np.argmax(energy))])
    note = (
        f"loudest {n / rate:.0f}-s window of {len(wave) / rate:.2f} s: "
        f"{start / rate:.2f}-{(start + n) / rate:.2f} s"
    )
    return wave[start : start + n].copy(), note


def _mono_wave(raw, sample_rate: int) -> tuple[np.ndarray, list[str]]:
    """Any supported audio input -> mono float32 at ``sample_rate``, and what was done to it."""
    if isinstance(raw, np.ndarray):
        if raw.ndim != 1 or raw.size == 0:
            raise GlasswingError(f"A waveform array must be 1-D and non-empty, got shape {raw.shape}.")
        if not (np.issubdtype(raw.dtype, np.floating) or np.issubdtype(raw.dtype, np.integer)):
            raise GlasswingError(f"A waveform array must hold real numbers, got dtype {raw.dtype}.")
        if not np.isfinite(raw).all():
            raise GlasswingError("The waveform contains NaN or infinite samples.")
        # Full scale is [-1, 1], as a decoded file is; beyond it the power spectrum overflows
        # float32. load_clip's note then says the clip is clipped.
        return np.clip(raw.astype(np.float64), -1.0, 1.0).astype(np.float32), []
    samples, rate = decode(raw)
    # Before resampling: the resampler would turn the offset's edges into ringing.
    samples, offset = remove_dc(samples)
    wave = to_mono(samples, rate, sample_rate)
    steps = [f"{rate} Hz, {samples.shape[1]} channel{'s' if samples.shape[1] > 1 else ''}"]
    if rate != sample_rate or samples.shape[1] > 1:
        steps.append(f"converted to {sample_rate // 1000} kHz mono")
    if abs(offset) >= DC_NOTED:
        steps.append(f"DC offset {offset:+.3f} removed")
    return wave, steps


def remove_dc(samples: np.ndarray) -> tuple[np.ndarray, float]:
    """``(frames, channels)`` samples less each channel's mean, and the largest mean (signed).

    Some microphones and sound cards record with a constant offset. Speech has none; the
    training clips that get one (5 %, :mod:`apps.speech.channel`) carry it over the whole
    second. Left in, a short recording padded with silence (see :func:`best_window`) would
    carry a step at each edge: broadband clicks the model never heard in training.
    An offset of 0.05 cost the committed model 2 of 52 real recordings (bench/speech_conditions.py).
    """
    means = np.mean(samples, axis=0, dtype=np.float64)
    offset = float(means[np.argmax(np.abs(means))])
    # In float32 and in place: a 15-min 48 kHz stereo file is 350 MB already.
    centred = np.asarray(samples, np.float32) - means.astype(np.float32)
    return np.clip(centred, -1.0, 1.0, out=centred), offset


def load_clip(raw, sample_rate: int, clip_samples: int) -> tuple[np.ndarray, str]:
    """Any supported audio input -> ``(clip_samples,)`` float32 at ``sample_rate``, plus a note.

    ``raw`` may be a path, bytes, a file-like upload, or a 1-D float array that is
    already mono at ``sample_rate`` (e.g. a clip from the dataset).
    """
    wave, steps = _mono_wave(raw, sample_rate)
    clip, where = best_window(wave, clip_samples, sample_rate)
    peak = float(np.abs(clip).max())
    if peak == 0.0:
        steps.append("digital silence")
    elif peak >= 0.999:
        steps.append("clipped (peak at full scale)")
    elif peak < QUIET_PEAK:
        steps.append(
            f"very quiet (peak {20 * math.log10(peak):.0f} dBFS; words this faint are often heard as silence)"
        )
    return clip, "; ".join(s for s in [*steps, where] if s)


def load_windows(raw, sample_rate: int, clip_samples: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Every 1-s window of a recording, to scan it: ``(clips (k, clip_samples), spans (k, 2) in s, note)``.

    The windows are the ones :func:`best_window` chooses among (quarter-second
    hops, the last flush with the end); a recording of at most one clip is one
    centred, padded window starting at 0.
    """
    wave, steps = _mono_wave(raw, sample_rate)
    starts = window_starts(len(wave), clip_samples)
    if len(wave) <= clip_samples:
        clips = _padded(wave, clip_samples)[None]
    else:
        clips = np.stack([wave[s : s + clip_samples] for s in starts])
    steps.append(f"{len(clips)} window{'s' if len(clips) > 1 else ''} over {len(wave) / sample_rate:.2f} s")
    spans = np.stack([starts, starts + clip_samples], axis=1) / sample_rate
    return clips, spans, "; ".join(steps)
