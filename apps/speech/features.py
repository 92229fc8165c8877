"""Log-mel features and SpecAugment, written with ``keras.ops`` only.

The same :class:`LogMel` layer computes the features in the tf.data pipeline,
in :func:`apps.speech.data.preprocess` and inside the exported .tflite (where
``keras.ops.stft`` becomes builtin ``RFFT2D`` ops), so training, inference and
the exported file cannot drift apart. ``keras.ops`` keeps it backend-neutral
(``tf.signal`` layers fail under the JAX backend).
"""

from __future__ import annotations

import keras
import numpy as np

# TF Lite's dynamic-range quantization leaves constant weights below this size in float.
MAX_FLOAT_WEIGHTS = 1024


def hz_to_mel(hz):
    """HTK mel scale."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_matrix(num_mel_bins: int, fft_length: int, sample_rate: int, lower_hz: float, upper_hz: float):
    """``(fft_length // 2 + 1, num_mel_bins)`` triangular filters (HTK mel scale)."""
    if not 0 <= lower_hz < upper_hz <= sample_rate / 2:
        raise ValueError(f"Need 0 <= lower_hz < upper_hz <= {sample_rate / 2}, got {lower_hz}, {upper_hz}.")
    bins = np.linspace(0, sample_rate / 2, fft_length // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(lower_hz), hz_to_mel(upper_hz), num_mel_bins + 2))
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (bins[:, None] - lower) / (center - lower)
    down = (upper - bins[:, None]) / (upper - center)
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


def _extra_filters(name: str, fft_length: int, sample_rate: int) -> tuple[np.ndarray, float]:
    """A pretrained model's own ``(filterbank, floor)``, by name (only ``speech_embedding`` so far)."""
    from apps.speech import embedding

    if name != "speech_embedding":
        raise ValueError(f"Unknown extra_filters={name!r}. Expected 'speech_embedding'.")
    if (fft_length, sample_rate) != (embedding.FFT_LENGTH, embedding.SAMPLE_RATE):
        raise ValueError(
            f"The speech embedding's bands need a {embedding.FFT_LENGTH}-point FFT at "
            f"{embedding.SAMPLE_RATE} Hz, got {fft_length} at {sample_rate}."
        )
    return embedding.mel_filters(), embedding.FLOOR


@keras.saving.register_keras_serializable(package="glasswing")
class LogMel(keras.layers.Layer):
    """Waveform batch ``(B, samples)`` -> log-mel ``(B, frames, num_mel_bins, 1)``.

    A Hann-windowed STFT without centre padding, power spectrum, mel filters,
    then ``log(mel + floor)``. ``keras.ops.stft`` zero-pads the window to
    ``fft_length`` and frames at that length, so ``frames = 1 + (samples -
    fft_length) // frame_step``. No weights: everything follows from the config.

    ``extra_filters="speech_embedding"`` appends the 32 bands the pretrained speech
    embedding reads (:mod:`apps.speech.embedding`, the same STFT), so one cached,
    augmented log-mel feeds both a DS-CNN (the first ``num_mel_bins``) and the embedding.
    """

    def __init__(
        self,
        sample_rate: int = 16_000,
        frame_length: int = 400,
        frame_step: int = 160,
        fft_length: int = 512,
        num_mel_bins: int = 40,
        lower_hz: float = 20.0,
        upper_hz: float = 7_600.0,
        floor: float = 1e-6,
        extra_filters: str = "",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sample_rate, self.frame_length, self.frame_step = sample_rate, frame_length, frame_step
        self.fft_length, self.num_mel_bins = fft_length, num_mel_bins
        self.lower_hz, self.upper_hz, self.floor = lower_hz, upper_hz, floor
        self.extra_filters = extra_filters
        self._mel = mel_matrix(num_mel_bins, fft_length, sample_rate, lower_hz, upper_hz)
        # Each band's floor: the extra filters keep the one their model was trained with.
        self.floors = np.full(num_mel_bins, floor, np.float32)
        if extra_filters:
            extra, extra_floor = _extra_filters(extra_filters, fft_length, sample_rate)
            self._mel = np.concatenate([self._mel, extra], 1)
            self.floors = np.concatenate([self.floors, np.full(extra.shape[1], extra_floor, np.float32)])

    @property
    def bins(self) -> int:
        """Bands in the output: ``num_mel_bins``, plus the extra filters' own."""
        return self._mel.shape[1]

    def frames(self, samples: int) -> int:
        """How many frames a clip of ``samples`` samples gives."""
        return 1 + (samples - max(self.fft_length, self.frame_length)) // self.frame_step

    def call(self, waveform):
        real, imag = keras.ops.stft(
            waveform,
            sequence_length=self.frame_length,
            sequence_stride=self.frame_step,
            fft_length=self.fft_length,
            window="hann",
            center=False,
        )
        power = real * real + imag * imag
        # The filterbank is applied in slices of < 1024 weights: TF Lite's dynamic-range
        # mode stores larger constant weights as int8 and quantizes their input on the
        # fly, and this input is a ~90 dB power spectrum (measured: test accuracy 0.974
        # -> 0.911 with one 257x40 matmul). Slices that small stay float in every mode.
        bins = self._mel.shape[0]
        step = max(1, (MAX_FLOAT_WEIGHTS - 1) // bins)
        mel = keras.ops.concatenate(
            [
                keras.ops.matmul(power, keras.ops.convert_to_tensor(self._mel[:, i : i + step], power.dtype))
                for i in range(0, self.bins, step)
            ],
            axis=-1,
        )
        logmel = keras.ops.log(mel[..., : self.num_mel_bins] + self.floor)
        if self.bins > self.num_mel_bins:
            # log(mel + floor) as logaddexp(log mel, log floor): the extra filters' floor (~1e-19)
            # is below float16's range, and a float16 .tflite stored it as 0 (digital silence gave
            # -inf, then NaN). Its log (-43.8) is an ordinary float16 number; log(0) = -inf is safe here.
            extra = keras.ops.logaddexp(
                keras.ops.log(mel[..., self.num_mel_bins :]),
                keras.ops.convert_to_tensor(np.log(self.floors[self.num_mel_bins :]), mel.dtype),
            )
            logmel = keras.ops.concatenate([logmel, extra], axis=-1)
        return keras.ops.expand_dims(logmel, -1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.frames(input_shape[1]), self.bins, 1)

    def _window(self) -> np.ndarray:
        """The analysis window exactly as ``keras.ops.stft`` builds it: periodic Hann, zero-padded
        to ``fft_length`` on both sides."""
        n = self.frame_length
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
        left = (self.fft_length - n) // 2
        return np.pad(hann, (left, self.fft_length - n - left))

    def resynthesize(self, waveform, keep) -> np.ndarray:
        """The waveform with only the parts of its log-mel where ``keep`` is 1 left in it.

        ``keep`` has the layer's output shape for one clip (``(frames, mel_bins)`` or with a
        trailing 1) and values in [0, 1]. Each mel band's weight is spread over the FFT bins
        of its triangular filter (a bin shared by two bands gets their filter-weighted mean),
        the STFT is multiplied by that mask and inverted by weighted overlap-add. Bins no
        filter covers, which the model never hears, are dropped. The result is linear in
        ``keep``: ``resynthesize(w, k) + resynthesize(w, 1 - k) == resynthesize(w, 1)``.
        """
        signal = np.asarray(waveform, np.float64).reshape(-1)
        keep = np.asarray(keep, np.float64).reshape(self.frames(len(signal)), self.bins)
        window, step, size = self._window(), self.frame_step, self.fft_length
        starts = np.arange(len(keep)) * step
        spectrum = np.fft.rfft(np.stack([signal[s : s + size] for s in starts]) * window, axis=-1)
        cover = self._mel.sum(axis=1)
        per_bin = keep @ self._mel.T / np.where(cover > 0, cover, 1.0)
        frames = np.fft.irfft(spectrum * per_bin, n=size, axis=-1) * window
        out, norm = np.zeros_like(signal), np.zeros_like(signal)
        for start, frame in zip(starts, frames):
            out[start : start + size] += frame
            norm[start : start + size] += window**2
        # Samples no frame covers (the clip's tail) are not heard by the model: silence.
        return np.where(norm > 1e-3, out / np.maximum(norm, 1e-3), 0.0).astype(np.float32)

    def get_config(self):
        return {
            **super().get_config(),
            "sample_rate": self.sample_rate,
            "frame_length": self.frame_length,
            "frame_step": self.frame_step,
            "fft_length": self.fft_length,
            "num_mel_bins": self.num_mel_bins,
            "lower_hz": self.lower_hz,
            "upper_hz": self.upper_hz,
            "floor": self.floor,
            "extra_filters": self.extra_filters,
        }


def logmel_layer(cfg, extra_filters: str = "") -> LogMel:
    """The front-end of an app Config (its ``*_ms``, ``mel_bins`` and rate fields), plus ``extra_filters``."""
    return LogMel(
        sample_rate=cfg.sample_rate,
        frame_length=round(cfg.window_ms * cfg.sample_rate / 1000),
        frame_step=round(cfg.hop_ms * cfg.sample_rate / 1000),
        fft_length=cfg.fft_length,
        num_mel_bins=cfg.mel_bins,
        extra_filters=extra_filters,
        name="logmel",
    )
