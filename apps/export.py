"""Shared TF Lite export: convert in a subprocess, then verify in the LiteRT interpreter.

``glasswing export APP --quant {float32,dynamic,float16,int8,all}`` writes
``models/APP/tflite/<quant>.tflite``, ``tflite/metadata.json`` and
``export.json``. Every number in ``export.json`` is measured by running the
.tflite file itself on the app's whole test split.

Conversion itself lives in :mod:`apps.conversion` (in a child process: a
converter crash becomes a clear error for that mode and the other modes still
export); this module measures what it wrote.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

from apps import artifacts
from apps.conversion import QUANT_MODES, convert_in_subprocess, export_dataset, export_inputs, exported_model
from apps.errors import GlasswingError
from apps.litert import median_latency_ms

LATENCY_RUNS = 200


def quant_modes(quant: str) -> tuple[str, ...]:
    """Expands ``all``; rejects an unknown mode with the valid ones listed."""
    if quant == "all":
        return QUANT_MODES
    if quant not in QUANT_MODES:
        raise GlasswingError(f"Unknown quant={quant!r}. Expected one of {sorted(QUANT_MODES) + ['all']}.")
    return (quant,)


def export_quality(app, cfg, outputs, reference) -> dict:
    """A generator's own quality numbers for one set of exported-model outputs (else none)."""
    hooks = app.generative
    if hooks is None or hooks.export_quality is None:
        return {}
    return hooks.export_quality(cfg, outputs, reference)


def keras_reference(app, model, cfg) -> dict:
    """The test split's inputs and labels, the Keras outputs, and its direct-call latency.

    Inputs and outputs are those of the model that is exported (the float32
    ``export_variant``, e.g. a VAE's decoder fed the test images' latents).
    """
    from apps.evaluate import keras_predictor

    exported = exported_model(app, model, cfg, "float32")
    predict = keras_predictor(exported)
    xs, ys, outputs = [], [], []
    for x, y in export_dataset(app, dataclasses.replace(cfg, batch_size=500, augment=False), "test"):
        x = np.asarray(export_inputs(app, model, cfg, x))
        xs.append(x)
        ys.append(np.asarray(y))
        outputs.append(predict(x))
    x_all = np.concatenate(xs)
    latency = median_latency_ms(lambda x: exported(x, training=False), x_all[:1], 50)
    return {
        "x": x_all,
        "y_true": np.concatenate(ys),
        "outputs": np.concatenate(outputs),
        "latency_ms": latency,
    }


def run_on_split(runner, tflite_path: Path, reference: dict) -> np.ndarray:
    """The file's outputs on the whole reference split, checked to have the Keras outputs' shape.

    Raises:
        GlasswingError: The file's output has another shape (a broken conversion; seen
            with EXPERIMENTAL_SPARSITY on speech's int8 graph, whose only output came
            out as its own quantized input).
    """
    x_all, keras_out = reference["x"], reference["outputs"]
    outputs = np.concatenate([runner(x_all[i : i + 500]) for i in range(0, len(x_all), 500)])
    if outputs.shape != keras_out.shape:
        raise GlasswingError(
            f"{Path(tflite_path).name} outputs shape {outputs.shape[1:]}, the Keras model "
            f"{keras_out.shape[1:]}: the converter produced a broken file."
        )
    return outputs


def compare_outputs(outputs: np.ndarray, reference: dict, classify: bool) -> dict:
    """A file's outputs vs the Keras ones: largest difference; for classifiers, accuracy and agreement."""
    keras_out = reference["outputs"]
    row = {"max_abs_diff": float(np.max(np.abs(outputs - keras_out)))}
    if classify:
        pred = outputs.argmax(-1)
        row["accuracy"] = float((pred == reference["y_true"]).mean())
        row["agreement"] = float((pred == keras_out.argmax(-1)).mean())
    return row


def verify(
    app,
    tflite_path: Path,
    reference: dict,
    cfg=None,
    delegates: bool = True,
    latency_runs: int = LATENCY_RUNS,
    name: str | None = None,
) -> dict:
    """Runs a .tflite on the whole test split in LiteRT; compares it with the Keras outputs.

    The one verifier of exported files (``glasswing export`` and ``glasswing optimize``):
    size, largest output difference, accuracy and agreement for classifiers, a
    generator's own quality numbers (``cfg`` is passed to its ``export_quality``),
    median single-example latency on one thread, and the input/output tensors.

    Args:
        delegates: ``False`` runs LiteRT's builtin kernels without XNNPack.
        name: What the row calls the file (default ``tflite/<file name>``).
    """
    from apps import litert

    tflite_path = Path(tflite_path)
    outputs = run_on_split(litert.runner(tflite_path, None, delegates), tflite_path, reference)
    row = {
        "file": name or f"{artifacts.TFLITE_DIR}/{tflite_path.name}",
        "size_bytes": tflite_path.stat().st_size,
        **compare_outputs(outputs, reference, classify=app.task == "classify"),
        "finite": bool(np.isfinite(outputs).all()),
    }
    row.update(export_quality(app, cfg, outputs, reference))
    single = litert.runner(tflite_path, 1, delegates)
    row["latency_ms"] = median_latency_ms(single, reference["x"][:1], latency_runs)
    row["input"] = _describe(single.input_details)
    row["output"] = _describe(single.output_details)
    return row


