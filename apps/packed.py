"""A model folder that carries only the weights it trained: the rest is rebuilt from its Config.

A frozen pretrained encoder under a trained head (sentiment's ``arch=mpnet``) is 438 MB of
weights that installed packages already ship. A committed or shared folder need not carry them
twice: ``glasswing pack APP`` writes ``packed.weights.npz`` (every weight of every layer that
trains) and ``packed.json`` (a SHA-256 of each frozen layer's weights), and ``glasswing unpack``
(run by ``make install``) rebuilds ``model.keras`` with ``app.build(cfg)``, which loads the
pretrained weights, checks them against the hashes and sets the trained ones. It then converts
the .tflite files the folder held when it was packed (too large for git too; ``export.json`` keeps
their measurements), reporting whether each comes out byte for byte the same.

Nothing here knows an app: what is frozen is what ``app.build`` marks ``trainable=False``.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np

from apps import artifacts
from apps.errors import GlasswingError

PACKED_FILE = "packed.json"
PACKED_WEIGHTS = "packed.weights.npz"
# The SHA-256 of the packed.json model.keras was made from: a newer pack (a git pull) makes it stale.
STAMP_FILE = ".unpacked"
# What git leaves out of a packed folder: the files unpack makes.
IGNORED = (artifacts.MODEL_FILE, f"{artifacts.TFLITE_DIR}/*.tflite", STAMP_FILE)


def _layers(model) -> tuple[list, list]:
    """``(trained, frozen)``: the model's layers with weights, split by ``layer.trainable``."""
    with_weights = [layer for layer in model.layers if layer.weights]
    return [la for la in with_weights if la.trainable], [la for la in with_weights if not la.trainable]


def _digest(layer) -> str:
    """SHA-256 of a layer's weights (each array's float bytes, in order)."""
    h = hashlib.sha256()
    for w in layer.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pack(app, folder) -> dict:
    """Writes ``packed.json`` and ``packed.weights.npz`` beside ``folder``'s ``model.keras``.

    Proves the pack first: the model ``app.build`` rebuilds from it must hold the saved
    model's layers with the very same weights. Also writes the folder's
    ``.gitignore`` (the files :func:`unpack` makes). Returns ``packed.json``'s content.

    Raises:
        GlasswingError: No frozen layer to leave out (nothing to gain), or the rebuilt
            model differs from the saved one.
    """
    folder = Path(folder)
    cfg, model = artifacts.load_trained(app, folder)
    trained, frozen = _layers(model)
    if not frozen:
        raise GlasswingError(
            f"{folder}: every layer of this model trains, so packing would leave nothing out."
        )
    weights = {f"{la.name}/{i}": w for la in trained for i, w in enumerate(la.get_weights())}
    report = {
        "format": 1,
        "app": app.name,
        "trained_layers": [la.name for la in trained],
        "frozen_layers": {la.name: _digest(la) for la in frozen},
        "frozen_parameters": int(sum(w.size for la in frozen for w in la.get_weights())),
        "trained_parameters": int(sum(w.size for w in weights.values())),
        "trained_sha256": _weights_digest(weights),
        "tflite": _tflite_digests(folder),
    }
    rebuilt = _rebuild(app, cfg, report, weights)
    differ = [
        la.name
        for la in model.layers
        if not all(
            np.array_equal(a, b) for a, b in zip(la.get_weights(), rebuilt.get_layer(la.name).get_weights())
        )
    ]
    if differ or len(rebuilt.layers) != len(model.layers):
        raise GlasswingError(
            f"{folder}: the model rebuilt from the pack is not model.keras (layers {differ})."
        )
    tmp = folder / f".{PACKED_WEIGHTS}.{os.getpid()}.tmp.npz"
    try:
        np.savez_compressed(tmp, **weights)
        os.replace(tmp, folder / PACKED_WEIGHTS)
    finally:
        tmp.unlink(missing_ok=True)
    artifacts.write_json_atomic(folder / PACKED_FILE, report)
    artifacts.write_text_atomic(folder / STAMP_FILE, _file_digest(folder / PACKED_FILE))
    artifacts.write_text_atomic(folder / ".gitignore", "".join(f"/{p}\n" for p in IGNORED))
    return report


