"""What every dashboard view shares: the models folder, cached loaders, the current input.

Views import from here and from :mod:`apps.dashboard.render`; they never look at
an app's name. A model is a built-in app or one trained on a user's data
(``models/<name>/app.json``); :func:`resolve_app` is the one place a model's name
becomes its App. Heavy objects (Keras models, interpreters, test splits) are
``st.cache_resource`` (one copy shared by every session, never pickled);
explanations are ``st.cache_data`` keyed by (app, method, input hash).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np
import streamlit as st

from apps import APPS, artifacts, get_app
from apps.dashboard import MAX_UPLOAD_MB
from apps.errors import GlasswingError

# Uploads larger than this are refused before any decoding (a 28x28 model needs little).
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
# Test examples offered in pickers and in the 2-D embedding projection.
PROJECTION_EXAMPLES = 400
APP_KEY = "glasswing_app"


def models_dir() -> Path:
    """The artifact root the CLI passed (``GLASSWING_MODELS_DIR``), default ``models``."""
    return Path(os.environ.get("GLASSWING_MODELS_DIR", "models"))


def resolve_app(name: str):
    """The App of model ``name`` under :func:`models_dir`: a built-in app or a model trained on a user's data.

    Raises:
        GlasswingError: No such app, or the model's ``app.json`` is corrupt.
    """
    return get_app(name, models_dir())


def _resolves(name: str) -> bool:
    try:
        resolve_app(name)
    except GlasswingError:
        return False  # a folder of something else, or a corrupt app.json: nothing to open
    return True


def trained_apps() -> list[str]:
    """Models under :func:`models_dir` with a model file: built-ins in registry order, then the user's."""
    trained = artifacts.list_trained(models_dir())
    builtin = [name for name in APPS if name in trained]
    return builtin + [name for name in trained if name not in APPS and _resolves(name)]


def current_app():
    """The app chosen in the sidebar, or None when no app has artifacts."""
    name = st.session_state.get(APP_KEY)
    if name not in trained_apps():
        return None
    return resolve_app(name)


def folder_of(app) -> Path:
    """``models/<app>``."""
    return artifacts.app_dir(models_dir(), app.name)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


@dataclasses.dataclass(frozen=True)
class Bundle:
    """A trained app ready to use: its model, Config, labels and bound preprocess."""

    app: object
    folder: Path
    model: object
    cfg: object
    labels: list
    preprocess: object


@st.cache_resource(show_spinner="Loading the model ...", max_entries=8)
def _load_bundle(name: str, folder: str, stamp: float, _app) -> Bundle:
    # ``stamp`` (the model file's mtime) makes a retrained model load afresh; the App is
    # not hashed: the folder decides it.
    app = _app
    path = Path(folder)
    start = time.perf_counter()
    cfg, model = artifacts.load_trained(app, path)
    # One line per load in the server log: a load test counts them (one per model file and process).
    print(
        f"glasswing dashboard: loaded {name} from {path} in {time.perf_counter() - start:.1f} s",
        file=sys.stderr,
    )
    return Bundle(app, path, model, cfg, app.labels(cfg), app.preprocessor(path))


def bundle(app) -> Bundle:
    """The app's loaded model and friends (loaded once per model file, shared by sessions)."""
    folder = folder_of(app)
    return _load_bundle(app.name, str(folder), _mtime(folder / artifacts.MODEL_FILE), app)


def tflite_modes(app) -> list[str]:
    """Quant modes with a .tflite file on disk, in export order."""
    from apps.conversion import QUANT_MODES

    folder = folder_of(app) / artifacts.TFLITE_DIR
    return [mode for mode in QUANT_MODES if (folder / f"{mode}.tflite").is_file()]


@st.cache_resource(show_spinner=False, max_entries=16)
def _load_tflite(path: str, stamp: float):
    from apps.litert import LiteRTModel

    return LiteRTModel(path)


def tflite_model(app, mode: str):
    """A cached :class:`apps.litert.LiteRTModel` for ``tflite/<mode>.tflite``."""
    path = folder_of(app) / artifacts.TFLITE_DIR / f"{mode}.tflite"
    return _load_tflite(str(path), _mtime(path))


@dataclasses.dataclass(frozen=True)
class TestSplit:
    """The test split as arrays, with the Keras model's probabilities for each example."""

    x: np.ndarray
    y: np.ndarray
    probs: np.ndarray
    texts: list | None
    # Raw signals (e.g. waveforms) of apps whose .tflite takes them (``App.raw``).
    signals: np.ndarray | None = None