def _describe(details):
    from apps.litert import describe_tensor

    return describe_tensor(details)


def export(app, models_dir="models", quant: str = "all") -> dict:
    """Exports and verifies the requested modes; returns the per-mode report.

    Writes each file atomically (temp name, then rename) and merges the rows
    into ``export.json``, keeping rows of modes not exported this time.
    """
    import keras

    from apps.sysinfo import cpu_name

    modes = quant_modes(quant)
    folder = artifacts.require_model_dir(models_dir, app)
    artifacts.ensure_writable(folder / artifacts.TFLITE_DIR)
    cfg, model = artifacts.load_trained(app, folder)
    print(f"Running the Keras model on the {app.name} test split for reference ...", flush=True)
    reference = keras_reference(app, model, cfg)
    report_path = folder / artifacts.EXPORT_FILE
    report = artifacts.read_json(report_path) if report_path.is_file() else {}
    rows = report.get("modes", {})
    for i, mode in enumerate(modes, start=1):
        target = folder / artifacts.TFLITE_DIR / f"{mode}.tflite"
        tmp = target.with_name(f".{mode}.{os.getpid()}.tmp.tflite")
        print(f"[{i}/{len(modes)}] {mode}: converting in a subprocess ...", flush=True)
        try:
            convert_in_subprocess(app, folder, mode, tmp, what=mode)
            print(
                f"[{i}/{len(modes)}] {mode}: verifying on {len(reference['x'])} test examples ...", flush=True
            )
            row = verify(app, tmp, reference, cfg)
            os.replace(tmp, target)
            row["file"] = f"{artifacts.TFLITE_DIR}/{target.name}"
        except GlasswingError as err:
            row = {"error": str(err)}
            target.unlink(missing_ok=True)  # no file that export.json says failed
            print(f"[{i}/{len(modes)}] {mode}: FAILED: {err}", file=sys.stderr, flush=True)
        finally:
            tmp.unlink(missing_ok=True)
        rows[mode] = row
        if "error" not in row:
            print(f"[{i}/{len(modes)}] {mode}: {_summary(row)}", flush=True)
    base = rows.get("float32", {}).get("size_bytes")
    for row in rows.values():
        if base and "size_bytes" in row:
            row["size_ratio_vs_float32"] = round(row["size_bytes"] / base, 4)
    keras_row = {"latency_ms": reference["latency_ms"], "call": "model(x, training=False)"}
    keras_row.update(export_quality(app, cfg, reference["outputs"], reference))
    if app.task == "classify":
        keras_row["accuracy"] = float((reference["outputs"].argmax(-1) == reference["y_true"]).mean())
        for row in rows.values():
            if "accuracy" in row:
                row["accuracy_drop_pt"] = round(100 * (keras_row["accuracy"] - row["accuracy"]), 3)
    report = {
        "app": app.name,
        "test_examples": int(len(reference["x"])),
        "cpu": f"{cpu_name()} ({os.cpu_count()} cores)",
        "latency": "median single-example wall time; .tflite with 1 interpreter thread",
        "keras_version": keras.__version__,
        "keras": keras_row,
        "modes": rows,
    }
    artifacts.write_json_atomic(report_path, report)
    artifacts.write_json_atomic(folder / artifacts.TFLITE_DIR / "metadata.json", _metadata(app, cfg, rows))
    return {mode: rows[mode] for mode in modes}


# What verify() itself measures for every file; any other number in a row is the app's
# own quality measure (App.generative.export_quality), shown whatever its name.
_MEASURED_KEYS = (
    "size_bytes", "max_abs_diff", "accuracy", "agreement", "latency_ms",
    "size_ratio_vs_float32", "accuracy_drop_pt",
)  # fmt: skip


def _summary(row: dict) -> str:
    parts = [f"{row['size_bytes'] / 1024:.0f} KB"]
    if "accuracy" in row:
        parts.append(f"accuracy {row['accuracy']:.4f}, agreement {row['agreement']:.4f}")
    parts += [
        f"{k} {v:.4g}"
        for k, v in row.items()
        if k not in _MEASURED_KEYS and isinstance(v, float | int) and not isinstance(v, bool)
    ]
    parts.append(f"max |diff| {row['max_abs_diff']:.2g}, {row['latency_ms']:.3f} ms/example")
    return ", ".join(parts)


def _metadata(app, cfg, rows: dict) -> dict:
    doc = (app.preprocess.__doc__ or "").strip().splitlines()
    return {
        "app": app.name,
        "task": app.task,
        "modality": app.modality,
        "labels": app.labels(cfg),
        "preprocess": f"{app.preprocess.__module__}.{app.preprocess.__name__}: {doc[0] if doc else ''}",
        **({"raw_input": app.raw.metadata(cfg)} if app.raw is not None else {}),
        "files": {
            mode: {"file": row["file"], "input": row["input"], "output": row["output"]}
            for mode, row in rows.items()
            if "error" not in row
        },
    }