def _weights_digest(weights: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(weights):
        h.update(name.encode() + np.ascontiguousarray(weights[name]).tobytes())
    return h.hexdigest()


def _tflite_digests(folder: Path) -> dict:
    """``{mode: sha256}`` of the .tflite files ``export.json`` lists as written."""
    path = folder / artifacts.EXPORT_FILE
    rows = artifacts.read_json(path).get("modes", {}) if path.is_file() else {}
    return {
        mode: _file_digest(folder / row["file"])
        for mode, row in rows.items()
        if row.get("file") and (folder / row["file"]).is_file()
    }


def _rebuild(app, cfg, report: dict, weights: dict):
    """``app.build(cfg)`` with the packed trained weights; frozen weights checked against the hashes."""
    model = app.build(cfg)
    trained, frozen = _layers(model)
    names = [la.name for la in trained]
    if names != report["trained_layers"] or sorted(la.name for la in frozen) != sorted(
        report["frozen_layers"]
    ):
        raise GlasswingError(
            f"The {app.name} model this code builds has other layers than the packed one "
            f"(trained: {names} against {report['trained_layers']}); retrain it."
        )
    for la in frozen:
        if _digest(la) != report["frozen_layers"][la.name]:
            raise GlasswingError(
                f"The pretrained weights of layer {la.name!r} are not the ones this {app.name} model was "
                "trained on (another version of the weights package?); reinstall with `make install`."
            )
    try:
        for la in trained:
            la.set_weights([weights[f"{la.name}/{i}"] for i in range(len(la.weights))])
    except (KeyError, ValueError) as err:
        raise GlasswingError(
            f"The packed weights do not fit the {app.name} model ({err}); retrain it."
        ) from None
    return model


def _stale_model(folder: Path) -> bool:
    stamp = folder / STAMP_FILE
    return (
        not (folder / artifacts.MODEL_FILE).is_file()
        or not stamp.is_file()
        or stamp.read_text().strip() != _file_digest(folder / PACKED_FILE)
    )


def _missing_tflite(folder: Path) -> list[str]:
    report = artifacts.read_json(folder / PACKED_FILE)
    return [
        m for m in report.get("tflite", {}) if not (folder / artifacts.TFLITE_DIR / f"{m}.tflite").is_file()
    ]


def needs_unpack(folder) -> bool:
    """Whether ``folder`` is packed and its ``model.keras`` (missing, or made from another pack) or a
    listed .tflite file has to be made."""
    folder = Path(folder)
    if not (folder / PACKED_FILE).is_file():
        return False
    return _stale_model(folder) or bool(_missing_tflite(folder))


def unpack(app, folder, log=print) -> None:
    """Makes what :func:`needs_unpack` finds missing: ``model.keras``, then each listed .tflite file.

    Each file is written to a temporary name and renamed, so an interrupted unpack
    resumes where it stopped.

    Raises:
        GlasswingError: A missing or corrupt pack, another model than the code builds,
            pretrained weights that differ from the hashed ones, or a failed conversion.
    """
    from apps.conversion import convert_in_subprocess

    folder = Path(folder)
    report = artifacts.read_json(folder / PACKED_FILE)
    if _stale_model(folder):
        for mode in report.get("tflite", {}):  # made from the stale model
            (folder / artifacts.TFLITE_DIR / f"{mode}.tflite").unlink(missing_ok=True)
        _write_model(app, folder, report, log)
    for mode in _missing_tflite(folder):
        start = time.monotonic()
        out = folder / artifacts.TFLITE_DIR / f"{mode}.tflite"
        tmp = out.with_name(f".{mode}.{os.getpid()}.tmp.tflite")
        log(f"{folder}: converting {out.name} (a few minutes) ...")
        try:
            convert_in_subprocess(app, folder, mode, tmp, what=f"{folder}: {mode}")
            os.replace(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
        same = "the same bytes as" if _file_digest(out) == report["tflite"][mode] else "not byte-identical to"
        log(f"{folder}: {out.name} written in {time.monotonic() - start:.0f} s, {same} the exported file.")


def _write_model(app, folder: Path, report: dict, log) -> None:
    """Rebuilds ``folder/model.keras`` from the pretrained weights and the packed trained ones."""
    start = time.monotonic()
    log(f"{folder}: rebuilding model.keras from the pretrained weights and {PACKED_WEIGHTS} ...")
    try:
        with np.load(folder / PACKED_WEIGHTS) as npz:
            weights = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as err:
        raise GlasswingError(f"{folder / PACKED_WEIGHTS} is missing or corrupt ({err}).") from None
    if _weights_digest(weights) != report["trained_sha256"]:
        raise GlasswingError(
            f"{folder / PACKED_WEIGHTS} is not the file {PACKED_FILE} describes; pack again."
        )
    model = _rebuild(app, artifacts.load_config(app, folder), report, weights)
    artifacts.require_free_space(folder, 2 * 4 * model.count_params(), "model.keras")
    tmp = folder / f".{artifacts.MODEL_FILE}.{os.getpid()}.tmp.keras"
    try:
        artifacts.save_model(model, tmp)
        os.replace(tmp, folder / artifacts.MODEL_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    artifacts.write_text_atomic(folder / STAMP_FILE, _file_digest(folder / PACKED_FILE))
    log(f"{folder}: model.keras written in {time.monotonic() - start:.0f} s.")


def unpack_all(models_dir, log=print) -> list[str]:
    """Unpacks every app folder under ``models_dir`` that :func:`needs_unpack`; returns their names.

    Cheap when there is nothing to do (no TensorFlow import), so ``make install`` can run it always.
    """
    root = Path(models_dir)
    todo = sorted(p.name for p in root.iterdir() if needs_unpack(p)) if root.is_dir() else []
    if todo:
        from apps import get_app

        for name in todo:
            unpack(get_app(name, models_dir), root / name, log)
    return todo