@st.cache_resource(show_spinner="Reading the test split and predicting it ...", max_entries=8)
def _load_test_split(name: str, folder: str, stamp: float, _app) -> TestSplit:
    from apps.evaluate import keras_predictor, predict_dataset

    b = _load_bundle(name, folder, stamp, _app)
    cfg = dataclasses.replace(b.cfg, batch_size=256, augment=False)
    xs = []

    def predict(x):
        xs.append(np.asarray(x))
        return keras_predictor_fn(x)

    keras_predictor_fn = keras_predictor(b.model)
    probs, y = predict_dataset(predict, b.app.dataset(cfg, "test"))
    texts = None
    if b.app.example_text is not None:
        texts = b.app.example_text(cfg, "test")
        texts = texts if len(texts) == len(y) else None
    signals = None
    if b.app.raw is not None:
        signals = np.concatenate([np.asarray(s) for s, _ in b.app.raw.dataset(cfg, "test")])
        signals = signals if len(signals) == len(y) else None
    return TestSplit(np.concatenate(xs), np.asarray(y, int), probs, texts, signals)


def test_split(app) -> TestSplit:
    """The app's whole test split and its predictions (computed once per model file).

    Raises:
        GlasswingError: The app's data is not available (the message says how to get it).
    """
    folder = folder_of(app)
    return _load_test_split(app.name, str(folder), _mtime(folder / artifacts.MODEL_FILE), app)


def input_hash(x) -> str:
    """A short content hash of one model input (shape, dtype and bytes)."""
    x = np.ascontiguousarray(x)
    digest = hashlib.sha256(f"{x.shape}{x.dtype}".encode() + x.tobytes())
    return digest.hexdigest()[:16]


@st.cache_data(show_spinner=False, max_entries=256)
def _explain(name: str, method: str, key: str, backend: str, target: int | None, _x, _model, _app):
    import time

    import xai

    start = time.perf_counter()
    result = xai.get_explainer(method).explain(_app, _model, _x, target)
    return result, time.perf_counter() - start


def explain(app, method: str, x, target: int | None = None):
    """One explanation of ``x`` by the Keras model, cached by (app, method, input hash).

    Returns:
        ``(Attribution, seconds it took when first computed)``.
    """
    model = bundle(app).model
    return _explain(app.name, method, input_hash(x), model_stamp(app), target, x, model, app)


@st.cache_data(show_spinner=False, max_entries=256)
def _faithfulness(name: str, method: str, key: str, backend: str, target: int, _x, _values, _model, _app):
    from xai.faithfulness import deletion_insertion

    return deletion_insertion(_model, _x, _values, target, _app.modality, random_runs=3)


def faithfulness(app, method: str, x, attribution):
    """Deletion/insertion AUCs of an attribution map (:class:`xai.faithfulness.Faithfulness`, cached)."""
    model = bundle(app).model
    return _faithfulness(
        app.name,
        method,
        input_hash(x),
        model_stamp(app),
        attribution.target,
        x,
        attribution.values,
        model,
        app,
    )


# Test examples each method is measured on for the current model (Explain page's order and warnings).
FAITHFULNESS_EXAMPLES = 8
# Above this many parameters a model is "large": a gradient pass costs seconds on 2 cores (the
# default sentiment model, 109M: integrated gradients ~35 s a sentence), so its pages start with the
# cheap methods and leave the many-gradient ones to the user's choice.
LARGE_MODEL_PARAMETERS = 50_000_000
# What a large model's pages start with: occlusion (batched forward passes, one per token or patch:
# ~1 s a sentence for the 109M model) and saliency (one gradient, ~0.3 s). On that model gradient x
# input's Insights listed "charming" against positive; occlusion's map is the more faithful one.
LARGE_MODEL_METHODS = ("occlusion", "saliency")


def is_large(b: Bundle) -> bool:
    """Whether the bundle's model is over :data:`LARGE_MODEL_PARAMETERS` parameters."""
    return b.model.count_params() > LARGE_MODEL_PARAMETERS


def large_model_note(b: Bundle) -> str:
    """The caption a large model's Explain and Insights pages show about their defaults."""
    return (
        f"This model has {b.model.count_params() / 1e6:.0f}M parameters: the page starts with the cheap "
        f"methods ({', '.join(LARGE_MODEL_METHODS)}); the gradient-path ones (e.g. integrated gradients, "
        "SmoothGrad) and SHAP or LIME take tens of seconds an input here, so they run when you pick them."
    )


