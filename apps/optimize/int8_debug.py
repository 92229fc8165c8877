"""Per-layer int8 quantization error, keyed by Keras layer names; selective quantization.

``glasswing optimize APP --int8-debug [--keep-float N]`` converts the app's
int8 model (the same ``export_variant``, converter options and calibration
data as ``glasswing export --quant int8``) with
``tf.lite.experimental.QuantizationDebugger``, which runs a debug model with a
``NumericVerify`` op after every quantized op and measures the difference
between the dequantized int8 output and the float output of the same op, on
validation examples (not the calibration ones).

The error metric is ``RMSE / scale``: the root-mean-square difference in units
of the tensor's quantization step. Pure rounding of a well-calibrated tensor
gives about ``1/sqrt(12) = 0.29``; much more means the op's int8 result is
off by several steps (clipped ranges, error carried in from its inputs).

Mapping TF Lite tensors back to Keras layers: Keras exports trace each layer
inside a name scope of the layer's name, so a tensor name is a ``;``-joined
list of fused op paths such as
``fashion_cnn_1/block1_1_relu_1/Relu;fashion_cnn_1/block1_1_bn_1/...;fashion_cnn_1/block1_1_conv_1/convolution``.
Each ``/``-separated part is compared with the model's layer names (also with
a trailing ``_<digits>`` removed: the name-scope uniquifier); nested layers
(e.g. a Bidirectional's ``forward_lstm``) map to their top-level layer, the
name ``model.get_layer`` takes. Fused ops map to several layers, reported
joined with ``+`` (conv + batch norm + ReLU become one int8 op). The model's
output tensor has no layer scope in its name (``StatefulPartitionedCall:0``)
and is mapped to the layer that produces ``model.outputs[0]``; anything else
that matches no layer is listed as ``(unmapped) <tensor name>``.

``--keep-float N`` reconverts with the tensors of the N worst Keras layers
denylisted (``QuantizationDebugOptions(denylisted_nodes=...)``), so those ops
run in float between quantize/dequantize ops, and prints accuracy and size of
float32 vs full int8 vs the selective file, all measured in LiteRT.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from apps import artifacts, conversion, litert
from apps.errors import GlasswingError
from apps.litert import interleaved_latency
from apps.optimize import OPTIMIZED_DIR, common, require_classifier

DEBUG_EXAMPLES = 100
# Ops that only move between int8 and float; not "a layer running in float".
_CONVERSION_OPS = ("QUANTIZE", "DEQUANTIZE")


def _user_layers(model) -> list:
    """The layers a user knows, in order: a nested model (the trained model behind a
    raw-input front-end) stands for its own layers; input layers make no ops."""
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        found += _user_layers(layer) if isinstance(layer, keras.Model) else [layer]
    return found


def keras_layer_index(model) -> tuple[list[str], dict[str, str]]:
    """Top-level layer names in model order, and ``{any layer name: its top-level layer}``.

    Top level means the trained model's own layers, also when export wraps it
    (speech: ``signal -> logmel -> ds_cnn``), so rows say ``conv_in``, not ``ds_cnn``.
    """
    order, owner = [], {}
    for layer in _user_layers(model):
        order.append(layer.name)
        owner[layer.name] = layer.name
        flatten = getattr(layer, "_flatten_layers", None)
        for inner in flatten(include_self=False, recursive=True) if flatten else ():
            owner.setdefault(inner.name, layer.name)
    return order, owner


def map_tensor(tensor_name: str, order: list[str], owner: dict[str, str]) -> list[str]:
    """The top-level Keras layers a TF Lite tensor name comes from, in model order (maybe none)."""
    found = set()
    for op_path in tensor_name.split(";"):
        for part in op_path.split("/"):
            for candidate in (part, re.sub(r"_\d+$", "", part)):
                if candidate in owner:
                    found.add(owner[candidate])
                    break
    return [name for name in order if name in found]


def _output_layer(model) -> str:
    import keras

    history = getattr(model.outputs[0], "_keras_history", None)
    layer = history[0] if history else model.layers[-1]
    return _output_layer(layer) if isinstance(layer, keras.Model) else layer.name


def _converter(model, options: dict):
    """A ``TFLiteConverter`` for ``model`` built as Keras's litert export builds it, with ``options``.

    The debugger needs the converter object, which ``model.export`` keeps to
    itself; this is the same ExportArchive -> SavedModel -> converter path,
    with a fixed batch of 1 (as :func:`apps.conversion.export_model`).
    """
    import tensorflow as tf
    from keras.src import export as keras_export

    spec = model.inputs[0]
    signature = [tf.TensorSpec((1, *spec.shape[1:]), spec.dtype, name=spec.name.split(":")[0])]
    saved = tempfile.mkdtemp(prefix="glasswing-int8-debug-")
    archive = keras_export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve", functools.partial(model.__call__, training=False), input_signature=signature
    )
    archive.write_out(saved, verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved)
    converter.experimental_enable_resource_variables = True
    for key, value in options.items():
        if key == "target_spec":
            for spec_key, spec_value in value.items():
                setattr(converter.target_spec, spec_key, spec_value)
        else:
            setattr(converter, key, value)
    return converter


def _calibrated(model, options: dict) -> bytes:
    """The float model with activation ranges recorded (``_experimental_calibrate_only``)."""
    io_types = ("inference_input_type", "inference_output_type")  # set by the quantizer, not calibration
    calibrate = {k: v for k, v in options.items() if k not in io_types}
    return _converter(model, {**calibrate, "_experimental_calibrate_only": True}).convert()


def _float_ops(model_bytes: bytes) -> int:
    """Ops computing in float32 (not counting quantize/dequantize) in a .tflite model."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=model_bytes)
    tensors = {t["index"]: t for t in interp.get_tensor_details()}
    count = 0
    for op in interp._get_ops_details():  # noqa: SLF001 - the only way to list ops in Python
        if op["op_name"] in _CONVERSION_OPS:
            continue
        outputs = [tensors[i] for i in op["outputs"] if i in tensors]
        if outputs and all(np.dtype(t["dtype"]) == np.float32 for t in outputs):
            count += 1
    return count


