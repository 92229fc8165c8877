"""Modality-specific display: the only place in the dashboard that switches on ``app.modality``.

Views ask this module for "an input widget", "show this input", "draw this map
over it"; what that means for images, text or audio is decided here.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import numpy as np
import streamlit as st

from apps import artifacts
from apps.dashboard import core
from apps.image import data as image_data
from apps.speech import audio
from xai import listen

IMAGE_TYPES = tuple(ext.lstrip(".") for ext in image_data.IMAGE_EXTENSIONS)
TEXT_TYPES = ("txt",)
AUDIO_TYPES = tuple(ext.lstrip(".") for ext in audio.EXTENSIONS)
UPLOAD_TYPES = {"image": IMAGE_TYPES, "text": TEXT_TYPES, "audio": AUDIO_TYPES}
# Text apps that tokenize with a vocabulary ship it as this artifact (one token per id).
VOCAB_FILE = "vocab.txt"


def _figure_png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _gray(x) -> np.ndarray:
    """A 2-D array to draw from one image-like input (channels averaged)."""
    x = np.asarray(x, np.float32)
    if x.ndim == 3:
        return x[..., 0] if x.shape[-1] == 1 else x.mean(axis=-1)
    return x if x.ndim == 2 else x[None]


def _range(image) -> dict:
    """``vmin``/``vmax`` for images already in [0, 1]; others are scaled by matplotlib."""
    return {"vmin": 0.0, "vmax": 1.0} if image.min() >= 0 and image.max() <= 1 else {}


def _flat_map(values) -> np.ndarray:
    values = np.asarray(values, np.float32)
    return values.sum(axis=-1) if values.ndim == 3 else values


# ----- inputs -----


def user_input(app, b, key: str):
    """The widgets for a user's own input; returns ``(x, source, raw)`` or None.

    Images and audio come from an upload (audio also from the microphone),
    text from a text area. Bad input shows one ``st.error`` and returns None.
    """
    modality = app.modality
    if modality == "text":
        text = st.text_area(
            "Type a text",
            key=f"{key}:text",
            max_chars=core.MAX_UPLOAD_BYTES // 1000,
            placeholder="A gripping, beautifully acted film.",
        )
        upload = st.file_uploader("... or upload a .txt file", type=list(TEXT_TYPES), key=f"{key}:file")
        if upload is not None:
            x = core.guarded(core.read_upload, app, upload, b.preprocess, TEXT_TYPES)
            if x is None:
                return None
            raw = upload.getvalue().decode("utf-8", errors="replace")
            return x, upload.name, raw
        if not text.strip():
            st.caption("Type something to classify it.")
            return None
        x = core.guarded(b.preprocess, text)
        return None if x is None else (np.asarray(x), "typed text", text)
    allowed = UPLOAD_TYPES[modality]
    upload = st.file_uploader(
        f"Upload {'an image' if modality == 'image' else 'an audio file'} "
        f"(≤ {core.MAX_UPLOAD_BYTES // 2**20} MB)",
        type=list(allowed),
        key=f"{key}:file",
    )
    if modality == "audio" and upload is None:
        recorded = st.audio_input("... or record from the microphone", key=f"{key}:mic")
        if recorded is not None:
            upload = recorded
            allowed = allowed + ("",)  # the recorder's file has no extension worth checking
    if upload is None:
        return None
    x = core.guarded(core.read_upload, app, upload, b.preprocess, allowed)
    if x is None:
        return None
    return x, upload.name, upload.getvalue()


def show_input(app, current, width: int = 200) -> None:
    """Draws the current input as a user would recognize it."""
    modality = app.modality
    if modality == "image":
        st.image(_image_png(current.x), caption=current.source, width=width)
    elif modality == "text":
        text = current.raw if isinstance(current.raw, str) else " ".join(tokens(app, current.x, True))
        st.markdown(f"> {html.escape(text)}")
        st.caption(current.source)
        note = artifacts.input_note(core.bundle(app).folder, current.x)
        if note:
            st.warning(note)
    else:
        if isinstance(current.raw, (bytes, bytearray)):
            st.audio(bytes(current.raw))
            if app.raw is not None:
                note = core.guarded(lambda: app.raw.load(current.raw, core.bundle(app).cfg)[1])
                if note:
                    st.caption(f"Heard: {note}")
        elif isinstance(current.raw, np.ndarray) and app.raw is not None:
            st.audio(current.raw, sample_rate=getattr(core.bundle(app).cfg, "sample_rate", 16_000))
        st.image(
            _spectrogram_png(current.x, _bands(app)), caption=current.source, width="stretch"
        )  # fits its column (a fixed 2x width overlapped the next one)


def _image_png(x, size: int = 4) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.0 * size / 2, 1.0 * size / 2))
    ax.imshow(_gray(x), cmap="gray", **_range(_gray(x)))
    ax.axis("off")
    return _figure_png(fig)


def _bands(app) -> list[tuple[int, str]]:
    """The loaded model's groups of feature bands (``RawInput.bands``), or none."""
    hook = app.raw.bands if app.raw is not None else None
    return hook(core.bundle(app).cfg) if hook else []


