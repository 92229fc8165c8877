"""Shared TF Lite export: convert in a subprocess, then verify in the LiteRT interpreter.

``glasswing export APP --quant {float32,dynamic,float16,int8,all}`` writes
``models/APP/tflite/<quant>.tflite``, ``tflite/metadata.json`` and
``export.json``. Every number in ``export.json`` is measured by running the
.tflite file itself on the app's whole test split.

Conversion runs in a child process (``python -m apps.export --convert ...``)
because the converter can crash the process outright (e.g. int8 of a
Bidirectional LSTM segfaults on this stack); a crash becomes a clear error for
that mode and the other modes still export.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from apps import artifacts
from apps.errors import GlasswingError

QUANT_MODES = ("float32", "dynamic", "float16", "int8")
CALIBRATION_EXAMPLES = 256
CONVERT_TIMEOUT_S = 900
LATENCY_RUNS = 200


def quant_modes(quant: str) -> tuple[str, ...]:
    """Expands ``all``; rejects an unknown mode with the valid ones listed."""
    if quant == "all":
        return QUANT_MODES
    if quant not in QUANT_MODES:
        raise GlasswingError(f"Unknown quant={quant!r}. Expected one of {sorted(QUANT_MODES) + ['all']}.")
    return (quant,)


def calibration_cfg(cfg):
    """The training data as the model sees it at inference: no augmentation, batch 1."""
    return dataclasses.replace(cfg, augment=False, batch_size=1)


def converter_options(quant: str, input_dtype, representative=None, *, sparsity: bool = False) -> dict:
    """Keyword arguments for ``model.export(format="litert")`` for one mode.

    Builtin ops only, set explicitly (Keras enables SELECT_TF_OPS by default,
    and no interpreter here runs Flex ops), so an unsupported op fails loudly.
    ``sparsity=True`` adds ``tf.lite.Optimize.EXPERIMENTAL_SPARSITY``: the
    converter stores pruned (mostly-zero) weights of the ops that have sparse
    kernels in a sparse format.
    """
    import tensorflow as tf

    options = _mode_options(quant, input_dtype, representative)
    if sparsity:
        options["optimizations"] = [*options.get("optimizations", []), tf.lite.Optimize.EXPERIMENTAL_SPARSITY]
    return options


def _mode_options(quant: str, input_dtype, representative) -> dict:
    import tensorflow as tf

    builtins = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quant == "float32":
        return {"target_spec": {"supported_ops": builtins}}
    if quant == "dynamic":
        return {"target_spec": {"supported_ops": builtins}, "optimizations": [tf.lite.Optimize.DEFAULT]}
    if quant == "float16":
        return {
            "target_spec": {"supported_ops": builtins, "supported_types": [tf.float16]},
            "optimizations": [tf.lite.Optimize.DEFAULT],
        }
    if quant == "int8":
        options = {
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            "optimizations": [tf.lite.Optimize.DEFAULT],
            "representative_dataset": representative,
            "inference_output_type": tf.int8,
        }
        # Integer inputs (token ids) stay as they are; float inputs become int8.
        if np.dtype(input_dtype).kind == "f":
            options["inference_input_type"] = tf.int8
        return options
    raise GlasswingError(f"Unknown quant={quant!r}. Expected one of {sorted(QUANT_MODES)}.")


def export_model(
    model, out_path, quant: str, representative=None, *, sparsity: bool = False, float_layers=()
) -> None:
    """Converts a Keras model to one .tflite file with a fixed batch of 1.

    A fixed batch keeps LSTM/GRU and STFT graphs on builtin ops (with a dynamic
    batch they fall back to Flex ops, which no interpreter here runs).

    Args:
        model: A Keras model with one input.
        out_path: Destination ``.tflite`` path.
        quant: One of ``QUANT_MODES``.
        representative: For ``int8``, a generator function yielding ``[x]``
            calibration batches of one example.
        sparsity: Also store pruned weights sparsely (see :func:`converter_options`).
        float_layers: For ``int8``, names of Keras layers whose ops stay float
            (selective quantization, see :func:`quantize_keeping_float`).
    """
    import tensorflow as tf

    spec = model.inputs[0]
    signature = [tf.TensorSpec((1, *spec.shape[1:]), spec.dtype, name=spec.name.split(":")[0])]
    if quant == "int8" and representative is None:
        raise GlasswingError("int8 export needs a representative dataset.")
    options = converter_options(quant, spec.dtype, representative, sparsity=sparsity)
    if quant != "int8" or not float_layers:
        model.export(str(out_path), format="litert", input_signature=signature, verbose=False, **options)
        return
    # Calibrate only (float graph + activation ranges), then quantize everything
    # except the ops of ``float_layers`` with the MLIR quantizer.
    options.update(_experimental_calibrate_only=True)
    for key in ("inference_input_type", "inference_output_type"):  # set by mlir_quantize below
        options.pop(key, None)
    calibrated = Path(out_path).with_name(f".{Path(out_path).stem}.calibrated.tflite")
    try:
        model.export(str(calibrated), format="litert", input_signature=signature, verbose=False, **options)
        data = quantize_keeping_float(calibrated.read_bytes(), float_layers, first_layer_float=True)
    finally:
        calibrated.unlink(missing_ok=True)
    Path(out_path).write_bytes(data)


def layer_tensors(model_bytes: bytes, layer_names) -> list[str]:
    """Names of the tensors of a converted model that belong to the given Keras layers.

    Keras names converted tensors by the layer path (``model/logmel_1/stft/...``),
    so a layer's tensors are those with a path component ``<name>`` or ``<name>_<k>``;
    ``"layer/op"`` names the ops ``op`` (or ``op_<k>``) directly inside ``layer``.
    """
    import re

    from ai_edge_litert.interpreter import Interpreter

    # "a/b" names an op inside layer a: each path component may carry Keras' "_<k>" suffix.
    suffixed = [r"(_\d+)?/".join(re.escape(part) for part in n.split("/")) for n in layer_names]
    patterns = [re.compile(rf"(^|/){name}(_\d+)?(/|;|$)") for name in suffixed]
    tensors = Interpreter(model_content=model_bytes).get_tensor_details()
    return sorted({t["name"] for t in tensors if any(p.search(t["name"]) for p in patterns)})


def quantize_keeping_float(calibrated: bytes, layer_names, first_layer_float: bool = False) -> bytes:
    """Full-integer quantization of a calibrated model, except the ops of ``layer_names``.

    Args:
        calibrated: A model converted with ``_experimental_calibrate_only=True``.
        layer_names: Keras layer names to keep in float.
        first_layer_float: The input feeds a float layer, so the file keeps a float
            input (int8 inside and at the output); otherwise input and output are int8.

    Raises:
        GlasswingError: None of the layers is found in the converted graph.
    """
    nodes = layer_tensors(calibrated, layer_names)
    if not nodes:
        raise GlasswingError(f"int8: no ops of layers {list(layer_names)} found in the converted graph.")
    return quantize_keeping_nodes(calibrated, nodes, float_input=first_layer_float)


def quantize_keeping_nodes(calibrated: bytes, nodes, float_input: bool = False) -> bytes:
    """Full-integer quantization of a calibrated model, except the ops producing ``nodes``.

    ``float_input``: keep a float input (a float layer reads it); int8 output either way.
    """
    import tensorflow as tf
    from tensorflow.lite.python import convert

    # fully_quantize=True makes the input int8 whatever input_data_type says, i.e.
    # 8-bit audio in front of the float front-end; without it the input stays float.
    return convert.mlir_quantize(
        calibrated,
        fully_quantize=not float_input,
        input_data_type=tf.float32 if float_input else tf.int8,
        output_data_type=tf.int8,
        denylisted_nodes=list(nodes),
    )


def convert(app, models_dir, quant: str, out_path) -> None:
    """Converts ``models_dir/APP/model.keras`` to ``out_path`` (run in a child process).

    int8 calibration uses examples of the training split, unaugmented.
    """
    import tensorflow as tf

    folder = artifacts.require_model_dir(models_dir, app)
    cfg, trained = artifacts.load_trained(app, folder)
    model = exported_model(app, trained, cfg, quant)
    dtype = model.inputs[0].dtype

    def representative():
        for x, _ in export_dataset(app, calibration_cfg(cfg), "train").take(CALIBRATION_EXAMPLES):
            yield [tf.cast(export_inputs(app, trained, cfg, x), dtype)]

    export_model(model, out_path, quant, representative, float_layers=float_layers(app, cfg, trained))


def float_layers(app, cfg, model=None) -> tuple[str, ...]:
    """Layers an int8 file keeps in float: a raw-input app's front-end, and the app's ``int8_float``.

    A power spectrum spans ~90 dB and int8's linear scale keeps ~48 dB, so a
    quantized log-mel front-end floors every quiet band (measured: a tiny
    model's int8 file then agreed with Keras on 0% of test tones).
    """
    names = (app.raw.frontend(cfg).name,) if app.raw is not None else ()
    if app.int8_float is not None and model is not None:
        names += tuple(app.int8_float(model, cfg))
    return names


def exported_model(app, model, cfg, quant: str):
    """The Keras model one TF Lite mode converts.

    The app's ``export_variant`` (e.g. an unrolled RNN copy, a VAE's decoder),
    and for apps with :class:`~apps.app.RawInput` hooks, their front-end folded
    in front of it, so the file takes the raw signal (e.g. a waveform).
    """
    import keras

    base = app.export_variant(model, cfg, quant) if app.export_variant is not None else model
    if app.raw is None:
        return base
    signal = keras.Input(app.raw.shape(cfg), name="signal")
    return keras.Model(signal, base(app.raw.frontend(cfg)(signal)), name=f"{base.name}_on_signal")


def export_dataset(app, cfg, split: str):
    """Batched ``(inputs, y)`` as the exported file's side sees them: raw signals for RawInput apps."""
    return app.raw.dataset(cfg, split) if app.raw is not None else app.dataset(cfg, split)


