"""Real recordings re-saved the way users' files come: phone rate, MP3, quiet, clipped, long, hum.

Each recording of ``--recordings`` (a folder of labelled real recordings, e.g.
``<speaker>/<word>.wav``) is decoded, changed by one condition, and written back as a
file to a scratch folder; that folder is then read exactly as ``glasswing evaluate
speech --data`` reads one (decoding, mixing down, resampling, the loudest 1-s window),
and every model, with ``--pocketsphinx`` also PocketSphinx's keyword grammar, is scored
on the same windows. So each column is what a user would see with files of that kind.

Conditions (``--conditions``, default all):

- ``original``: the files as they are;
- ``phone``: 300-3400 Hz band, 8 kHz, 16-bit WAV (a telephone line or a cheap headset);
- ``stereo44k``: 44.1 kHz, two channels, 16-bit WAV (a laptop's recorder);
- ``mp3``: MP3 at libsndfile's default variable bit rate (a phone's voice memo);
- ``ogg_low``: Ogg Vorbis at its lowest quality;
- ``quiet``: 30 dB quieter, 16-bit WAV (a far or badly set microphone);
- ``clipped``: 20 dB louder, clipped at full scale (a hot input);
- ``hum``: a DC offset of 0.05 and 50 Hz mains hum 20 dB below the word;
- ``long``: the word at a random time in 3 s of room tone (pink noise 30 dB below the
  word), so the reader must find it; one draw per ``--seeds``.

    python bench/speech_conditions.py models/speech [OTHER_MODEL ...] --recordings DIR
        [--conditions original,phone,...] [--seeds 5] [--pocketsphinx] [--markdown F]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.append(str(HERE))

import pocketsphinx_peer  # noqa: E402
import report  # noqa: E402
import speech_voices  # noqa: E402

# Conditions that draw random numbers: scored once per seed, the others once.
RANDOM = ("long",)
PHONE_RATE = 8000


def _power(wave: np.ndarray) -> float:
    """Mean power of the louder half of ``wave``'s samples: the word, not the silence around it."""
    squares = np.sort(wave.astype(np.float64) ** 2)
    return float(np.mean(squares[len(squares) // 2 :]) + 1e-12)


def _phone(wave, rate, rng):
    from scipy.signal import butter, sosfiltfilt

    from apps.speech import audio

    band = sosfiltfilt(butter(4, [300, 3400], btype="band", fs=rate, output="sos"), wave)
    return audio.to_mono(band, rate, PHONE_RATE), PHONE_RATE, {"subtype": "PCM_16"}


def _stereo44k(wave, rate, rng):
    from apps.speech import audio

    mono = audio.to_mono(wave, rate, 44_100)
    return np.stack([mono, mono], axis=1), 44_100, {"subtype": "PCM_16"}


def _gain(db: float):
    def change(wave, rate, rng):
        return np.clip(wave * 10 ** (db / 20), -1, 1), rate, {"subtype": "PCM_16"}

    return change


def _hum(wave, rate, rng):
    t = np.arange(len(wave)) / rate
    hum = np.sin(2 * np.pi * 50 * t) * np.sqrt(2 * _power(wave) / 100)  # 20 dB below the word
    return np.clip(wave + 0.05 + hum, -1, 1), rate, {"subtype": "PCM_16"}


def _long(wave, rate, rng):
    from apps.speech import synth

    total = 3 * rate
    tone = synth.noise("pink", total, rng).astype(np.float64)
    tone *= np.sqrt(_power(wave) / 1000 / np.mean(tone**2))  # 30 dB below the word
    start = int(rng.integers(0, total - len(wave)))
    tone[start : start + len(wave)] += wave
    return np.clip(tone, -1, 1), rate, {"subtype": "PCM_16"}


# name -> (change(wave, rate, rng) -> (wave, rate, soundfile options), file suffix)
CONDITIONS = {
    "original": (None, None),
    "phone": (_phone, ".wav"),
    "stereo44k": (_stereo44k, ".wav"),
    "mp3": (lambda w, r, g: (w, r, {"format": "MP3"}), ".mp3"),
    "ogg_low": (
        lambda w, r, g: (w, r, {"format": "OGG", "subtype": "VORBIS", "compression_level": 1.0}),
        ".ogg",
    ),
    "quiet": (_gain(-30), ".wav"),
    "clipped": (_gain(20), ".wav"),
    "hum": (_hum, ".wav"),
    "long": (_long, ".wav"),
}


def rewrite(recordings: Path, out: Path, condition: str, rng: np.random.Generator) -> int:
    """Writes every audio file of ``recordings`` (the types the reader takes) under ``out``, same
    relative path, changed by ``condition``.

    Returns:
        How many files were written.
    """
    import soundfile

    from apps.speech import audio

    change, suffix = CONDITIONS[condition]
    count = 0
    for path in sorted(p for p in recordings.rglob("*") if p.suffix.lower() in audio.EXTENSIONS):
        samples, rate = audio.decode(path)
        wave, rate, options = change(samples.mean(axis=1), rate, rng)
        target = (out / path.relative_to(recordings)).with_suffix(suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(target, np.asarray(wave, np.float32), rate, **options)
        count += 1
    return count


def main() -> None:
    parser = speech_voices.recordings_parser(__doc__)
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated; default: all")
    parser.add_argument("--seeds", type=int, default=5, help="draws of the random conditions (long)")
    args = parser.parse_args()

    from apps import labelled
    from apps.speech import APP

    conditions = [c.strip() for c in args.conditions.split(",")]
    for condition in conditions:
        if condition not in CONDITIONS:
            raise SystemExit(
                f"speech_conditions: unknown condition {condition!r}; use {', '.join(CONDITIONS)}."
            )
    recordings = args.recordings  # a Path, checked by recordings_folder
    runs = {m: speech_voices.predictor(Path(m)) for m in args.models}
    cfg = runs[args.models[0]][0]
    names = APP.labels(cfg)
    scorers = {m: run for m, (_, _, run) in runs.items()}
    if args.pocketsphinx:
        scorers[pocketsphinx_peer.NAME] = pocketsphinx_peer.predictor(names)

    def windows(folder: Path) -> tuple[np.ndarray, np.ndarray, int]:
        waves, kept = labelled.read(APP, args.models[0], cfg, APP.labelled(folder, names), raw_signal=True)
        return waves, np.array([names.index(label) for label in kept.labels]), len(kept.labels)

    scores = {m: {c: [] for c in conditions} for m in scorers}
    counts = {}
    for condition in conditions:
        draws = args.seeds if condition in RANDOM else 1
        for seed in range(draws):
            if condition == "original":
                waves, y, counts[condition] = windows(recordings)
            else:
                with tempfile.TemporaryDirectory() as scratch:
                    rewrite(recordings, Path(scratch), condition, np.random.default_rng(seed))
                    waves, y, counts[condition] = windows(Path(scratch))
            for m, run in scorers.items():
                scores[m][condition].append(float(np.mean(run(waves).argmax(-1) == y)))
        print(f"  {condition}: {counts[condition]} files, {draws} draw(s) scored", flush=True)

    headers = ["model", *(f"{c} ({counts[c]})" for c in conditions)]
    rows = [[m, *(report.mean_sd(scores[m][c]) for c in conditions)] for m in scorers]
    report.emit(headers, rows, args.markdown)


if __name__ == "__main__":
    report.run_main(main, "speech_conditions")