def _band_spans(bands, total: int) -> list[tuple[int, int, str]]:
    """``(start, end, name)`` of each band group, the last ending at ``total``."""
    ends = [start for start, _ in bands[1:]] + [total]
    return [(start, end, name) for (start, name), end in zip(bands, ends)]


def _band_axis(ax, bands, total: int) -> None:
    """Labels the band axis of a drawn map: each group named at its middle, a line where the next starts."""
    ax.set_xlabel("time")
    if not bands:
        ax.set_ylabel("mel")
        return
    spans = _band_spans(bands, total)
    ax.set_yticks(
        [(start + end - 1) / 2 for start, end, _ in spans], [name for *_, name in spans], fontsize=7
    )
    for start, _ in bands[1:]:
        ax.axhline(start - 0.5, color="white", linewidth=1, linestyle="--")


def _band_scaled(image, bands) -> np.ndarray:
    """A ``(time, bands)`` map with each band group scaled to [0, 1] on its own.

    The groups' log-mel floors differ (the embedding's bands sit far below the DS-CNN's),
    so one colour scale would draw one group's silence as loud.
    """
    image = np.array(image, np.float32)
    for start, end, _ in _band_spans(bands, image.shape[1]):
        group = image[:, start:end]
        image[:, start:end] = (group - group.min()) / max(float(group.max() - group.min()), 1e-9)
    return image


def _spectrogram_png(x, bands=()) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 2.5))
    image = _band_scaled(_gray(x), bands)
    ax.imshow(image.T, origin="lower", aspect="auto", cmap="magma")
    _band_axis(ax, bands, image.shape[1])
    return _figure_png(fig)


def thumbnail(app, x, caption: str = "") -> None:
    """A small view of one test example (errors list)."""
    if app.modality == "text":
        st.write(caption or " ".join(tokens(app, x, True)))
    else:
        st.image(_image_png(x, 2) if app.modality == "image" else _spectrogram_png(x), width=90)


def stored_examples(app, cfg, examples, width: int = 84) -> None:
    """A row of a dataset's stored examples (what ``OwnData.read`` keeps), as a user would recognize them.

    Images (uint8 ``HxWxC``) as pictures, texts (UTF-8 bytes) as quotes, waveforms
    (int16 at ``cfg.sample_rate``) as players.
    """
    if app.modality == "image":
        # Streamlit draws HxW and HxWx3 arrays, not HxWx1.
        st.image(
            [np.asarray(x)[..., 0] if np.shape(x)[-1] == 1 else np.asarray(x) for x in examples], width=width
        )
    elif app.modality == "text":
        for x in examples:
            text = x.decode("utf-8", errors="replace") if isinstance(x, bytes) else str(x)
            st.markdown(f"> {html.escape(text[:300])}{' ...' if len(text) > 300 else ''}")
    else:
        rate = int(getattr(cfg, "sample_rate", 16_000))
        for x, column in zip(examples, st.columns(max(1, len(examples)))):
            column.audio(listen.wav_bytes(x, rate), format="audio/wav")