@st.cache_data(show_spinner=False, max_entries=64)
def _model_faithfulness(name: str, method: str, backend: str, n: int, _model, _app, _xs, _ys):
    from xai.faithfulness import measure

    return measure(_app, _model, method, _xs, _ys)


def model_faithfulness(app, method: str, n: int = FAITHFULNESS_EXAMPLES):
    """``method``'s gain over random for this model, over its first ``n`` test examples (cached per model)."""
    xs, ys = test_inputs(app, n)
    return _model_faithfulness(app.name, method, model_stamp(app), n, bundle(app).model, app, xs, ys)


@st.cache_resource(show_spinner="Loading the other model ...", max_entries=4)
def _load_other(name: str, folder: str, other: str, stamp: float, _app):
    return artifacts.load_comparable(_app, Path(folder), Path(other))[1]


def other_model(app, other: str):
    """Another trained model of ``app`` (its folder), checked to take the same inputs (cached)."""
    path = Path(other).expanduser()
    stamp = _mtime(path / artifacts.MODEL_FILE)
    return _load_other(app.name, str(folder_of(app)), str(path), stamp, app)


@st.cache_data(show_spinner=False, max_entries=64)
def _compare(name: str, method: str, key: str, backend: str, _x, _float, _lite, _app) -> dict:
    import xai

    return xai.compare(_float, _lite, _x, _app, method)


def compare(app, method: str, mode: str, x) -> dict:
    """Float-vs-.tflite explanations of ``x`` with a prediction-only method (cached)."""
    lite = tflite_model(app, mode)
    backend = f"{model_stamp(app)}|{mode}|{_mtime(lite.path)}"
    return _compare(app.name, method, input_hash(x), backend, x, bundle(app).model, lite, app)


def model_stamp(app) -> str:
    """Identifies the model file, so a retrained model never reuses old explanations."""
    return str(_mtime(folder_of(app) / artifacts.MODEL_FILE))


# ----- the current input, shared by Playground, Explain and Features -----


@dataclasses.dataclass(frozen=True)
class Current:
    """The input the user is looking at.

    Attributes:
        x: One model input (no batch axis).
        source: Where it came from, for captions ("test example #12", a file name).
        label: Index of the true class when known (test examples).
        raw: What the user gave, for display (the text typed), if any.
        index: Position in the test split for test examples.
    """

    x: np.ndarray
    source: str
    label: int | None = None
    raw: object = None
    index: int | None = None


def _input_key(app) -> str:
    return f"glasswing_input:{app.name}"


def set_test_example(app, index: int) -> Current:
    """Makes test example ``index`` the current input."""
    split = test_split(app)
    index = int(index) % len(split.y)
    raw = split.texts[index] if split.texts else None
    if split.signals is not None:
        raw = split.signals[index]
    current = Current(split.x[index], f"test example #{index}", int(split.y[index]), raw, index)
    st.session_state[_input_key(app)] = current
    return current


def set_user_input(app, x, source: str, raw=None) -> Current:
    """Makes a user's own (already preprocessed) input the current input."""
    current = Current(np.asarray(x), source, None, raw, None)
    st.session_state[_input_key(app)] = current
    return current


def tflite_input(app, current: Current) -> np.ndarray:
    """What the app's .tflite files take for the current input.

    The model input itself, or for raw-input apps (speech: the file takes the
    waveform and computes log-mel in-graph) the raw signal behind it.

    Raises:
        GlasswingError: A raw-input app's current input has no raw signal.
    """
    if app.raw is None:
        return current.x
    if current.raw is None:
        raise GlasswingError(f"The .tflite of {app.name} takes the raw signal; this input has none.")
    if isinstance(current.raw, np.ndarray):
        return current.raw
    return app.raw.load(current.raw, bundle(app).cfg)[0]


def current_input(app) -> Current:
    """The current input; the first test example until the user picks another."""
    current = st.session_state.get(_input_key(app))
    if current is None:
        current = set_test_example(app, 0)
    return current


