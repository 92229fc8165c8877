"""Real recordings under added noise: speech models and PocketSphinx's keyword grammar side by side.

Every recording of ``--recordings`` (a folder of labelled real recordings, read as
``glasswing evaluate --data`` reads it: the 1-s window the app scores) gets noise at each
signal-to-noise ratio of ``--snr`` (dB, over the whole window's power; ``clean``: none),
one draw per seed and kind, the same at every SNR, and every model is scored on the same noisy windows.
Noise kinds:

- ``pink``: 1/f noise, one of the kinds the app trains with (``apps/speech/synth.noise``);
- ``babble``: six voices saying other words at once, made as ``--set babble_share`` makes
  the app's training babble (``apps/speech/data.babble``) but from the dataset's test split,
  voices no model trained on.

Accuracy is the mean ± sd over ``--seeds`` noise draws (a small set moves by whole clips).

    python bench/speech_noisy.py models/speech [OTHER_MODEL ...] --recordings DIR
        [--snr clean,20,10,5,0] [--kinds pink,babble] [--seeds 5] [--pocketsphinx] [--markdown F]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.append(str(HERE))

import pocketsphinx_peer  # noqa: E402
import report  # noqa: E402
import speech_voices  # noqa: E402


def noise_for(kind: str, count: int, length: int, rng: np.random.Generator, cfg) -> np.ndarray:
    """``count`` noises of ``kind``, ``length`` samples each.

    ``pink`` is the app's own 1/f noise; ``babble`` is the app's babble
    (``apps/speech/data.babble``) from the test split's other words, cut to ``length``.
    """
    from apps.speech import data, synth

    if kind == "pink":
        return np.stack([synth.noise(kind, length, rng) for _ in range(count)])
    return data.babble(data.clips_dir(cfg), count, rng, split="test")[:, :length]


def at_snr(waves: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``waves`` plus ``noise`` scaled to ``snr_db`` below each wave's power, clipped to [-1, 1]."""
    power = np.mean(waves**2, axis=1, keepdims=True)
    noise_power = np.maximum(np.mean(noise**2, axis=1, keepdims=True), 1e-12)
    scale = np.sqrt(power / noise_power / 10 ** (snr_db / 10))
    return np.clip(waves + scale * noise, -1, 1).astype(np.float32)


def main() -> None:
    parser = speech_voices.recordings_parser(__doc__)
    parser.add_argument("--snr", default="clean,20,10,5,0", help="comma-separated dB values, or clean")
    parser.add_argument("--kinds", default="pink,babble", help="noise kinds: pink, babble")
    parser.add_argument("--seeds", type=int, default=5, help="noise draws per condition")
    args = parser.parse_args()

    from apps import labelled
    from apps.speech import APP

    snrs = [s.strip() for s in args.snr.split(",")]
    kinds = [k.strip() for k in args.kinds.split(",")]
    for kind in kinds:
        if kind not in ("pink", "babble"):
            raise SystemExit(f"speech_noisy: unknown noise kind {kind!r}; use pink or babble.")
    for snr in snrs:
        if snr != "clean":
            try:
                float(snr)
            except ValueError:
                raise SystemExit(f"speech_noisy: --snr {snr!r} is not a number of dB or clean.") from None

    runs = {m: speech_voices.predictor(Path(m)) for m in args.models}
    cfg = runs[args.models[0]][0]
    names = APP.labels(cfg)
    waves, kept = labelled.read(
        APP, args.models[0], cfg, APP.labelled(args.recordings, names), raw_signal=True
    )
    y = np.array([names.index(label) for label in kept.labels])
    scorers = {m: run for m, (_, _, run) in runs.items()}
    if args.pocketsphinx:
        scorers[pocketsphinx_peer.NAME] = pocketsphinx_peer.predictor(names)

    conditions = [(k, s) for k in kinds for s in snrs if s != "clean"]
    if "clean" in snrs:
        conditions.insert(0, ("clean", "clean"))
    scores = {m: {c: [] for c in conditions} for m in scorers}

    def score(condition, clips):
        for m, run in scorers.items():
            scores[m][condition].append(float(np.mean(run(clips).argmax(-1) == y)))

    if "clean" in snrs:
        score(("clean", "clean"), waves)
    for k, kind in enumerate(kinds):
        for seed in range(args.seeds):
            noise = noise_for(kind, len(waves), waves.shape[1], np.random.default_rng([seed, k]), cfg)
            for snr in snrs:
                if snr != "clean":
                    score((kind, snr), at_snr(waves, noise, float(snr)))
        print(f"  {kind}: {args.seeds} draws scored", flush=True)

    headers = ["model", *(snr if kind == "clean" else f"{kind} {snr} dB" for kind, snr in conditions)]
    rows = [[m, *(report.mean_sd(scores[m][c]) for c in conditions)] for m in scorers]
    report.emit(headers, rows, args.markdown)


if __name__ == "__main__":
    report.run_main(main, "speech_noisy")
