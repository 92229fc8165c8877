"""The artifact folder ``models/<app>/``: fixed file names, atomic writes, safe loads.

Every writer here goes through a temporary path and a rename, so a crash never
leaves half a file or half a folder where a reader looks (docs/design.md, "Artifacts").
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from apps.errors import GlasswingError

MODEL_FILE = "model.keras"
CONFIG_FILE = "config.json"
LABELS_FILE = "labels.txt"
VOCAB_FILE = "vocab.txt"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
CARD_FILE = "MODEL_CARD.md"
EXPORT_FILE = "export.json"
TFLITE_DIR = "tflite"
PARTIAL_DIR = ".partial"


def app_dir(models_dir, app_name: str) -> Path:
    """``<models_dir>/<app_name>``: the folder a trained app's artifacts live in."""
    return Path(models_dir) / app_name


def ensure_writable(folder: Path) -> None:
    """Creates ``folder`` and proves a file can be written there.

    Raises:
        GlasswingError: The folder cannot be created or written to.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as err:
        raise GlasswingError(
            f"Cannot write to {folder} ({err.strerror or err}). "
            "Fix its permissions or pass --models-dir with a writable folder."
        ) from None


def require_free_space(folder: Path, needed: int, what: str) -> None:
    """Refuses to go on when ``folder``'s disk has less than ``needed`` bytes free.

    Checked before writes that cannot fail cleanly: h5py, under Keras' weight and
    model files, crashes the process (SIGSEGV) when the disk fills mid-write.

    Raises:
        GlasswingError: Says how much is free, how much ``what`` needs, and that the
            previously published model is untouched.
    """
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise GlasswingError(
            f"Only {free / 2**20:.1f} MB free in {folder}; {what} needs about {needed / 2**20:.0f} MB. "
            "Nothing was published (the previous model is untouched); free some space and rerun."
        )


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Writes ``data`` to a temp file beside ``path``, then renames it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Text version of :func:`write_bytes_atomic` (UTF-8)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, obj) -> None:
    """Writes ``obj`` as indented JSON, atomically."""
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> dict:
    """Reads a JSON artifact; a missing or corrupt file is a GlasswingError."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GlasswingError(f"{path} is missing.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise GlasswingError(f"{path} is corrupt ({err}).") from None


def publish_dir(staged: Path, final: Path) -> None:
    """Moves a fully written ``staged`` folder to ``final``, replacing any old one.

    The old folder is renamed aside first and deleted only after the new one is
    in place, so at every instant ``final`` is either the old complete folder,
    absent for a moment, or the new complete folder — never a mix.
    """
    final = Path(final)
    old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
    if final.exists():
        os.replace(final, old)
    try:
        os.replace(staged, final)
    except OSError:
        if old.exists() and not final.exists():
            os.replace(old, final)  # put the previous model back
        raise
    shutil.rmtree(old, ignore_errors=True)


def require_model_dir(models_dir, app) -> Path:
    """Returns ``models/<app>`` if it holds a model; otherwise says how to train one."""
    folder = app_dir(models_dir, app.name)
    if not (folder / MODEL_FILE).is_file():
        raise GlasswingError(
            f"No trained model at {folder / MODEL_FILE}. Train one with `glasswing train {app.name}`."
        )
    return folder


def save_model(model, path: Path) -> None:
    """Saves a trained model for inference and fine-tuning, without optimizer state.

    Recompiling from the model's own compile config swaps in a fresh optimizer
    (same class and settings, no moment estimates), so the file keeps the
    architecture, weights, loss and metrics at a third of the size.
    """
    import keras

    config = model.get_compile_config() if model.compiled else None
    if config:
        model.compile(**keras.saving.deserialize_keras_object(config))
    model.save(path)


def load_model(path: Path):
    """Loads a ``.keras`` file with ``safe_mode=True``; corrupt files raise GlasswingError."""
    import warnings

    import keras

    import apps.layers  # noqa: F401 - registers the layers a saved model may hold
    import apps.losses  # noqa: F401 - registers the losses a saved model may be compiled with

    path = Path(path)
    if not path.is_file():
        raise GlasswingError(f"Model file {path} is missing.")
    try:
        with warnings.catch_warnings():
            # Artifacts are saved without optimizer state on purpose (save_model).
            warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
            return keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - keras raises many types for bad files
        raise GlasswingError(
            f"Cannot load {path}: the file is corrupt or not a Keras model "
            f"({type(err).__name__}: {str(err)[:200]}). Retrain it with `glasswing train`."
        ) from None


def load_config(app, folder: Path):
    """The Config a model in ``folder`` was trained with."""
    from apps.app import config_from_dict

    return config_from_dict(app, read_json(Path(folder) / CONFIG_FILE))


