"""Modality knowledge for masking, in one place (shap's maskers idea).

LIME, SHAP's partition masker, occlusion and the faithfulness metrics all
switch parts of an input "off". What a part is and what "off" means depends
only on the modality, so it lives here and nowhere else:

- image: SLIC superpixels; off = 0 (black, the Fashion-MNIST background).
- text: one part per non-padding token; off = the padding id 0 (masked out by
  ``mask_zero`` models, i.e. the token is removed).
- audio (log-mel, time x mel): a grid of time x mel patches; off = the
  example's minimum (silence in log-mel).

A segment map has the shape of ``x``; entry ``-1`` marks elements that are
never switched off (text padding). Occlusion's sliding patches and which
elements may be switched off at all (faithfulness curves) are answered here too.
"""

from __future__ import annotations

import numpy as np

from apps.errors import GlasswingError

PAD_ID = 0


def _check_modality(modality: str) -> None:
    if modality not in ("image", "text", "audio"):
        raise GlasswingError(f"Unknown modality={modality!r}. Expected one of ('image', 'text', 'audio').")


def fill_value(modality: str, x: np.ndarray) -> np.ndarray:
    """What a switched-off part is replaced by: an array broadcastable to ``x``."""
    _check_modality(modality)
    x = np.asarray(x)
    if modality == "text":
        return np.full_like(x, PAD_ID)
    if modality == "audio":
        return np.full_like(x, x.min())
    return np.zeros_like(x)


