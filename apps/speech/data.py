"""Speech data: synthesized clips -> tfds builder -> augmented log-mel batches; and preprocess.

``prepare`` synthesizes the dataset (:mod:`apps.speech.synth`) into
``<data_dir>/speech/`` and serves it through the ``glasswing_speech`` tfds
builder (int16 waveforms, splits by voice). The pipeline computes log-mel
features once with the same :class:`~apps.speech.features.LogMel` layer the
exported .tflite folds in and caches them; training batches are augmented on
mel power (neighbouring-word context, time shift, gain, background noise at a
random SNR, :func:`feature_augment`), then get SpecAugment masks.
``augment_on="waveform"`` augments waveforms before the front-end instead.
"""

from __future__ import annotations

import functools
import shutil
import types
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from apps import datasets
from apps.app import class_names
from apps.errors import GlasswingError
from apps.speech import synth
from apps.speech.features import LogMel, logmel_layer

LABELS = list(synth.LABELS)
STAMP = "manifest_digest.txt"


def labels(cfg=None) -> list[str]:
    """The 20 keywords, then ``_unknown_`` and ``_silence_``; or a user dataset's (``cfg.classes``)."""
    return class_names(cfg, LABELS) if cfg is not None else list(LABELS)


NEURAL_FOLDER = "speech-neural"  # the clips with Kokoro's voices, and their tfds copy


def clips_dir(cfg) -> Path:
    """Where the synthesized WAVs and ``manifest.csv`` live (their own folder with Kokoro's voices)."""
    return Path(cfg.data_dir) / (NEURAL_FOLDER if cfg.neural_voices else "speech")


def tfds_dir(cfg) -> Path:
    """Where the clips' tfds copy lives: one per clips folder, so switching sets rebuilds neither."""
    return datasets.tfds_dir(cfg) / NEURAL_FOLDER if cfg.neural_voices else datasets.tfds_dir(cfg)


