"""What pruning, distillation and the int8 debugger share: measuring and tables.

Their .tflite files are converted by :mod:`apps.conversion`, like ``glasswing export``'s.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
from pathlib import Path

import numpy as np


def gzip_size(path) -> int:
    """Bytes of ``path`` after gzip -9: what a download or an app bundle costs."""
    return len(gzip.compress(Path(path).read_bytes(), compresslevel=9))


def file_sizes(path) -> dict:
    """``{"size_bytes", "gzip_bytes"}`` of one file."""
    return {"size_bytes": Path(path).stat().st_size, "gzip_bytes": gzip_size(path)}


def test_reference(app, model, cfg) -> dict:
    """:func:`apps.export.keras_reference` plus the Keras test accuracy."""
    from apps.export import keras_reference

    reference = keras_reference(app, model, cfg)
    reference["accuracy"] = float((reference["outputs"].argmax(-1) == reference["y_true"]).mean())
    return reference


def verify_file(app, path, reference: dict, cfg, delegates: bool = True, latency_runs: int = 200) -> dict:
    """:func:`apps.export.verify`'s row for a file outside ``tflite/``, plus its gzip size.

    ``delegates=False`` runs LiteRT's builtin kernels without its default XNNPack
    delegate (which refuses some sparse files).
    """
    from apps.export import verify

    path = Path(path)
    row = verify(app, path, reference, cfg, delegates=delegates, latency_runs=latency_runs, name=str(path))
    row["gzip_bytes"] = gzip_size(path)
    row["delegates"] = "LiteRT default (XNNPack)" if delegates else "builtin kernels, no XNNPack"
    return row


def keras_runner(app, model, cfg):
    """What the float32 file exports (e.g. with a raw-input front-end) as a compiled ``tf.function``."""
    import tensorflow as tf

    from apps.conversion import exported_model

    exported = exported_model(app, model, cfg, "float32")
    return tf.function(lambda t: exported(t, training=False))


def one_test_input(app, cfg, model) -> np.ndarray:
    """One test example as the exported model takes it, batch of 1 (for latency)."""
    from apps.conversion import export_dataset, export_inputs

    x, _ = next(iter(export_dataset(app, dataclasses.replace(cfg, batch_size=1, augment=False), "test")))
    return np.asarray(export_inputs(app, model, cfg, x))


@dataclasses.dataclass
class Table:
    """A measured table, printed on the console and writable as Markdown."""

    title: str
    columns: list[str]
    rows: list[list]
    notes: list[str] = dataclasses.field(default_factory=list)

    def _cells(self) -> list[list[str]]:
        return [[_fmt(v) for v in row] for row in self.rows]

    def text(self) -> str:
        """Fixed-width text for the console."""
        cells = self._cells()
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(self.columns)]
        lines = [
            self.title,
            "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(self.columns, widths))),
        ]
        for row in cells:
            lines.append(
                "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(row, widths)))
            )
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)

    def markdown(self, level: int = 3) -> str:
        """A Markdown section: title (a heading of ``level``), table, notes."""

        def cells(values):  # a "|" inside a cell would end it
            return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

        lines = [f"{'#' * level} {self.title}", "", cells(self.columns)]
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(self.columns) - 1)) + "|")
        lines += [cells(row) for row in self._cells()]
        if self.notes:
            lines.append("")
            lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines) + "\n"


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def kb(n_bytes) -> str:
    """Bytes as KB with one decimal."""
    return "–" if n_bytes is None else f"{n_bytes / 1024:.1f}"


def ratio(value, base) -> str:
    """``value / base`` as ``0.42x``."""
    if value is None or not base:
        return "–"
    return f"{value / base:.2f}x"


def machine() -> str:
    """Where the numbers were measured."""
    from apps.sysinfo import cpu_name

    return f"{cpu_name()}, {os.cpu_count()} cores"
