"""Dashboard uploads: bad files get one readable error, good ones are preprocessed by the app."""

from __future__ import annotations

import numpy as np
import pytest

from tests.dashboard_helpers import (
    COMMITTED,
    png_bytes,
)

# ----- uploads -----


class _Upload:
    def __init__(self, name: str, data: bytes):
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


def _text_preprocess():
    from apps import APPS

    return APPS["sentiment"].preprocessor(COMMITTED / "sentiment")


@pytest.mark.parametrize(
    ("kind", "name", "data", "message"),
    [
        ("image", "shirt.png", png_bytes()[:40], "Cannot read the image"),
        ("image", "shirt.png", b"", "empty"),
        ("image", "shirt.png", b"\x89PNG" + b"0" * (6 * 2**20), "limit is 5 MB"),
        ("image", "shirt.pdf", png_bytes(), "not accepted"),
        ("text", "review.txt", b"   \n", "empty"),
        ("text", "review.png", b"great film", "not accepted"),
        ("text", "review.txt", b"x" * (6 * 2**20), "limit is 5 MB"),
        ("audio", "clip.wav", b"not a riff header", "not a readable WAV, FLAC, OGG or MP3"),
        ("audio", "clip.wav", b"", "empty"),
        ("audio", "clip.exe", b"RIFF....", "not accepted"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else "data",
)
def test_bad_uploads_raise_one_readable_error(kind, name, data, message):
    from apps import APPS
    from apps.dashboard import core, render
    from apps.errors import GlasswingError

    preprocess = {
        "image": lambda: APPS["image"].preprocess,
        "text": _text_preprocess,
        "audio": lambda: APPS["speech"].preprocess,
    }[kind]()
    with pytest.raises(GlasswingError, match=message):
        core.read_upload(APPS["image"], _Upload(name, data), preprocess, render.UPLOAD_TYPES[kind])


def test_good_uploads_are_preprocessed_by_the_app():
    from apps import APPS
    from apps.dashboard import core, render

    x = core.read_upload(
        APPS["image"], _Upload("a.PNG", png_bytes()), APPS["image"].preprocess, render.IMAGE_TYPES
    )
    assert x.shape == (28, 28, 1)
    ids = core.read_upload(
        APPS["sentiment"], _Upload("r.txt", b"a fine film"), _text_preprocess(), render.TEXT_TYPES
    )
    # WordPiece ids: [CLS] a fine film [SEP]
    assert ids.dtype == np.int32 and (ids > 0).sum() == 5
    import io

    import soundfile

    wav = io.BytesIO()
    soundfile.write(wav, np.zeros((8000, 2), np.float32), 44_100, format="WAV")
    mel = core.read_upload(
        APPS["speech"], _Upload("me.wav", wav.getvalue()), APPS["speech"].preprocess, render.AUDIO_TYPES
    )
    assert mel.shape == (97, 40 + 32, 1) and np.isfinite(mel).all()  # the DS-CNN's and the embedding's bands
    # A phone's voice memo: MP3, which the upload box and `evaluate --data` both take.
    memo = io.BytesIO()
    t = np.arange(16_000) / 16_000
    soundfile.write(memo, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16_000, format="MP3")
    assert "mp3" in render.AUDIO_TYPES
    mel = core.read_upload(
        APPS["speech"], _Upload("memo.MP3", memo.getvalue()), APPS["speech"].preprocess, render.AUDIO_TYPES
    )
    assert mel.shape == (97, 40 + 32, 1) and np.isfinite(mel).all()