def load_trained(app, folder: Path):
    """``(cfg, model)`` of the model in ``folder``, checked against what ``app`` feeds and reads.

    A classifier's input must have the shape of the app's examples for this Config
    and its output one unit per class; a model of another app (or another
    architecture) placed in the folder gets one line here instead of a shape
    error deep inside Keras or LiteRT.

    Raises:
        GlasswingError: Missing or corrupt files, or a model that does not fit the app.
    """
    folder = Path(folder)
    cfg = load_config(app, folder)
    model = load_model(folder / MODEL_FILE)
    if app.task == "classify":
        expected = tuple(app.fake_batch(cfg, 1)[0].shape[1:])
        got = tuple(model.input_shape[1:]) if not isinstance(model.input_shape, list) else None
        classes = len(app.labels(cfg))
        if got != expected or model.output_shape[-1] != classes:
            raise GlasswingError(
                f"{folder / MODEL_FILE} does not fit app {app.name!r}: it takes {got} and gives "
                f"{model.output_shape[-1]} outputs, the app feeds {expected} and has {classes} classes. "
                f"Retrain it with `glasswing train {app.name}`."
            )
    return cfg, model


def token_strings(folder: Path, ids) -> list[str] | None:
    """The words behind token ids, from the model's ``vocab.txt`` (line i = id i).

    Returns None when the model has no vocabulary (not a text model). Padding
    (id 0, the empty line) maps to ``""``.
    """
    path = Path(folder) / VOCAB_FILE
    if not path.is_file():
        return None
    vocab = path.read_text(encoding="utf-8").split("\n")
    return [vocab[i] if 0 <= i < len(vocab) else "[UNK]" for i in (int(v) for v in ids)]


# Tokens that stand for no word: padding, a WordPiece model's markers (BERT's and MPNet's), the OOV token.
NOT_WORDS = {"", "[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]", "<s>", "</s>", "<unk>", "<pad>", "<mask>"}
NO_KNOWN_WORD = (
    "Note: no word of this text is one the model knows (only punctuation, numbers or unknown "
    "tokens): the prediction rests on nothing it learned and means little."
)


def load_comparable(app, folder: Path, other: Path):
    """``(cfg, model)`` of the model in ``other``, checked to take the same inputs as the one in ``folder``.

    Two models' explanations are compared element by element, so they must be
    models of the same app reading the same inputs: for token inputs, the same
    vocabulary (the same id must mean the same word).

    Raises:
        GlasswingError: No model in ``other``, one that does not fit ``app``, or another vocabulary.
    """
    other = Path(other)
    if not (other / MODEL_FILE).is_file():
        raise GlasswingError(f"{other}: no {MODEL_FILE} there; give a trained model's folder.")
    loaded = load_trained(app, other)
    vocabularies = [
        (f / VOCAB_FILE).read_bytes() if (f / VOCAB_FILE).is_file() else None for f in (folder, other)
    ]
    if vocabularies[0] != vocabularies[1]:
        raise GlasswingError(
            f"{folder} and {other} have different vocabularies: the same token id means different words, "
            "so their maps cannot be compared token by token."
        )
    return loaded


def is_word(token: str) -> bool:
    """Whether a vocabulary entry is a word: it has a letter and is not a marker like ``[CLS]``."""
    return token not in NOT_WORDS and any(c.isalpha() for c in token)


def known_words(folder: Path, ids) -> int | None:
    """How many of ``ids`` are words the model knows (see :func:`is_word`); None without a vocabulary."""
    strings = token_strings(folder, ids)
    if strings is None:
        return None
    return sum(1 for s in strings if is_word(s))


def input_note(folder: Path, x) -> str | None:
    """:data:`NO_KNOWN_WORD` when a text model's input holds no word it knows, else None."""
    return NO_KNOWN_WORD if known_words(folder, x) == 0 else None


def list_trained(models_dir) -> list[str]:
    """Names of the app folders under ``models_dir`` that hold a model file."""
    root = Path(models_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MODEL_FILE).is_file())


def check_output_path(path, extensions: tuple[str, ...]) -> Path:
    """An output file path that can be written: a known extension, in a folder that exists.

    Raises:
        GlasswingError: Another extension, a missing or read-only folder, or a folder as the path.
    """
    path = Path(path)
    if path.suffix.lower() not in extensions:
        raise GlasswingError(f"{path}: expected a {' or '.join(extensions)} file name.")
    if path.is_dir():
        raise GlasswingError(f"{path} is a folder; give a file name.")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise GlasswingError(f"{path}: folder {parent} does not exist.")
    if not os.access(parent, os.W_OK):
        raise GlasswingError(f"{path}: folder {parent} is not writable.")
    return path


def record_domain(app, folder: Path, cfg, model, name: str, report: dict) -> None:
    """Adds an ``evaluate --data`` result to ``metrics.json`` (``domains[name]``); re-renders the card."""
    from apps.train import model_card

    metrics = read_json(folder / METRICS_FILE)
    keep = (
        "accuracy",
        "macro_f1",
        "top2_accuracy",
        "n_examples",
        "data",
        "model",
        "groups",
        "confusion_matrix",
    )
    metrics.setdefault("domains", {})[name] = {k: report[k] for k in keep if k in report}
    write_json_atomic(folder / METRICS_FILE, metrics)
    write_text_atomic(folder / CARD_FILE, model_card(app, cfg, metrics, model))