# ----- tokens (text) -----


def tokens(app, x, real_only: bool = False) -> list[str]:
    """Token strings for token ids, from the model folder's ``vocab.txt`` (ids when absent)."""
    vocab = _vocab(str(core.folder_of(app) / VOCAB_FILE))
    ids = [int(i) for i in np.ravel(x)]
    words = [vocab[i] if 0 <= i < len(vocab) else f"#{i}" for i in ids] if vocab else [f"#{i}" for i in ids]
    if real_only:
        return [w for i, w in zip(ids, words) if i != 0]
    return ["" if i == 0 else w for i, w in zip(ids, words)]


@st.cache_data(show_spinner=False)
def _vocab(path: str) -> list[str] | None:
    file = Path(path)
    if not file.is_file():
        return None
    vocab = file.read_text(encoding="utf-8").split("\n")
    return vocab[:-1] if vocab and vocab[-1] == "" else vocab


# ----- attributions -----


def attribution(app, x, values, title: str = "") -> None:
    """Draws one attribution map over its input (heatmap overlay / highlighted tokens / time x mel)."""
    if app.modality == "text":
        st.markdown(highlighted_tokens(tokens(app, x), values), unsafe_allow_html=True)
        return
    st.image(overlay_png(app, x, values, title, _bands(app)), width="stretch")


def overlay_png(app, x, values, title: str = "", bands=()) -> bytes:
    """PNG of a map over an image (red = for the class, blue = against) or over a log-mel.

    ``bands``: the log-mel's band groups (``RawInput.bands``), named on its band axis.
    """
    plt = _plt()
    values = _flat_map(values)
    limit = float(np.abs(values).max()) or 1.0
    fig, ax = plt.subplots(figsize=(3, 3) if app.modality == "image" else (5, 2.5))
    base = _gray(x)
    if app.modality == "image":
        # Fixed [0, 1] range: a dim image must stay dim under its map, not be stretched to white.
        ax.imshow(base, cmap="gray", **_range(base))
        ax.imshow(_heat_rgba(values, limit))
        ax.axis("off")
    else:
        ax.imshow(_band_scaled(base, bands).T, origin="lower", aspect="auto", cmap="gray")
        ax.imshow(_heat_rgba(values.T, limit), origin="lower", aspect="auto")
        _band_axis(ax, bands, base.shape[1])
    if title:
        ax.set_title(title, fontsize=9)
    return _figure_png(fig)


def _heat_rgba(values, limit: float) -> np.ndarray:
    """Red/blue colours whose opacity grows with |value|, so unimportant pixels stay visible."""
    plt = _plt()
    rgba = plt.get_cmap("RdBu_r")((values / limit + 1) / 2)
    rgba[..., 3] = np.clip(np.abs(values) / limit, 0, 1) * 0.85
    return rgba


def highlighted_tokens(words: list[str], values) -> str:
    """HTML of the tokens with a background per attribution (red = for the class, blue = against)."""
    values = np.ravel(np.asarray(values, np.float32))
    limit = float(np.abs(values).max()) or 1.0
    spans = []
    for word, value in zip(words, values):
        if not word:
            continue
        alpha = min(1.0, abs(float(value)) / limit)
        colour = "192,57,43" if value > 0 else "44,123,182"
        spans.append(
            f'<span title="{value:+.3g}" style="background:rgba({colour},{alpha:.2f});'
            f'padding:1px 3px;margin:1px;border-radius:3px">{html.escape(word)}</span>'
        )
    return '<div style="line-height:2">' + " ".join(spans) + "</div>"