def export_inputs(app, model, cfg, x):
    """A batch of dataset inputs as the exported model takes them (``Generative.export_inputs``)."""
    hooks = app.generative
    if hooks is None or hooks.export_inputs is None:
        return x
    return hooks.export_inputs(model, cfg, x)


def export_quality(app, cfg, outputs, reference) -> dict:
    """A generator's own quality numbers for one set of exported-model outputs (else none)."""
    hooks = app.generative
    if hooks is None or hooks.export_quality is None:
        return {}
    return hooks.export_quality(cfg, outputs, reference)


def _convert_in_subprocess(app, models_dir, quant: str, out_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "apps.export",
        "--convert",
        app.name,
        quant,
        str(out_path),
        "--models-dir",
        str(models_dir),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=CONVERT_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise GlasswingError(
            f"{quant}: conversion took over {CONVERT_TIMEOUT_S} s and was stopped."
        ) from None
    if done.returncode == 0 and out_path.is_file():
        return
    tail = " | ".join(line for line in done.stderr.strip().splitlines()[-3:])
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        raise GlasswingError(f"{quant}: the TF Lite converter crashed ({name}). {tail}")
    raise GlasswingError(f"{quant}: conversion failed (exit {done.returncode}). {tail}")


def _median_ms(fn, x, runs: int) -> float:
    fn(x)  # warm up: first calls allocate and trace
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


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
    latency = _median_ms(lambda x: exported(x, training=False), x_all[:1], 50)
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


def verify(app, tflite_path: Path, reference: dict, cfg=None) -> dict:
    """Runs the .tflite on the whole test split; compares it with the Keras outputs.

    ``cfg`` (the model's Config) is passed to a generator's ``export_quality``.
    """
    from apps.litert import LiteRTModel

    x_all = reference["x"]
    outputs = run_on_split(LiteRTModel(tflite_path), tflite_path, reference)
    keras_out = reference["outputs"]
    row = {
        "file": f"{artifacts.TFLITE_DIR}/{tflite_path.name}",
        "size_bytes": tflite_path.stat().st_size,
        "max_abs_diff": float(np.max(np.abs(outputs - keras_out))),
        "finite": bool(np.isfinite(outputs).all()),
    }
    if app.task == "classify":
        pred, keras_pred = outputs.argmax(-1), keras_out.argmax(-1)
        row["accuracy"] = float((pred == reference["y_true"]).mean())
        row["agreement"] = float((pred == keras_pred).mean())
    row.update(export_quality(app, cfg, outputs, reference))
    single = LiteRTModel(tflite_path, num_threads=1)
    row["latency_ms"] = _median_ms(single, x_all[:1], LATENCY_RUNS)
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
            _convert_in_subprocess(app, models_dir, mode, tmp)
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


def _child_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m apps.export")
    parser.add_argument("--convert", nargs=3, metavar=("APP", "QUANT", "OUT"), required=True)
    parser.add_argument("--models-dir", default="models")
    args = parser.parse_args(argv)
    from apps import get_app

    name, quant, out = args.convert
    try:
        convert(get_app(name, args.models_dir), args.models_dir, quant, Path(out))
    except GlasswingError as err:
        print(err, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