def layer_rows(stats_csv: str, order, owner, output_tensor: str | None, output_layer: str) -> list[dict]:
    """Debugger statistics (``layer_statistics_dump`` CSV) -> rows keyed by Keras layer, worst first."""
    rows = []
    for record in csv.DictReader(io.StringIO(stats_csv)):
        tensor = record["tensor_name"]
        layers = map_tensor(tensor, order, owner)
        mapped_by = "name scope"
        if not layers and output_tensor and tensor.split(":")[0] == output_tensor.split(":")[0]:
            layers, mapped_by = [output_layer], "model output"
        if not layers:
            mapped_by = "unmapped"
        scale = float(record["scale"] or 0.0)
        mse = float(record["mean_squared_error"])
        rows.append(
            {
                "keras_layer": " + ".join(layers) if layers else f"(unmapped) {tensor}",
                "layers": layers,
                "mapped_by": mapped_by,
                "op": record["op_name"],
                "tensor": tensor,
                "rmse_over_scale": math.sqrt(mse) / scale if scale else float("nan"),
                "rmse": math.sqrt(mse),
                "max_abs_error": float(record["max_abs_error"]),
                "mean_error": float(record["mean_error"]),
                "scale": scale,
                "num_elements": int(float(record["num_elements"])),
            }
        )
    return sorted(rows, key=lambda r: -np.nan_to_num(r["rmse_over_scale"], nan=-1.0))


def by_layer(rows: list[dict]) -> list[dict]:
    """One entry per Keras layer (key), its worst tensor's error; worst first."""
    groups: dict[str, dict] = {}
    for row in rows:
        group = groups.setdefault(
            row["keras_layer"],
            {"keras_layer": row["keras_layer"], "tensors": [], "ops": [], "mapped_by": [], "worst": row},
        )
        group["tensors"].append(row["tensor"])
        group["ops"].append(row["op"])
        group["mapped_by"].append(row["mapped_by"])
    return list(groups.values())  # rows are sorted worst first, so groups are too