def keep_remove_audio(app, b, current, values, target: int, fraction: float = 0.25) -> None:
    """Raw-signal apps: hear the input as recorded, with only the map's top regions, and without them.

    Beside each player: what the model says about that very sound (it is classified
    from the resynthesized signal), so what is heard and the numbers agree.
    """
    if not listen.supports(app):
        return
    result = core.guarded(
        listen.listen, app, b.cfg, b.model, core.tflite_input(app, current), values, fraction
    )
    if result is None:
        return
    # Scaled per band group first, so a removed region is each group's floor, not the lowest group's.
    bands = _bands(app)
    base = _band_scaled(_gray(current.x), bands)
    left, right = st.columns(2)
    left.image(_spectrogram_png(np.where(result.keep[..., 0] > 0, base, base.min()), bands), caption="kept")
    right.image(
        _spectrogram_png(np.where(result.keep[..., 0] > 0, base.min(), base), bands), caption="removed"
    )
    names = {
        "recorded": "as recorded",
        "kept": f"only the top {fraction:.0%} regions",
        "removed": f"top {fraction:.0%} removed",
    }
    for version in listen.VERSIONS:
        probs = result.probs[version]
        top = int(probs.argmax())
        heard, explained = (
            b.labels[k].replace("_", "\\_") for k in (top, target)
        )  # _unknown_ is not italics
        st.caption(
            f"{names[version]}: heard as **{heard}** {probs[top]:.0%} · {explained} {probs[target]:.0%}"
        )
        st.audio(listen.wav_bytes(result.signals[version], result.sample_rate), format="audio/wav")


# ----- features -----


def feature_maps(app, activations, limit: int = 32) -> None:
    """One layer's output for one input: a grid of channels, or a positions x units heatmap."""
    plt = _plt()
    a = np.asarray(activations)[0]
    if a.ndim == 3:
        channels = min(limit, a.shape[-1])
        cols = 8
        rows = int(np.ceil(channels / cols))
        fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.1))
        for i, ax in enumerate(np.ravel(axes)):
            ax.axis("off")
            if i < channels:
                ax.imshow(a[..., i], cmap="viridis")
                ax.set_title(str(i), fontsize=7)
        st.image(_figure_png(fig))
        st.caption(f"{channels} of {a.shape[-1]} channels, each {a.shape[0]}×{a.shape[1]}.")
    elif a.ndim == 2:
        fig, ax = plt.subplots(figsize=(8, 3))
        ax.imshow(a.T, aspect="auto", cmap="viridis")
        if app.modality == "text":
            ax.set_xlabel("token position")
        ax.set_ylabel("unit")
        st.image(_figure_png(fig))
    else:
        fig, ax = plt.subplots(figsize=(8, 2))
        ax.bar(range(a.size), np.ravel(a))
        ax.set_xlabel("unit")
        st.image(_figure_png(fig))


def image_grid(images, titles=None, cols: int = 8, cmap: str = "gray") -> bytes:
    """PNG of a grid of small 2-D images (filters, kernels)."""
    plt = _plt()
    images = [_gray(i) for i in images]
    rows = int(np.ceil(len(images) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.1, rows * 1.1), squeeze=False)
    for i, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap=cmap)
            if titles:
                ax.set_title(titles[i], fontsize=7)
    return _figure_png(fig)


def projection_png(points, labels_idx, names, current=None) -> bytes:
    """Scatter of the 2-D embedding projection coloured by true class; the current input as a star."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for k, name in enumerate(names):
        sel = labels_idx == k
        if sel.any():
            ax.scatter(points[sel, 0], points[sel, 1], s=8, color=cmap(k % cmap.N), label=name, alpha=0.7)
    if current is not None:
        ax.scatter([current[0]], [current[1]], marker="*", s=300, color="black", label="current input")
    ax.legend(fontsize=7, markerscale=1.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_xticks([])
    ax.set_yticks([])
    return _figure_png(fig)


def confusion_png(cm, labels) -> bytes:
    """Confusion-matrix heatmap with counts (rows: true, columns: predicted)."""
    plt = _plt()
    cm = np.asarray(cm)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = cm.max() or 1
    for i in range(n):
        for j in range(n):
            ax.text(
                j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                color="white" if cm[i, j] > top / 2 else "black",
            )  # fmt: skip
    return _figure_png(fig)
