"""Attribution maps as PNG files (CLI ``--out``), decided by the map's shape alone."""

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
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    write_bytes_atomic(Path(path), buffer.getvalue())
