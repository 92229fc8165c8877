"""Markdown fragments the benches append to (``--markdown PATH``); bench/run_all.py joins them."""

from __future__ import annotations

from pathlib import Path


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
