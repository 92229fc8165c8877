"""The speech baseline a sceptical engineer tries first: PocketSphinx with a grammar of the keywords.

PocketSphinx's US English acoustic model (CMU Sphinx, trained on real read speech) ships inside
its PyPI wheel, so it runs offline with no training. The grammar is the app's keywords, one
word per utterance (JSGF ``public <kw> = yes | no | ... ;``), as in PocketSphinx's own grammar
example. A grammar is a closed set: the recognizer cannot say "none of these", so every
other word and every silence is decoded as a keyword (an empty hypothesis, which PocketSphinx
gives when no path through the grammar reaches the end, counts as `_silence_`).

Used by ``bench/speech_voices.py --pocketsphinx``, which scores it beside the app's models.
"""

from __future__ import annotations

import numpy as np

NAME = "PocketSphinx en-us, keyword grammar (no training)"


def decoder(keywords: list[str]):
    """A PocketSphinx decoder (the wheel's en-us model) that hears one of ``keywords`` per utterance.

    Raises:
        SystemExit: PocketSphinx is not installed (one line that says how to install it).
    """
    try:
        from pocketsphinx import Decoder
    except ImportError:
        raise SystemExit("pocketsphinx is not installed: pip install pocketsphinx==5.1.1") from None
    dec = Decoder(loglevel="FATAL", lm=None)
    dec.add_jsgf_string("keywords", f"#JSGF V1.0;\ngrammar keywords;\npublic <kw> = {' | '.join(keywords)} ;")
    dec.activate_search("keywords")
    return dec


def transcribe(dec, waves) -> list[str]:
    """The decoder's hypothesis for each 16 kHz float waveform in ``waves`` ("" when it has none)."""
    out = []
    for wave in waves:
        dec.start_utt()
        dec.process_raw((np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes(), full_utt=True)
        dec.end_utt()
        hyp = dec.hyp()
        out.append(hyp.hypstr if hyp else "")
    return out


def predictor(names: list[str]):
    """A function from 16 kHz float clips to one-hot rows over the app's class ``names``.

    The grammar is every name but ``_unknown_`` and ``_silence_``; an empty hypothesis is ``_silence_``.
    """
    from apps.speech.synth import SILENCE, UNKNOWN

    dec = decoder([n for n in names if n not in (UNKNOWN, SILENCE)])
    return lambda waves: one_hot(transcribe(dec, waves), names, SILENCE)


def one_hot(words: list[str], names: list[str], empty: str) -> np.ndarray:
    """Hypotheses as one-hot rows over ``names``; an empty hypothesis is ``empty``."""
    probs = np.zeros((len(words), len(names)), "float32")
    probs[np.arange(len(words)), [names.index(w or empty) for w in words]] = 1
    return probs