def debug_model(app, folder, out_dir, keep_float: int, debug_examples: int) -> dict:
    """The child-process half (run by :func:`apps.conversion.call_in_child`): runs the debugger,
    writes the .tflite files under ``out_dir`` and returns the per-layer results."""
    import tensorflow as tf

    folder, out_dir = Path(folder), Path(out_dir)
    cfg = artifacts.load_config(app, folder)
    trained = artifacts.load_model(folder / artifacts.MODEL_FILE)
    model = conversion.exported_model(app, trained, cfg, "int8")
    dtype = model.inputs[0].dtype

    def batches(split, n):
        return conversion.calibration_batches(app, trained, cfg, dtype, split, n)

    options = conversion.converter_options("int8", dtype, batches("train", conversion.CALIBRATION_EXAMPLES))
    # Layers the app's own int8 export keeps in float (a raw-input front-end, App.int8_float) stay
    # float here too, with a float input, so "int8" is the file `glasswing export`
    # makes. They must be denylisted from the start: quantizing speech's STFT
    # front-end in debug mode fails ("Please check if the quantized model is in debug mode").
    always_float = conversion.float_layers(app, cfg, trained)
    # A calibrated float model names the front-end's tensors and is what the
    # selective file is quantized from; image needs neither without --keep-float.
    calibrated = _calibrated(model, options) if always_float or keep_float > 0 else None
    required = conversion.layer_tensors(calibrated, always_float) if always_float else []
    fully = not always_float
    converter = _converter(model, options)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter,
        debug_dataset=batches("validation", debug_examples),
        debug_options=tf.lite.experimental.QuantizationDebugOptions(
            fully_quantize=fully, denylisted_nodes=required or None
        ),
    )
    debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)

    tflite = out_dir / artifacts.TFLITE_DIR
    tflite.mkdir(parents=True, exist_ok=True)
    conversion.convert_folder(app, folder, "float32", tflite / "float32.tflite")
    from ai_edge_litert.interpreter import Interpreter

    output_tensor = Interpreter(model_path=str(tflite / "float32.tflite")).get_output_details()[0]["name"]
    order, owner = keras_layer_index(model)
    rows = layer_rows(dump.getvalue(), order, owner, output_tensor, _output_layer(model))
    layers = by_layer(rows)

    debugger.options = tf.lite.experimental.QuantizationDebugOptions(
        fully_quantize=fully, denylisted_nodes=required or None
    )
    full = debugger.get_nondebug_quantized_model()
    (tflite / "int8.tflite").write_bytes(full)
    result = {
        "rows": rows,
        "layers": layers,
        "keep_float": [],
        "always_float": list(always_float),
        "float_ops": {"int8": _float_ops(full)},
    }
    if keep_float > 0:
        keep = [g for g in layers if not set(g["keras_layer"].split(" + ")) & set(always_float)]
        keep = keep[:keep_float]
        denylist = sorted({t for group in keep for t in group["tensors"]} | set(required))
        # The quantizer `glasswing export` uses for float layers, on the calibrated
        # model: re-setting the debugger's options re-runs its debug model, which fails
        # for speech's graph whatever the denylist.
        selective = conversion.quantize_keeping_nodes(calibrated, denylist, float_input=not fully)
        name = f"int8-keep-float-{keep_float}"
        (tflite / f"{name}.tflite").write_bytes(selective)
        result["keep_float"] = [group["keras_layer"] for group in keep]
        result["denylisted_nodes"] = denylist
        result["float_ops"][name] = _float_ops(selective)
    return result


def int8_debug(
    app,
    models_dir="models",
    keep_float: int = 0,
    debug_examples: int = DEBUG_EXAMPLES,
    out_dir=None,
    latency_runs: int = 200,
) -> dict:
    """``glasswing optimize APP --int8-debug [--keep-float N]``: per-layer error and the trade-off.

    Returns the report published as ``OUT/int8-debug/report.json`` (default
    ``models_dir/APP/optimized``) beside the .tflite files it measured.
    """
    require_classifier(app)
    if keep_float < 0:
        raise GlasswingError(f"--keep-float must be >= 0, got {keep_float}.")
    folder = artifacts.require_model_dir(models_dir, app)
    cfg = artifacts.load_config(app, folder)
    out_root = Path(out_dir) if out_dir else folder / OPTIMIZED_DIR
    staging = out_root / ".staging-int8-debug"
    shutil.rmtree(staging, ignore_errors=True)
    artifacts.ensure_writable(staging)
    start = time.time()
    print(f"Running the int8 quantization debugger on {app.name} ({debug_examples} validation examples) ...")
    result = conversion.call_in_child(
        "apps.optimize.int8_debug:debug_model",
        app,
        folder,
        "int8 debugger",
        out_dir=str(staging),
        keep_float=keep_float,
        debug_examples=debug_examples,
    )
    if keep_float > len(result["layers"]):
        print(f"Only {len(result['layers'])} quantized layers; kept all of them in float.", flush=True)

    model = artifacts.load_model(folder / artifacts.MODEL_FILE)
    reference = common.test_reference(app, model, cfg)
    files = {}
    for path in sorted((staging / artifacts.TFLITE_DIR).glob("*.tflite")):
        files[path.stem] = common.verify_file(app, path, reference, cfg)
        files[path.stem]["file"] = f"{artifacts.TFLITE_DIR}/{path.name}"
        files[path.stem]["float_ops"] = result["float_ops"].get(path.stem)
    x = common.one_test_input(app, cfg, model)
    runners = {name: litert.runner(staging / row["file"]) for name, row in files.items()}
    latency = interleaved_latency(runners, x, latency_runs)
    for name, ms in latency.items():
        files[name]["latency_ms"] = ms
    report = {
        "app": app.name,
        "keras_accuracy": reference["accuracy"],
        "metric": "rmse/scale: RMS difference of the int8 op output vs float, in quantization steps",
        "layers": [
            {
                "keras_layer": g["keras_layer"],
                "ops": sorted(set(g["ops"])),
                "tensors": len(g["tensors"]),
                **{k: g["worst"][k] for k in ("rmse_over_scale", "rmse", "max_abs_error", "scale")},
                "mapped_by": ", ".join(sorted(set(g["mapped_by"]))),
            }
            for g in result["layers"]
        ],
        "tensors": result["rows"],
        "keep_float": result["keep_float"],
        "always_float": result.get("always_float", []),
        "denylisted_nodes": result.get("denylisted_nodes", []),
        "files": files,
        "settings": {
            "debug_examples": debug_examples,
            "latency_runs": latency_runs,
            "machine": common.machine(),
            "wall_time_s": round(time.time() - start, 1),
        },
    }
    artifacts.write_json_atomic(staging / "report.json", report)
    artifacts.publish_dir(staging, out_root / "int8-debug")
    return report


