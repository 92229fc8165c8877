"""Property tests: every app's ``preprocess`` either returns the model's exact input or says why not.

Hypothesis feeds random bytes, text, arrays of random shapes and dtypes, and
well-formed files with random contents. Each call must return an array of the
shape and dtype the app's model takes (``fake_batch``) with finite values, or
raise :class:`GlasswingError`; any other exception is a bug.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from apps import APPS
from apps.errors import GlasswingError
from tests.conftest import ROOT

# Derandomized: the same 60 cases every run, so CI cannot turn red on a new draw. (A random
# draw found float16 inf samples reaching the log-mel; that case is below, always run.)
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
DTYPES = st.sampled_from(["uint8", "int16", "int32", "int64", "float16", "float32", "float64", "bool"])


def _classifiers(modality: str) -> list[str]:
    """Every registered classifier of ``modality``: a new app is covered by what it reads."""
    return sorted(n for n, a in APPS.items() if a.task == "classify" and a.modality == modality)


def _preprocess(name: str):
    app = APPS[name]
    folder = ROOT / "models" / name
    return app.preprocessor(folder) if folder.is_dir() else app.preprocess


def _spec(name: str) -> tuple[tuple, np.dtype]:
    app = APPS[name]
    x, _ = app.fake_batch(app.Config(), 1)
    return tuple(x.shape[1:]), np.asarray(x).dtype


def _check(name: str, raw) -> None:
    """``preprocess(raw)`` is the exact model input, or a GlasswingError."""
    try:
        x = _preprocess(name)(raw)
    except GlasswingError as err:
        assert str(err).strip(), "an empty message"
        return
    shape, dtype = _spec(name)
    assert isinstance(x, np.ndarray), type(x)
    assert x.shape == shape and x.dtype == dtype, (x.shape, x.dtype, shape, dtype)
    if np.issubdtype(x.dtype, np.floating):
        assert np.isfinite(x).all()


def _arrays(max_dims: int = 4):
    shapes = hnp.array_shapes(min_dims=0, max_dims=max_dims, min_side=0, max_side=64)
    return DTYPES.flatmap(
        lambda dtype: hnp.arrays(
            dtype,
            shapes,
            elements={"allow_nan": True, "allow_infinity": True} if "float" in dtype else None,
        )
    )


# ----- images (image and vae share the image preprocess) -----


@pytest.mark.parametrize("name", _classifiers("image"))
@EXAMPLES
@given(data=st.binary(max_size=4096))
def test_image_preprocess_random_bytes(name, data):
    _check(name, data)


@pytest.mark.parametrize("name", _classifiers("image"))
@EXAMPLES
@given(array=_arrays())
def test_image_preprocess_random_arrays(name, array):
    _check(name, array)


@pytest.mark.parametrize("name", _classifiers("image"))
@EXAMPLES
@given(
    size=st.tuples(st.integers(1, 300), st.integers(1, 300)),
    mode=st.sampled_from(["L", "RGB", "RGBA", "I;16", "F", "P", "1"]),
    fmt=st.sampled_from(["PNG", "TIFF", "BMP", "GIF", "JPEG", "WEBP"]),
    seed=st.integers(0, 2**16),
)
def test_image_preprocess_real_files_of_any_mode_and_format(name, size, mode, fmt, seed):
    from PIL import Image

    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=fmt)
    except (OSError, ValueError, KeyError):
        return  # Pillow cannot write this mode in this format: nothing to test
    _check(name, buffer.getvalue())


# ----- text -----


@pytest.mark.parametrize("name", _classifiers("text"))
@EXAMPLES
@given(text=st.text(max_size=400))
def test_text_preprocess_random_text(name, text):
    _check(name, text)


@pytest.mark.parametrize("name", _classifiers("text"))
@EXAMPLES
@given(data=st.binary(max_size=2048))
def test_text_preprocess_random_bytes(name, data):
    _check(name, data)


# ----- audio -----


@pytest.mark.parametrize("name", _classifiers("audio"))
@EXAMPLES
@given(data=st.binary(max_size=4096))
def test_audio_preprocess_random_bytes(name, data):
    _check(name, data)


@pytest.mark.parametrize("name", _classifiers("audio"))
@EXAMPLES
@given(array=_arrays(max_dims=3))
@example(array=np.array([np.inf], dtype=np.float16))  # once reached the log-mel as inf
@example(array=np.full(16_000, 1e30))  # overflows the power spectrum unless clipped to full scale
def test_audio_preprocess_random_arrays(name, array):
    _check(name, array)


@pytest.mark.parametrize("name", _classifiers("audio"))
@EXAMPLES
@given(
    rate=st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000]),
    channels=st.integers(1, 3),
    seconds=st.floats(0.0, 3.0),
    subtype=st.sampled_from(["PCM_16", "PCM_24", "FLOAT", "PCM_U8"]),
    loud=st.floats(0.0, 4.0),
    seed=st.integers(0, 2**16),
)
def test_audio_preprocess_real_wavs_of_any_rate_channels_length_and_depth(
    name, rate, channels, seconds, subtype, loud, seed
):
    import soundfile

    n = int(rate * seconds)
    wave = np.random.default_rng(seed).normal(0, loud, (n, channels)).astype(np.float32)
    buffer = io.BytesIO()
    try:
        soundfile.write(buffer, wave, rate, subtype=subtype, format="WAV")
    except (RuntimeError, ValueError):
        return  # libsndfile refuses the combination: nothing to test
    _check(name, buffer.getvalue())


@pytest.mark.parametrize("name", sorted(n for n, a in APPS.items() if a.task == "classify"))
def test_every_classifier_is_covered_here(name):
    """Every classifier reads one of the modalities the tests above feed."""
    assert name in _classifiers("image") + _classifiers("text") + _classifiers("audio")