def grid(shape: tuple, rows: int, cols: int) -> np.ndarray:
    """A ``rows x cols`` grid of patch labels over the first two axes of ``shape``."""
    h, w = shape[0], shape[1] if len(shape) > 1 else 1
    r = np.minimum(np.arange(h) * rows // max(h, 1), rows - 1)
    c = np.minimum(np.arange(w) * cols // max(w, 1), cols - 1)
    labels = r[:, None] * cols + c[None, :]
    return _broadcast(labels.reshape(h, w) if len(shape) > 1 else labels[:, 0], shape)


def _broadcast(labels: np.ndarray, shape: tuple) -> np.ndarray:
    """Repeats a map over the trailing (channel) axes so it has ``shape``."""
    extra = len(shape) - labels.ndim
    labels = labels.reshape(labels.shape + (1,) * extra)
    return np.broadcast_to(labels, shape).copy()


def superpixels(x: np.ndarray, n_segments: int = 40, compactness: float = 0.3) -> np.ndarray:
    """SLIC superpixels of an image ``(H, W)`` or ``(H, W, C)``, labels from 0.

    Falls back to a regular grid when SLIC finds fewer than 4 regions (a blank
    or constant image), so LIME always has something to switch.
    """
    from skimage.segmentation import slic

    x = np.asarray(x, dtype=np.float64)
    image = x[..., 0] if x.ndim == 3 and x.shape[-1] == 1 else x
    multichannel = image.ndim == 3
    labels = slic(
        image,
        n_segments=n_segments,
        compactness=compactness,
        channel_axis=-1 if multichannel else None,
        start_label=0,
        enforce_connectivity=True,
    )
    if len(np.unique(labels)) < 4:
        side = max(2, int(round(np.sqrt(n_segments))))
        return grid(x.shape, side, side)
    # Relabel to 0..k-1 (SLIC may skip labels after connectivity enforcement).
    _, labels = np.unique(labels, return_inverse=True)
    return _broadcast(labels.reshape(image.shape[:2]), x.shape)


def tokens(x: np.ndarray) -> np.ndarray:
    """One segment per non-padding token position; padding gets ``-1``."""
    x = np.asarray(x)
    labels = np.full(x.shape, -1, dtype=np.int64)
    real = x != PAD_ID
    labels[real] = np.arange(int(real.sum()))
    return labels


def patches(x: np.ndarray, time_patches: int = 8, mel_patches: int = 4) -> np.ndarray:
    """A time x mel grid of patches over a log-mel ``(T, M)`` or ``(T, M, 1)``."""
    x = np.asarray(x)
    if x.ndim == 1:
        return grid(x.shape, min(time_patches, x.shape[0]), 1)
    return grid(x.shape, min(time_patches, x.shape[0]), min(mel_patches, x.shape[1]))


def segment(modality: str, x: np.ndarray, **options) -> np.ndarray:
    """The modality's segment map of ``x`` (same shape; ``-1`` = never switched off).

    Args:
        modality: ``"image" | "text" | "audio"`` (``app.modality``).
        x: One model input, no batch axis.
        **options: Passed to :func:`superpixels` or :func:`patches`.
    """
    _check_modality(modality)
    if modality == "image":
        return superpixels(x, **options)
    if modality == "text":
        return tokens(x)
    return patches(x, **options)


def parts_are_tokens(modality: str) -> bool:
    """Whether the parts are token positions (text) rather than regions of a grid."""
    _check_modality(modality)
    return modality == "text"


def time_major(modality: str) -> bool:
    """Whether an input's first axis is time and its second frequency (log-mel), as drawn in a spectrogram."""
    _check_modality(modality)
    return modality == "audio"


def switchable(modality: str, x: np.ndarray) -> np.ndarray:
    """Boolean map of the elements that may be switched off: all but text padding."""
    return tokens(x) >= 0 if parts_are_tokens(modality) else np.ones(np.shape(x), dtype=bool)


def occlusion_masks(modality: str, x: np.ndarray, window: int | None = None, stride: int | None = None):
    """Boolean masks (``(n, *x.shape)``, True = occluded) of a sliding patch.

    Images and log-mels get a square ``window`` slid with ``stride`` over the
    first two axes (defaults scale with the input: ~1/7 of the side, half-window
    stride); text gets one mask per non-padding token (``None`` if there is none).
    """
    if parts_are_tokens(modality):
        seg = tokens(x)
        return np.stack([seg == j for j in range(n_segments(seg))]) if seg.max() >= 0 else None
    h = x.shape[0]
    w = x.shape[1] if x.ndim > 1 else 1
    if window is None:
        window = max(2, round(min(h, w) / 7)) if w > 1 else max(2, round(h / 10))
    stride = stride or max(1, window // 2)
    masks = []
    for top in range(0, max(h - window, 0) + 1, stride):
        for left in range(0, max(w - window, 0) + 1, stride) if w > 1 else (0,):
            mask = np.zeros(x.shape, dtype=bool)
            if x.ndim > 1:
                mask[top : top + window, left : left + window] = True
            else:
                mask[top : top + window] = True
            masks.append(mask)
    return np.stack(masks)


def n_segments(segments: np.ndarray) -> int:
    """How many switchable parts a segment map has."""
    return int(segments.max()) + 1 if segments.size and segments.max() >= 0 else 0


def apply(x: np.ndarray, segments: np.ndarray, keep: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Builds a batch of ``x`` with parts switched off.

    Args:
        x: One input.
        segments: Segment map of ``x`` (see :func:`segment`).
        keep: ``(n, k)`` 0/1 array; ``keep[i, j] == 0`` switches part ``j`` off in row ``i``.
        fill: What switched-off elements become (see :func:`fill_value`).

    Returns:
        ``(n, *x.shape)`` array, one masked copy of ``x`` per row of ``keep``.
    """
    keep = np.asarray(keep, dtype=bool)
    # An extra always-on column lets label -1 (never switched) index it directly.
    keep = np.concatenate([keep, np.ones((len(keep), 1), dtype=bool)], axis=1)
    mask = keep[:, segments]
    return np.where(mask, x[None], np.broadcast_to(fill, x.shape)[None]).astype(x.dtype)


def to_elements(weights: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Spreads one weight per segment back onto the elements of ``x`` (0 where -1)."""
    weights = np.concatenate([np.asarray(weights, dtype=np.float32), [0.0]])
    return weights[segments]
