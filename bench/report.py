"""Markdown fragments the benches append to (``--markdown PATH``); bench/run_all.py joins them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np


def table(headers: list[str], rows: list[list]) -> str:
    """A GitHub Markdown table; floats keep the formatting the caller gave them as strings."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def append(path: str | Path | None, text: str) -> None:
    """Appends one section to the fragment file ``path`` (no-op without ``--markdown``)."""
    if not path:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(text.rstrip() + "\n\n")


def mean_sd(values: list[float]) -> str:
    """One value as ``0.123``; several as ``mean ± sd`` (sample sd) over draws or seeds."""
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


def emit(headers: list[str], rows: list[list], markdown: str | Path | None) -> str:
    """Prints the table of ``rows`` and appends it to the ``--markdown`` fragment; returns it."""
    text = table(headers, rows)
    print(text)
    append(markdown, text)
    return text


def run_main(main: Callable[[], None], tool: str) -> None:
    """Runs a bench's ``main``; a GlasswingError (a missing model or folder) exits with its one line."""
    from apps.errors import GlasswingError

    try:
        main()
    except GlasswingError as err:
        raise SystemExit(f"{tool}: {err}") from None
