"""TF Lite conversion: the one path from a trained model folder to a .tflite file.

Every .tflite Glasswing writes goes through here: ``glasswing export``, pruned
and distilled models (:mod:`apps.optimize`) and the int8 debugger's files. One
place decides the model a mode converts (the app's ``export_variant``, a
raw-input front-end folded in), the int8 calibration data (unaugmented training
examples), the converter options and the layers an int8 file keeps in float; so
a converter fix is made once.

Conversion runs in a child process (:func:`call_in_child`) because
the converter can crash its process outright (e.g. int8 of a Bidirectional LSTM
segfaults on this stack); a crash becomes a clear error for that file and the
caller carries on.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

from apps import artifacts
from apps.errors import GlasswingError

QUANT_MODES = ("float32", "dynamic", "float16", "int8")
CALIBRATION_EXAMPLES = 256
CONVERT_TIMEOUT_S = 900


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


def calibration_batches(app, trained, cfg, dtype, split: str = "train", n: int = CALIBRATION_EXAMPLES):
    """A generator function of ``[x]`` batches of one example, as the exported model takes them.

    ``n`` unaugmented examples of ``split`` (int8 calibration reads the training
    split; the int8 debugger also reads validation), cast to the file's input ``dtype``.
    """
    import tensorflow as tf

    def batches():
        for x, _ in export_dataset(app, calibration_cfg(cfg), split).take(n):
            yield [tf.cast(export_inputs(app, trained, cfg, x), dtype).numpy()]

    return batches


def convert_folder(app, folder, quant: str, out_path, sparsity: bool = False) -> None:
    """Converts ``folder/model.keras`` (any artifact folder) to one .tflite file, in this process.

    Use :func:`convert_in_subprocess` unless already in a child process.
    """
    cfg, trained = artifacts.load_trained(app, Path(folder))
    model = exported_model(app, trained, cfg, quant)
    dtype = model.inputs[0].dtype
    export_model(
        model,
        Path(out_path),
        quant,
        calibration_batches(app, trained, cfg, dtype),
        sparsity=sparsity,
        float_layers=float_layers(app, cfg, trained),
    )


def _run_child(args: list[str], what: str, crashed: str) -> None:
    """Runs ``python -m apps.conversion args`` with a time limit; a crash or failure becomes a GlasswingError.

    The message starts with ``what`` and ends with the child's last stderr lines;
    a child killed by a signal reads ``"{what}: {crashed} (SIGSEGV)"``.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "apps.conversion", *args],
            capture_output=True,
            text=True,
            timeout=CONVERT_TIMEOUT_S,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise GlasswingError(f"{what}: took over {CONVERT_TIMEOUT_S} s and was stopped.") from None
    if done.returncode == 0:
        return
    tail = " | ".join(done.stderr.strip().splitlines()[-3:])
    if done.returncode < 0:
        raise GlasswingError(f"{what}: {crashed} ({signal.Signals(-done.returncode).name}). {tail}")
    raise GlasswingError(f"{what}: failed (exit {done.returncode}). {tail}")


def call_in_child(target: str, app, folder, what: str, crashed: str = "the process crashed", **kwargs):
    """Runs ``target(app, folder, **kwargs)`` in a child process and returns its result.

    The one way Glasswing runs converter work that may crash its process: the
    child is ``python -m apps.conversion call``, which resolves the app the same
    way for every caller.

    Args:
        target: ``"module:function"``; the function takes ``(app, folder, **kwargs)``
            and returns something JSON can hold (or None).
        what: Starts any error message.
        crashed: What a signal-killed child is called in the message.
        **kwargs: JSON-serializable keyword arguments.

    Raises:
        GlasswingError: The child failed, crashed or ran over ``CONVERT_TIMEOUT_S``.
    """
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        _run_child(["call", target, app.name, str(folder), json.dumps(kwargs), str(result)], what, crashed)
        return json.loads(result.read_text())


def convert_in_subprocess(app, folder, quant: str, out_path, sparsity: bool = False, what: str = "") -> Path:
    """:func:`convert_folder` in a child process; returns ``out_path``.

    ``what`` starts any error message (default: ``"<quant> conversion of <folder>"``).
    """
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    what = what or f"{quant} conversion of {folder}"
    call_in_child(
        "apps.conversion:convert_folder",
        app,
        folder,
        what,
        crashed="the TF Lite converter crashed",
        quant=quant,
        out_path=str(out_path),
        sparsity=sparsity,
    )
    if not out_path.is_file():
        raise GlasswingError(f"{what}: no file was written.")
    return out_path


def _child_main(argv: list[str]) -> int:
    """``python -m apps.conversion call MODULE:FUNCTION APP FOLDER KWARGS_JSON RESULT_JSON``."""
    import importlib
    import json

    parser = argparse.ArgumentParser(prog="python -m apps.conversion")
    sub = parser.add_subparsers(dest="verb", required=True)
    p = sub.add_parser("call")
    for name in ("target", "app", "folder", "kwargs", "result"):
        p.add_argument(name)
    args = parser.parse_args(argv)
    from apps import get_app
    from apps.userdata import models_dir_of

    module, function = args.target.split(":")
    try:
        app = get_app(args.app, models_dir_of(args.app, args.folder))
        fn = getattr(importlib.import_module(module), function)
        value = fn(app, args.folder, **json.loads(args.kwargs))
    except GlasswingError as err:
        print(err, file=sys.stderr)
        return 2
    Path(args.result).write_text(json.dumps(value, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