def layer_table(report: dict, limit: int = 20) -> common.Table:
    """Per Keras layer, worst first."""
    rows = []
    for i, layer in enumerate(report["layers"][:limit], start=1):
        rows.append(
            [
                i,
                layer["keras_layer"],
                ",".join(layer["ops"]),
                f"{layer['rmse_over_scale']:.3f}",
                f"{layer['max_abs_error']:.3g}",
                f"{layer['scale']:.3g}",
                layer["mapped_by"],
                "float" if layer["keras_layer"] in report["keep_float"] else "int8",
            ]
        )
    unmapped = sum(1 for t in report["tensors"] if t["mapped_by"] == "unmapped")
    notes = [
        f"{report['metric']} (≈0.29 = rounding only); worst tensor per Keras layer, "
        f"{report['settings']['debug_examples']} validation examples",
        f"{len(report['tensors'])} quantized tensors, {unmapped} not mapped to a Keras layer"
        + (
            f"; showing the worst {limit} of {len(report['layers'])} layers"
            if len(report["layers"]) > limit
            else ""
        ),
    ]
    columns = ["#", "Keras layer", "TF Lite op", "rmse/scale", "max |err|", "scale", "mapped by", "kept as"]
    return common.Table(f"int8 error per Keras layer: {report['app']}", columns, rows, notes)


def tradeoff_table(report: dict) -> common.Table:
    """float32 vs full int8 vs selective int8: accuracy, size, latency."""
    files = report["files"]
    base = files["float32"]
    order = ["float32", "int8"] + sorted(k for k in files if k.startswith("int8-keep"))
    rows = []
    for name in order:
        row = files[name]
        rows.append(
            [
                name,
                row["accuracy"],
                f"{100 * (row['accuracy'] - base['accuracy']):+.2f}",
                row["agreement"],
                common.kb(row["size_bytes"]),
                common.ratio(row["size_bytes"], base["size_bytes"]),
                common.kb(row["gzip_bytes"]),
                row.get("float_ops"),
                f"{row['latency_ms']:.3f}",
                common.ratio(row["latency_ms"], base["latency_ms"]),
            ]
        )
    notes = [
        "accuracy/agreement with Keras on the whole test split in LiteRT "
        f"(Keras: {report['keras_accuracy']:.4f}); "
        + (
            "int8 files take a float input (the front-end stays float)"
            if report.get("always_float")
            else "int8 files have int8 input and output"
        ),
        f"kept in float: {', '.join(report['keep_float']) or 'none'}"
        + (
            f" (and in every int8 file, as `glasswing export` does: {', '.join(report['always_float'])})"
            if report.get("always_float")
            else ""
        )
        + "; float ops = ops computing in float32 "
        f"(quantize/dequantize not counted); ms = median single-example latency, "
        f"{report['settings']['latency_runs']} interleaved runs, 1 thread, {report['settings']['machine']}",
    ]
    columns = ["file", "accuracy", "Δ pt vs f32", "agreement", "KB", "x f32", "gzip KB", "float ops", "ms"]
    columns += ["x f32"]
    return common.Table(f"Selective int8: {report['app']}", columns, rows, notes)