def read_upload(app, upload, preprocess, allowed: tuple[str, ...]):
    """Validates an uploaded file and preprocesses it with the app's own preprocess.

    Args:
        app: The app (for its messages).
        upload: A Streamlit ``UploadedFile`` (or anything with ``name`` and ``getvalue()``).
        preprocess: The app's bound preprocess (``Bundle.preprocess``).
        allowed: Accepted file extensions, lower case, without the dot.

    Returns:
        One model input.

    Raises:
        GlasswingError: Wrong type, empty, oversized or unreadable file.
    """
    name = getattr(upload, "name", "upload")
    suffix = Path(name).suffix.lower().lstrip(".")
    if suffix not in allowed:
        raise GlasswingError(
            f"{name}: .{suffix or '?'} files are not accepted here. Use one of: "
            f"{', '.join('.' + a for a in allowed)}."
        )
    data = upload.getvalue()
    if not data:
        raise GlasswingError(f"{name} is empty (0 bytes).")
    if len(data) > MAX_UPLOAD_BYTES:
        raise GlasswingError(
            f"{name} is {len(data) / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES / 2**20:.0f} MB."
        )
    try:
        return np.asarray(preprocess(data))
    except GlasswingError as err:
        raise GlasswingError(f"{name}: {err}") from None


def require_app(task: str | None = None):
    """The current app, or None after telling the user why the page is empty.

    Args:
        task: When given, the page needs an app with this task (e.g. ``"classify"``).
    """
    app = current_app()
    if app is None:
        how_to_train()
        return None
    if task is not None and app.task != task:
        st.info(
            f"This page is for {task} apps; **{app.name}** is a {app.task} app. Pick another in the sidebar."
        )
        return None
    return app


def how_to_train() -> None:
    """The message shown when no app has artifacts: which commands make some."""
    from apps.userdata import kinds

    lines = "\n".join(f"glasswing train {name} && glasswing export {name} --quant all" for name in APPS)
    lines += f"\n# or on your own files (KIND: {', '.join(kinds())}):"
    lines += "\nglasswing train KIND --data PATH --name NAME"
    st.info(f"No trained models in `{models_dir()}`. Train one, then reload this page:")
    st.code(lines, language="bash")


def can_scan(app, current) -> bool:
    """Whether ``current`` is a user's recording the app can scan window by window."""
    from apps import scan

    return scan.scannable(app) and isinstance(current.raw, (bytes, bytearray))


@st.cache_data(show_spinner="Classifying every window ...", max_entries=16)
def _scan(name: str, folder: str, stamp: float, raw: bytes, _app):
    from apps import scan

    b = _load_bundle(name, folder, stamp, _app)
    return scan.scan(b.app, b.model, b.cfg, raw)


def scan_recording(app, raw: bytes):
    """``(probs, spans, note)`` of every window of an uploaded recording (:func:`apps.scan.scan`), cached."""
    folder = folder_of(app)
    return _scan(app.name, str(folder), _mtime(folder / artifacts.MODEL_FILE), bytes(raw), app)


def guarded(fn, *args, **kwargs):
    """Runs ``fn``; a GlasswingError becomes one ``st.error`` and ``None`` (the page stays up)."""
    try:
        return fn(*args, **kwargs)
    except GlasswingError as err:
        st.error(str(err))
        return None


@st.cache_resource(show_spinner="Reading test examples ...", max_entries=8)
def _load_test_inputs(name: str, folder: str, stamp: float, n: int, _app) -> tuple[np.ndarray, np.ndarray]:
    b = _load_bundle(name, folder, stamp, _app)
    cfg = dataclasses.replace(b.cfg, batch_size=min(256, n), augment=False)
    xs, ys, seen = [], [], 0
    for x, y in b.app.dataset(cfg, "test"):
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
        seen += len(xs[-1])
        if seen >= n:
            break
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def test_inputs(app, n: int = PROJECTION_EXAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n`` test inputs and targets, without running the model (any task)."""
    folder = folder_of(app)
    return _load_test_inputs(app.name, str(folder), _mtime(folder / artifacts.MODEL_FILE), n, app)


@st.cache_resource(show_spinner="Loading the generator ...", max_entries=8)
def _load_generator(name: str, folder: str, stamp: float, _app):
    b = _load_bundle(name, folder, stamp, _app)
    return b.app.generator(b.model, Path(folder))


def generator(app):
    """The app's generation functions bound to its trained model (``App.generator``)."""
    folder = folder_of(app)
    return _load_generator(app.name, str(folder), _mtime(folder / artifacts.MODEL_FILE), app)
