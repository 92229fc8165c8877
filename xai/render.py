"""Attribution maps as PNG files (CLI ``--out``) and the global-insights report, drawn by the map's shape."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from apps.artifacts import write_bytes_atomic


def save_attribution_png(attribution, x, path, title: str = "") -> None:
    """Writes the input beside its attribution map to ``path``, atomically.

    2-D and 3-D maps (images, time x mel) are drawn as images with a diverging
    colour map centred on 0; 1-D maps (tokens) as a bar per position, labelled
    with the tokens when the attribution carries them.
    """
    plt = _pyplot()
    values = np.asarray(attribution.values, np.float32)
    if values.ndim == 3:
        values = values.sum(axis=-1)
    limit = float(np.abs(values).max()) or 1.0
    if values.ndim == 2:
        fig, axes = plt.subplots(1, 2, figsize=(8, 4))
        shown = np.asarray(x, np.float32)
        axes[0].imshow(shown[..., 0] if shown.ndim == 3 else shown, cmap="gray")
        axes[0].set_title("input")
        image = axes[1].imshow(values, cmap="RdBu_r", vmin=-limit, vmax=limit)
        axes[1].set_title(title)
        fig.colorbar(image, ax=axes[1], fraction=0.046)
        for ax in axes:
            ax.axis("off")
    else:
        names = attribution.tokens or [str(i) for i in range(len(values))]
        keep = [i for i, name in enumerate(names) if name] or list(range(len(values)))
        fig, ax = plt.subplots(figsize=(max(6, 0.4 * len(keep)), 3.5))
        ax.bar(
            range(len(keep)), values[keep], color=["#c0392b" if values[i] > 0 else "#2c7bb6" for i in keep]
        )
        ax.set_xticks(range(len(keep)), [names[i] for i in keep], rotation=60, ha="right")
        ax.set_title(title)
    fig.tight_layout()
    write_bytes_atomic(Path(path), _png(fig))


def _png(fig) -> bytes:
    import io

    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def class_maps_png(classes, time_major: bool = False, cols: int = 6) -> bytes:
    """Every class's average attribution map, one small panel each, each on its own symmetric scale.

    Args:
        classes: :class:`xai.insights.ClassInsight` with ``mean_map``.
        time_major: Maps are ``(time, frequency)``: drawn with time across and
            frequency up, as a spectrogram is read.
    """
    plt = _pyplot()
    rows = -(-len(classes) // cols)
    height = 1.3 if time_major else 2.0
    fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, (height + 0.5) * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for c, ax in zip(classes, axes.ravel()):
        # Own scale per class: a word the model is sure of has a small average map that would
        # vanish on a shared scale, though where it looks is just as clear.
        limit = float(np.abs(c.mean_map).max()) or 1.0
        shown = c.mean_map.T if time_major else c.mean_map
        ax.imshow(
            shown,
            cmap="RdBu_r",
            vmin=-limit,
            vmax=limit,
            origin="lower" if time_major else "upper",
            aspect="auto" if time_major else "equal",
        )
        ax.set_title(f"{c.label}\n{c.count} ex · acc {c.accuracy:.2f}", fontsize=8)
    fig.tight_layout()
    return _png(fig)


def token_bars_png(insight) -> bytes:
    """One class's tokens that push it most (red) and most against it (blue), as bars."""
    plt = _pyplot()
    pushes = list(insight.pushes_for)[::-1] + list(insight.pushes_against)
    fig, ax = plt.subplots(figsize=(5, 0.28 * max(len(pushes), 2) + 0.8))
    ax.barh(
        range(len(pushes)),
        [p.mean for p in pushes],
        color=["#c0392b" if p.mean > 0 else "#2c7bb6" for p in pushes],
    )
    ax.set_yticks(range(len(pushes)), [f"{p.token} ({p.count})" for p in pushes], fontsize=8)
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set_xlabel(f"mean attribution toward {insight.label}")
    ax.set_title(insight.label)
    return _png(fig)


def insights_html(result, time_major: bool = False) -> str:
    """A self-contained HTML report of :class:`xai.insights.Insights` (PNGs inlined)."""
    import base64
    import html

    def img(png: bytes) -> str:
        return f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}">'

    rows = "".join(
        f"<tr><td>{html.escape(c.label)}</td><td>{c.count}</td><td>{c.accuracy:.3f}</td></tr>"
        for c in result.classes
    )
    parts = [
        "<!doctype html><meta charset='utf-8'><title>Glasswing insights</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "td,th{padding:2px 10px;text-align:left}img{max-width:100%}</style>",
        f"<h1>What the model relies on: {html.escape(result.method)}</h1>",
        f"<p>{result.examples} examples from {html.escape(result.source)}, each explained for its true "
        f"class ({result.seconds:.1f} s). Red: evidence for the class; blue: against.</p>",
        f"<table><tr><th>class</th><th>examples</th><th>accuracy</th></tr>{rows}</table>",
    ]
    maps = [c for c in result.classes if c.mean_map is not None]
    if maps:
        parts.append("<h2>Class-average attribution maps</h2>" + img(class_maps_png(maps, time_major)))
    for c in result.classes:
        if not (c.pushes_for or c.pushes_against):
            continue
        examples = "".join(
            f"<li><b>{html.escape(p.token)}</b> {p.mean:+.3f} ×{p.count}: {html.escape(p.example)}</li>"
            for p in list(c.pushes_for) + list(c.pushes_against)
        )
        parts.append(f"<h2>{html.escape(c.label)}</h2>{img(token_bars_png(c))}<ul>{examples}</ul>")
    return "\n".join(parts)