class GlasswingSpeech(tfds.core.GeneratorBasedBuilder):
    """Synthesized keyword clips (16 kHz int16), split by voice variant."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = "Run `glasswing data prepare speech` (synthesizes the clips)."

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "audio": tfds.features.Tensor(shape=(synth.CLIP_SAMPLES,), dtype=np.int16),
                    "label": tfds.features.ClassLabel(names=LABELS),
                    "voice": tfds.features.Text(),
                }
            ),
            supervised_keys=("audio", "label"),
        )

    def _split_generators(self, dl_manager):
        root = Path(dl_manager.manual_dir)
        rows = synth.read_manifest(root)
        return {
            split: self._generate_examples([r for r in rows if r["split"] == split], root)
            for split in datasets.SPLITS
        }

    def _generate_examples(self, rows, root):
        import soundfile

        for row in rows:
            audio, rate = soundfile.read(root / row["path"], dtype="int16")
            if rate != synth.SAMPLE_RATE or audio.shape != (synth.CLIP_SAMPLES,):
                raise GlasswingError(
                    f"{row['path']}: expected 1 s at 16 kHz mono, got {audio.shape} at {rate} Hz."
                )
            yield row["id"], {"audio": audio, "label": row["label"], "voice": row["voice"]}


def prepare(cfg, progress=None) -> str:
    """Synthesizes the clips (resumable) and builds the tfds dataset; returns a summary."""
    counts = _synthesize(cfg, progress)
    builder = _builder(cfg)
    rows = synth.read_manifest(clips_dir(cfg))
    sizes = {s: builder.info.splits[s].num_examples for s in datasets.SPLITS}
    voices = {s: len({r["voice"] for r in rows if r["split"] == s}) for s in datasets.SPLITS}
    return (
        f"speech: {counts['clips']} clips ({counts['written']} synthesized in {counts['seconds']} s on "
        f"{counts['workers']} workers, {counts['skipped']} already there); splits {sizes}; voices {voices}"
    )


def _synthesize(cfg, progress=None) -> dict:
    """Writes the clips that are missing (all of them the first time); prints progress by default."""
    root = clips_dir(cfg)

    def report(i, n):
        if progress is not None:
            progress(i, n)
        elif i == n or i % 1000 == 0:
            print(f"  synthesized {i}/{n} clips", flush=True)

    print(
        f"Synthesizing speech clips into {root} (espeak-ng, flite, festival"
        f"{' and Kokoro' if cfg.neural_voices else ''}, {synth.SAMPLE_RATE} Hz) ...",
        flush=True,
    )

    def rendered(i, n):
        engines = "festival's and Kokoro's" if cfg.neural_voices else "festival's"
        print(f"  {engines} words rendered for {i}/{n} voices", flush=True)

    return synth.generate(
        root,
        cfg.clips_per_word,
        cfg.unknown_clips,
        cfg.silence_clips,
        cfg.data_seed,
        progress=report,
        render_progress=rendered,
        neural=cfg.neural_voices,
        extra_unknown=cfg.extra_unknown_clips,
    )


def _builder(cfg):
    """The prepared builder, synthesizing the clips on first use (~2-5 min on 2 cores).

    Rebuilt when the manifest (the dataset plan) changed since it was prepared.
    """
    root = clips_dir(cfg)
    builder = GlasswingSpeech(data_dir=str(tfds_dir(cfg)))
    stamp = Path(builder.data_dir) / STAMP
    manifest = root / synth.MANIFEST
    if builder.is_prepared() and stamp.is_file() and manifest.is_file():
        if stamp.read_text() == synth.manifest_digest(root):
            return builder
    if builder.is_prepared():
        shutil.rmtree(builder.data_dir)
    _synthesize(cfg)
    builder = datasets.prepare_builder(GlasswingSpeech, cfg, root, data_dir=tfds_dir(cfg))
    Path(builder.data_dir, STAMP).write_text(synth.manifest_digest(root))
    return builder


def waveforms(cfg, split: str) -> tf.data.Dataset:
    """Unbatched ``(int16 waveform, label)`` pairs of one split."""
    return datasets.examples(cfg, split, _builder)


def _to_float(audio):
    return tf.cast(audio, tf.float32) / 32768.0


def _as_float(audio):
    """Waveforms as float32 in [-1, 1]: int16 ones are scaled, float32 ones (a user's) kept."""
    return audio if audio.dtype == tf.float32 else _to_float(audio)


# Voices in one babble row: enough that no single word stands out, as in a room of talkers.
BABBLE_TALKERS = 6


@functools.lru_cache(maxsize=8)
def _noise_bank(seed: int, babble_root: str = "", babble_rows: int = 0) -> np.ndarray:
    """Two seconds each of white, pink, brown noise and hum (several draws), unit peak.

    With ``babble_rows``, that many two-second babbles follow (:func:`babble`), from the
    other-word clips of the training split of the dataset at ``babble_root``.
    """
    rng = np.random.default_rng(seed)
    kinds = [k for k in synth.NOISES if k != "zero"] * 4
    bank = [synth.noise(k, 2 * synth.CLIP_SAMPLES, rng) for k in kinds]
    if babble_rows:
        bank += list(babble(Path(babble_root), babble_rows, rng))
    return np.stack(bank)


def babble(root: Path, rows: int, rng: np.random.Generator, split: str = "train") -> np.ndarray:
    """``rows`` two-second, unit-peak babbles: each the sum of ``BABBLE_TALKERS`` voices.

    A voice is two `_unknown_` clips of ``split`` back to back, rolled by a random offset:
    other words only, so no keyword is heard in the background. Training draws on the
    training split, so no held-out voice is heard; a bench draws on the test split.

    Raises:
        GlasswingError: The dataset has no `_unknown_` clip in ``split``.
    """
    import soundfile

    paths = [
        r["path"] for r in synth.read_manifest(root) if r["split"] == split and r["label"] == synth.UNKNOWN
    ]
    if not paths:
        raise GlasswingError(f"babble needs `_unknown_` {split} clips in {root}; it has none.")
    picks = rng.choice(len(paths), (rows, BABBLE_TALKERS, 2))
    clips = {int(i): soundfile.read(root / paths[i], dtype="float32")[0] for i in np.unique(picks)}
    out = np.zeros((rows, 2 * synth.CLIP_SAMPLES), np.float32)
    for row, voices in zip(out, picks):
        for pair in voices:
            voice = np.concatenate([clips[int(i)] for i in pair])[: len(row)]
            row[: len(voice)] += np.roll(voice, rng.integers(len(voice)))
    return out / np.maximum(np.abs(out).max(axis=1, keepdims=True), 1e-9)


def noise_bank(cfg) -> np.ndarray:
    """The background noises ``cfg``'s augmentation draws from (:func:`_noise_bank`).

    ``cfg.babble_share`` of its rows are babble: 16 generated noises and ``16 * s / (1 - s)`` babbles.
    """
    generated = 4 * (len(synth.NOISES) - 1)
    rows = round(generated * cfg.babble_share / (1 - cfg.babble_share))
    return _noise_bank(cfg.data_seed + 7, str(clips_dir(cfg)) if rows else "", rows)


def _frame_span(energy):
    """First and last loud frame of every clip from its ``(B, frames)`` energies: ``(B,)`` int32 each.

    Loud = frame energy within 20 dB of the clip's loudest frame.
    """
    frames = tf.shape(energy)[1]
    loud = energy >= 0.01 * tf.reduce_max(energy, axis=1, keepdims=True)
    index = tf.range(frames)[None]
    first = tf.reduce_min(tf.where(loud, index, frames), axis=1)
    last = tf.reduce_max(tf.where(loud, index, -1), axis=1)
    return first, last


def _word_span(x, hop: int):
    """First and last frame (``hop`` samples each) of every waveform's loud part (see :func:`_frame_span`)."""
    frames = tf.shape(x)[1] // hop
    energy = tf.reduce_mean(tf.square(tf.reshape(x[:, : frames * hop], [tf.shape(x)[0], frames, hop])), -1)
    return _frame_span(energy)


def _context_draw(spans, donor_spans, y, cfg, silence: int, frame_ms: float):
    """Where each clip's neighbouring-word fragment goes, in frames of ``frame_ms``.

    Returns ``(start, source, length, level, on)``: the fragment's first frame in this clip, its
    first frame in the donor, its length (30 ms to ``cfg.context_ms``), its level (0.3-1x of this
    clip's peak amplitude) and whether the clip gets one at all.
    """
    (first, last), (d_first, d_last) = spans, donor_spans
    b = tf.shape(first)[0]
    longest = max(3, int(cfg.context_ms / frame_ms))
    shortest = min(longest, max(1, round(30 / frame_ms)))
    length = tf.random.uniform([b], shortest, longest + 1, dtype=tf.int32)
    gap = tf.random.uniform([b], 0, int(50 / frame_ms) + 1, dtype=tf.int32)
    before = tf.random.uniform([b]) < 0.5
    # The donor word's last part just before this word, or its first part just after it.
    start = tf.where(before, first - gap - length, last + 1 + gap)
    source = tf.where(before, d_last + 1 - length, d_first)
    level = tf.random.uniform([b], 0.3, 1.0)
    on = (tf.random.uniform([b]) < cfg.context_probability) & (tf.cast(y, tf.int32) != silence)
    return start, source, length, level, on


def _place(donor, start, source, length):
    """``donor[source : source + length]`` moved to ``start`` along axis 1 of each clip; zeros elsewhere.

    Works on waveforms ``(B, samples)`` and on spectrograms ``(B, frames, bins)`` alike.
    """
    n = tf.shape(donor)[1]
    t = tf.range(n)[None]
    inside = (t >= start[:, None]) & (t < (start + length)[:, None])
    moved = tf.gather(donor, tf.clip_by_value(t - start[:, None] + source[:, None], 0, n - 1), batch_dims=1)
    inside = tf.cast(inside, donor.dtype)
    return moved * (inside[..., None] if len(donor.shape) == 3 else inside)


def add_context(x, y, cfg, silence: int):
    """Puts the end of another clip's word just before (or the start just after) each word.

    Keywords in real speech sit between other words, and a window cut from a phrase
    keeps a trace of its neighbour. With ``cfg.context_probability``, a clip gets a
    fragment of 30 ms to ``cfg.context_ms`` of the next clip in the batch (its word's
    last part placed before this word, or its first part after it, 0-50 ms apart), at
    0.3-1x this clip's peak. The label stays; ``_silence_`` clips (label ``silence``)
    are left alone.

    Args:
        x: ``(B, n)`` float waveforms.
        y: ``(B,)`` labels.
        cfg: The speech Config.
        silence: The ``_silence_`` label (-1: none).
    """
    hop = max(1, cfg.sample_rate // 100)
    donor = tf.roll(x, 1, axis=0)
    start, source, length, level, on = _context_draw(
        _word_span(x, hop), _word_span(donor, hop), y, cfg, silence, 1000 * hop / cfg.sample_rate
    )
    fragment = _place(donor, start * hop, source * hop, length * hop)
    peak = lambda v: tf.reduce_max(tf.abs(v), axis=1, keepdims=True) + 1e-9  # noqa: E731
    fragment = fragment / peak(donor) * peak(x) * level[:, None]
    return x + tf.cast(on, x.dtype)[:, None] * fragment


def add_context_power(p, y, cfg, silence: int):
    """:func:`add_context` on mel power ``(B, frames, mel_bins)``: the fragment's power is added.

    Adding a waveform adds its power in expectation (the cross term averages to zero); the
    level scales power by its square, against the ratio of the clips' loudest frames.
    """
    energy = tf.reduce_sum(p, -1)
    donor, d_energy = tf.roll(p, 1, axis=0), tf.roll(energy, 1, axis=0)
    start, source, length, level, on = _context_draw(
        _frame_span(energy), _frame_span(d_energy), y, cfg, silence, cfg.hop_ms
    )
    peak = lambda v: tf.reduce_max(v, axis=1) + 1e-20  # noqa: E731
    gain = peak(energy) / peak(d_energy) * tf.square(level) * tf.cast(on, p.dtype)
    return p + gain[:, None, None] * _place(donor, start, source, length)


def wave_augment(cfg):
    """Batch-level waveform augmentation: neighbouring-word context, time shift, gain, background noise."""
    bank = tf.constant(noise_bank(cfg))
    shift = int(cfg.shift_ms * cfg.sample_rate / 1000)
    n = cfg.clip_samples
    names = labels(cfg)
    silence = names.index(synth.SILENCE) if synth.SILENCE in names else -1

    def augment(audio, y):
        x = _to_float(audio)
        b = tf.shape(x)[0]
        if cfg.context_probability > 0:
            x = add_context(x, y, cfg, silence)
        # Time shift by up to `shift` samples either way; silence comes in at the edge.
        offset = tf.random.uniform([b], -shift, shift + 1, dtype=tf.int32)
        x = _place(x, offset, tf.zeros_like(offset), tf.fill([b], n))
        x = x * tf.random.uniform([b, 1], cfg.min_gain, cfg.max_gain)
        noise, snr, on = _noise_draw(bank, b, n, cfg)
        rms = lambda v: tf.sqrt(tf.reduce_mean(tf.square(v), axis=1, keepdims=True) + 1e-12)  # noqa: E731
        scale = rms(x) / rms(noise) / tf.pow(10.0, snr / 20.0)
        x = tf.clip_by_value(x + on * scale * noise, -1.0, 1.0)
        return x, y

    return augment


def _noise_draw(bank, b, n: int, cfg):
    """Background noise for a batch of ``b``: a random ``n``-long slice (axis 1) of a random row of ``bank``.

    Returns ``(noise, snr_db, on)``; the SNR (``cfg.min_snr_db``-``cfg.max_snr_db``) and the on/off
    mask (``cfg.noise_probability``) are shaped to broadcast against ``noise``.
    """
    which = tf.random.uniform([b], 0, bank.shape[0], dtype=tf.int32)
    start = tf.random.uniform([b, 1], 0, bank.shape[1] - n + 1, dtype=tf.int32)
    noise = tf.gather(tf.gather(bank, which), start + tf.range(n)[None], batch_dims=1)
    shape = [-1] + [1] * (len(bank.shape) - 1)
    snr = tf.reshape(tf.random.uniform([b], cfg.min_snr_db, cfg.max_snr_db), shape)
    on = tf.reshape(tf.cast(tf.random.uniform([b]) < cfg.noise_probability, tf.float32), shape)
    return noise, snr, on


def _noise_bank_power(layer: LogMel, bank: np.ndarray, seed: int) -> np.ndarray:
    """``bank`` (:func:`noise_bank`) through ``layer``: ``(noises, frames, mel_bins + 1)``.

    ``[..., :-1]`` is each frame's mel power, in units of what the same waveform power gives
    when white: brown noise and hum put much of their power below the mel filters, so an SNR
    measured on mel power alone would make them 10+ dB louder than the waveform's SNR.
    ``[..., -1]`` is each frame's waveform power (mean square over its hop), so a slice's SNR
    is set by that slice's power, as :func:`wave_augment` sets it (brown noise is not stationary).
    """
    white = np.random.default_rng(seed).standard_normal((1, bank.shape[1])).astype(np.float32)
    power = np.maximum(np.exp(np.asarray(layer(np.concatenate([bank, white])))[..., 0]) - layer.floors, 0.0)
    # Mel power per unit waveform power of white noise: the reference for an in-band signal.
    in_band = power[-1].mean() / np.mean(white**2)
    frames, hop = power.shape[1], layer.frame_step
    wave_power = np.mean(np.square(bank[:, : frames * hop]).reshape(len(bank), frames, hop), axis=-1)
    return np.concatenate([power[:-1] / in_band, wave_power[..., None]], axis=-1).astype(np.float32)


def feature_augment(cfg):
    """:func:`wave_augment` and SpecAugment on cached log-mel batches ``(B, frames, mel_bins, 1)``.

    Why: augmenting waveforms means running the front-end on every training batch of every
    epoch: 44 ms a batch of 128 on 2 cores, a 1.16x stall of the 365 ms training step. On
    features, the training split caches its log-mel once, like the other splits.

    The same four changes, on mel power ``P = exp(log-mel) - floor``:
    - a time shift by whole frames (of ``cfg.hop_ms``) moves frames; silence comes in at the edge;
    - a gain ``g`` scales ``P`` by ``g**2``;
    - a neighbouring word's fragment and background noise add their power, which is what
      adding an independent waveform does in expectation (the cross term averages to zero).
    What is lost: shifts finer than one hop, clipping at full scale, and the cross terms.
    """
    layer = frontend(cfg)
    bank = tf.constant(_noise_bank_power(layer, noise_bank(cfg), cfg.data_seed + 7))
    max_shift = int(round(cfg.shift_ms / cfg.hop_ms))
    names = labels(cfg)
    silence = names.index(synth.SILENCE) if synth.SILENCE in names else -1

    def augment(x, y):
        p = tf.maximum(tf.exp(x[..., 0]) - layer.floors, 0.0)
        b, frames = tf.shape(p)[0], p.shape[1]
        if cfg.context_probability > 0:
            p = add_context_power(p, y, cfg, silence)
        offset = tf.random.uniform([b], -max_shift, max_shift + 1, dtype=tf.int32)
        p = _place(p, offset, tf.zeros_like(offset), tf.fill([b], frames))
        p = p * tf.square(tf.random.uniform([b, 1, 1], cfg.min_gain, cfg.max_gain))
        # The SNR of the waveform: the slice's power is its frames' waveform power (the last column).
        noise, snr, on = _noise_draw(bank, b, frames, cfg)
        noise, noise_power = noise[..., :-1], tf.reduce_mean(noise[..., -1:], axis=1, keepdims=True)
        scale = tf.reduce_mean(p, axis=[1, 2], keepdims=True) / noise_power / tf.pow(10.0, snr / 10.0)
        p = p + on * scale * noise
        return spec_augment(tf.math.log(p + layer.floors)[..., None], cfg), y

    return augment


def spec_augment(x, cfg):
    """SpecAugment on a log-mel batch ``(B, T, M, 1)``: time and mel stripes set to each example's minimum.

    The minimum is taken above each band's floor, so bands with different floors (a pretrained
    embedding's, :class:`~apps.speech.features.LogMel`'s ``extra_filters``) each get their own;
    with one floor it is the example's minimum.
    """
    b, frames, bins = tf.shape(x)[0], x.shape[1], x.shape[2]
    keep = tf.ones([b, frames, bins])

    def stripes(keep, count, width, size, axis):
        pos = tf.range(size, dtype=tf.float32)[None]
        for _ in range(count):
            w = tf.floor(tf.random.uniform([b, 1], 0, width + 1))
            start = tf.random.uniform([b, 1]) * (size - w)
            inside = tf.cast((pos >= start) & (pos < start + w), tf.float32)
            keep = keep * (1.0 - (inside[:, :, None] if axis == 1 else inside[:, None, :]))
        return keep

    keep = stripes(keep, cfg.time_masks, cfg.time_mask_frames, frames, 1)
    keep = stripes(keep, cfg.freq_masks, cfg.freq_mask_bins, bins, 2)[..., None]
    floors = frontend(cfg).floors
    if np.all(floors == floors[0]):
        floor = tf.reduce_min(x, axis=[1, 2, 3], keepdims=True)
    else:
        base = np.log(floors)[None, None, :, None]
        floor = tf.reduce_min(x - base, axis=[1, 2, 3], keepdims=True) + base
    return x * keep + floor * (1.0 - keep)


@functools.lru_cache(maxsize=8)
def _frontend(sample_rate, window_ms, hop_ms, fft_length, mel_bins, extra_filters) -> LogMel:
    return logmel_layer(
        types.SimpleNamespace(
            sample_rate=sample_rate,
            window_ms=window_ms,
            hop_ms=hop_ms,
            fft_length=fft_length,
            mel_bins=mel_bins,
        ),
        extra_filters,
    )


def frontend(cfg) -> LogMel:
    """The log-mel layer of ``cfg`` (one instance per feature setting)."""
    extra = "speech_embedding" if getattr(cfg, "embedding_head", False) else ""
    return _frontend(cfg.sample_rate, cfg.window_ms, cfg.hop_ms, cfg.fft_length, cfg.mel_bins, extra)


def resynthesize(signal, keep, cfg) -> np.ndarray:
    """``signal`` with only the log-mel parts where ``keep`` is 1 (see :meth:`LogMel.resynthesize`)."""
    return frontend(cfg).resynthesize(signal, keep)


def feature_shape(cfg) -> tuple[int, int, int]:
    """The model input: ``(frames, bands, 1)``; the bands are ``mel_bins`` (+ 32 with ``embedding_head``)."""
    layer = frontend(cfg)
    return (layer.frames(cfg.clip_samples), layer.bins, 1)


def bands(cfg) -> list[tuple[int, str]]:
    """The model input's band groups: the DS-CNN's log-mel, then the embedding's own (``embedding_head``)."""
    total = frontend(cfg).bins
    groups = [(0, f"log-mel ({cfg.mel_bins})")]
    if total > cfg.mel_bins:
        groups.append((cfg.mel_bins, f"embedding's ({total - cfg.mel_bins})"))
    return groups


def dataset(cfg, split: str) -> tf.data.Dataset:
    """Batched ``(log-mel, label)``; the training split augmented when ``cfg.augment``.

    Every split caches its log-mel features, so each epoch reads them instead of recomputing
    the front-end (26 ms a batch of 128 on 2 cores, a 1.185x stall of the training step), and
    training augments them (:func:`feature_augment`). ``cfg.augment_on="waveform"`` keeps the
    first recipe: waveforms cached, augmented, then the front-end on every batch.
    """
    layer = frontend(cfg)
    augmented = split == "train" and cfg.augment
    if not augmented or cfg.augment_on == "features":
        augment = feature_augment(cfg) if augmented else None
        return datasets.finish_pipeline(_log_mel_examples(waveforms(cfg, split), layer), cfg, split, augment)
    ds = datasets.finish_pipeline(waveforms(cfg, split), cfg, split, wave_augment(cfg))

    def features(x, y):
        return spec_augment(layer(_as_float(x)), cfg), y

    return ds.map(features, num_parallel_calls=datasets.AUTOTUNE).prefetch(datasets.AUTOTUNE)


def _log_mel_examples(ds: tf.data.Dataset, layer, batch: int = 256) -> tf.data.Dataset:
    """Unbatched ``(int16 waveform, label)`` -> unbatched ``(log-mel, label)``, keeping the cardinality.

    The front-end runs on batches (far cheaper than per clip) and is unbatched again for the cache.
    """
    n = int(ds.cardinality())
    out = ds.batch(batch).map(lambda x, y: (layer(_as_float(x)), y), num_parallel_calls=datasets.AUTOTUNE)
    out = out.unbatch()
    # unbatch() forgets the count; Keras needs it to size epochs and SplitCoverage to check them.
    return out.apply(tf.data.experimental.assert_cardinality(n)) if n >= 0 else out


def raw_dataset(cfg, split: str) -> tf.data.Dataset:
    """Batched ``(float32 waveform, label)``, unaugmented: what the exported .tflite takes."""
    ds = datasets.finish_pipeline(waveforms(cfg, split), cfg, split)
    return ds.map(lambda x, y: (_to_float(x), y), num_parallel_calls=datasets.AUTOTUNE)


def fake_batch(cfg, n: int):
    """Synthetic log-mel ``(x, y)``: class k is a loud band at mel bins around k (learnable)."""
    rng = np.random.default_rng(cfg.seed)
    y = rng.integers(0, len(LABELS), size=n)
    frames, bins, _ = feature_shape(cfg)
    x = rng.normal(-8.0, 1.0, size=(n, frames, bins, 1)).astype(np.float32)
    for i, k in enumerate(y):
        x[i, frames // 4 : 3 * frames // 4, k % bins] += 6.0
    return x, y.astype(np.int32)


def fake_waveforms(cfg, n: int) -> np.ndarray:
    """Synthetic 1-s waveforms (tones at a few frequencies plus noise), for export tests."""
    rng = np.random.default_rng(cfg.seed)
    t = np.arange(cfg.clip_samples) / cfg.sample_rate
    freqs = rng.uniform(200, 3000, size=(n, 1))
    x = 0.5 * np.sin(2 * np.pi * freqs * t[None]) + 0.05 * rng.standard_normal((n, cfg.clip_samples))
    return x.astype(np.float32)


def read_own(path, cfg) -> np.ndarray:
    """One of a user's recordings as stored for training: the loudest 1-s window, int16 at 16 kHz."""
    from apps.speech import audio

    clip, _ = audio.load_clip(path, cfg.sample_rate, cfg.clip_samples)
    return np.round(np.clip(clip, -1.0, 1.0) * 32767.0).astype(np.int16)


def own_feature(cfg):
    """The tfds feature of one stored user recording."""
    return tfds.features.Tensor(shape=(cfg.clip_samples,), dtype=np.int16)


UNKNOWN_FILL = 150
SILENCE_FILL = 30


def fill_own(cfg, counts: dict, seed: int) -> tuple[list[str], dict]:
    """``_unknown_`` and ``_silence_`` examples for a user's keyword set that lacks them.

    ``_unknown_`` = other words (the built-in keywords and unknown words that are
    not the user's), ``_silence_`` = background noise, synthesized like the
    built-in dataset (held-out voices in validation and test). Training gets at
    least ``UNKNOWN_FILL`` / ``SILENCE_FILL`` of them (twice / once the median
    user class's count when that is more); validation and test a quarter as many.

    Returns:
        The full class list (the user's, then the added ones) and ``{split: [(int16 clip, class)]}``.
    """
    words = sorted(counts)
    missing = [c for c in (synth.UNKNOWN, synth.SILENCE) if c not in counts]
    if not missing:
        return words, {}
    median = int(np.median(list(counts.values())))
    # Many varied other words, whatever the user's count: with a few examples per word a
    # spotter otherwise accepts most unseen words as keywords (5 per word with 10 other
    # words: 43 of 60 held-out other words were taken for a keyword).
    train_n = {synth.UNKNOWN: max(UNKNOWN_FILL, 2 * median), synth.SILENCE: max(SILENCE_FILL, median)}
    wanted = {
        label: {"train": n, "validation": max(2, n // 4), "test": max(2, n // 4)}
        for label, n in train_n.items()
    }
    pool = [w for w in (*synth.KEYWORDS, *synth.UNKNOWN_WORDS) if w not in {c.lower() for c in counts}]
    # Enough planned rows that the held-out voices' share covers validation and test.
    total = 10 * max(train_n.values())
    rows = synth.plan(synth.espeak_variants(), 0, total, total, seed, natural=synth.natural_variants())
    rng = np.random.default_rng(seed)
    extra: dict[str, list] = {"train": [], "validation": [], "test": []}
    for label in missing:
        taken = dict.fromkeys(extra, 0)
        for row in rows:
            if row["label"] != label or taken[row["split"]] >= wanted[label][row["split"]]:
                continue
            taken[row["split"]] += 1
            if label == synth.UNKNOWN:
                row = {**row, "word": pool[rng.integers(len(pool))]}
            clip = synth.render(row, seed)
            extra[row["split"]].append((np.round(clip * 32767.0).astype(np.int16), label))
    return [*words, *missing], extra
