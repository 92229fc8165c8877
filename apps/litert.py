"""Running a .tflite file in the LiteRT interpreter, quantized or not, in batches."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import numpy as np

from apps.errors import GlasswingError


class LiteRTModel:
    """A ``predict(batch) -> outputs`` callable over a .tflite file.

    Quantized (int8/uint8) inputs and outputs are converted with the tensor's
    own scale and zero point, so callers always pass and get float arrays.
    Files exported with a fixed batch of 1 are resized to the batch given when
    the graph allows it, and run one example at a time when it does not.
    """

    def __init__(self, path, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self._threads = num_threads
        try:
            self._interp = Interpreter(model_path=str(self.path), num_threads=num_threads)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as err:
            raise GlasswingError(f"Cannot load TF Lite file {self.path}: {err}") from None
        self._input = self._interp.get_input_details()[0]
        self._output = self._interp.get_output_details()[0]
        self._batch = int(self._input["shape"][0])
        self._resizable = True
        # One interpreter serves every dashboard session (a cached resource), and a LiteRT
        # interpreter is not thread-safe: a call while another runs raised "at least 1
        # reference to internal data" under 4 concurrent sessions (bench/load.py).
        self._lock = threading.Lock()

    @property
    def input_details(self) -> dict:
        """The interpreter's input tensor details (shape, dtype, quantization)."""
        return self._input

    @property
    def output_details(self) -> dict:
        """The interpreter's output tensor details."""
        return self._output

    def _resize(self, batch: int) -> None:
        if batch == self._batch:
            return
        shape = list(self._input["shape"])
        shape[0] = batch
        self._interp.resize_tensor_input(self._input["index"], shape)
        self._interp.allocate_tensors()
        self._input = self._interp.get_input_details()[0]
        self._output = self._interp.get_output_details()[0]
        self._batch = batch

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        dtype = self._input["dtype"]
        scale, zero = self._input["quantization"]
        if np.issubdtype(dtype, np.integer) and scale:
            info = np.iinfo(dtype)
            return np.clip(np.round(x / scale + zero), info.min, info.max).astype(dtype)
        return np.asarray(x).astype(dtype)

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        scale, zero = self._output["quantization"]
        if np.issubdtype(y.dtype, np.integer) and scale:
            return (y.astype(np.float32) - zero) * scale
        return y.astype(np.float32)

    def _run(self, x: np.ndarray) -> np.ndarray:
        self._interp.set_tensor(self._input["index"], self._quantize(x))
        self._interp.invoke()
        return self._dequantize(self._interp.get_tensor(self._output["index"]))

    def __call__(self, x) -> np.ndarray:
        """Runs a batch ``x`` (any batch size); returns float outputs. Safe to call from several threads.

        Raises:
            GlasswingError: A kernel fails on this file (e.g. an int8 division whose divisor
                quantized to zero), in one line instead of LiteRT's traceback.
        """
        with self._lock:
            try:
                return self._call(np.asarray(x))
            except RuntimeError as err:
                reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise GlasswingError(f"{self.path.name} fails in LiteRT: {reason}") from None

    def _call(self, x: np.ndarray) -> np.ndarray:
        if self._resizable:
            try:
                self._resize(len(x))
                return self._run(x)
            except (ValueError, RuntimeError):
                # Some graphs (e.g. unrolled RNNs) only run at the exported batch size.
                self._resizable = False
                self._interp = type(self._interp)(model_path=str(self.path), num_threads=self._threads)
                self._interp.allocate_tensors()
                self._input = self._interp.get_input_details()[0]
                self._output = self._interp.get_output_details()[0]
                self._batch = int(self._input["shape"][0])
        return np.concatenate([self._run(x[i : i + 1]) for i in range(len(x))])

    predict = __call__


def describe_tensor(details: dict) -> dict:
    """JSON-ready description of an interpreter tensor (for metadata.json)."""
    scale, zero = details["quantization"]
    return {
        "name": details["name"],
        "shape": [int(d) for d in details["shape"]],
        "dtype": np.dtype(details["dtype"]).name,
        "quantization": {"scale": float(scale), "zero_point": int(zero)} if scale else None,
    }


def interleaved_latency(runners: dict, x, runs: int = 200) -> dict:
    """Median single-call milliseconds of each ``{name: fn}`` on ``x``, the calls interleaved.

    Interleaving spreads the noise of a shared machine over every runner alike,
    so the ratios between them are fair even when the absolute numbers wobble.
    Five warm-up calls each come first (tracing, allocation).
    """
    for fn in runners.values():
        for _ in range(5):
            fn(x)
    times = {name: [] for name in runners}
    for _ in range(runs):
        for name, fn in runners.items():
            start = time.perf_counter()
            fn(x)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) * 1000 for name, v in times.items()}


def median_latency_ms(fn, x, runs: int) -> float:
    """Median milliseconds of one call ``fn(x)`` (:func:`interleaved_latency` of one runner)."""
    return interleaved_latency({"fn": fn}, x, runs)["fn"]


def _builtin_model(path, num_threads=None) -> LiteRTModel:
    """:class:`LiteRTModel` on LiteRT's builtin kernels only (no default delegate)."""
    import ai_edge_litert.interpreter as litert_interpreter

    original = litert_interpreter.Interpreter
    resolver = litert_interpreter.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES

    class BuiltinOnly(original):
        def __init__(self, model_path, num_threads=None):
            super().__init__(
                model_path=model_path, num_threads=num_threads, experimental_op_resolver_type=resolver
            )

    # LiteRTModel imports ai_edge_litert.interpreter.Interpreter when it is built (and
    # re-creates it by type later), so swapping the name while constructing is enough.
    litert_interpreter.Interpreter = BuiltinOnly
    try:
        return LiteRTModel(path, num_threads=num_threads)
    finally:
        litert_interpreter.Interpreter = original


def runner(path, threads: int | None = 1, delegates: bool = True) -> LiteRTModel:
    """A LiteRT runner of ``path``: one thread by default (how latency is recorded);
    ``delegates=False`` uses the builtin kernels without XNNPack."""
    return LiteRTModel(path, num_threads=threads) if delegates else _builtin_model(path, num_threads=threads)
