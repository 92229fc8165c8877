"""From a user's audio to the model input: ``preprocess`` and the export metadata."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from apps.speech import audio, data, embedding
from apps.speech.config import Config


def load(raw, cfg=None) -> tuple[np.ndarray, str]:
    """Any audio input -> the 1-s clip the model hears, and a note on how it was obtained."""
    cfg = cfg or Config()
    return audio.load_clip(raw, cfg.sample_rate, cfg.clip_samples)


def windows(raw, cfg=None) -> tuple[np.ndarray, np.ndarray, str]:
    """Every 1-s window of a recording (quarter-second hops), their (start, end) in s, and a note."""
    cfg = cfg or Config()
    return audio.load_windows(raw, cfg.sample_rate, cfg.clip_samples)


def features(clip: np.ndarray, cfg) -> np.ndarray:
    """Log-mel features ``(frames, mel_bins, 1)`` of one clip, by the model's own front-end."""
    return np.asarray(data.frontend(cfg)(clip[None].astype(np.float32)))[0]


def preprocess(raw, cfg=None) -> np.ndarray:
    """Audio (WAV/FLAC/OGG/MP3 path or bytes, any rate/channels/length, or a 16 kHz array) -> log-mel."""
    cfg = cfg or Config()
    clip, _ = load(raw, cfg)
    return features(clip, cfg)


def load_preprocess(folder) -> callable:
    """``preprocess`` with the feature settings of the model in ``folder`` (its ``config.json``)."""
    path = Path(folder) / "config.json"
    cfg = Config()
    if path.is_file():
        from apps.app import config_from_dict
        from apps.speech import APP

        cfg = config_from_dict(APP, json.loads(path.read_text()))
    return functools.partial(preprocess, cfg=cfg)


def metadata(cfg) -> dict:
    """What the exported file's waveform input means (recorded in ``tflite/metadata.json``)."""
    return {
        "sample_rate": cfg.sample_rate,
        "clip_samples": cfg.clip_samples,
        "clip_seconds": cfg.clip_samples / cfg.sample_rate,
        "input": "mono float32 waveform in [-1, 1] (int8 file: quantized with the input scale)",
        "features_in_graph": (
            f"log-mel: {cfg.window_ms:g} ms Hann window, {cfg.hop_ms:g} ms hop, FFT {cfg.fft_length}, "
            f"{cfg.mel_bins} mel bins, log(mel power + 1e-6)"
            + (
                f", then the pretrained speech embedding's {embedding.MEL_BINS} bands, log(mel power + "
                f"{embedding.FLOOR:.3g})"
                if cfg.embedding_head
                else ""
            )
        ),
    }
