"""Where a training epoch's seconds go: waiting for the first batch, steps, validation, callbacks.

Trains an app's real ``Config()`` for a few epochs through the shared ``apps.train.train``
twice, side by side in one process:

* ``one iterator``: as training runs now, one iterator over the repeated training split
  (``apps.train._one_iterator``);
* ``iterator per epoch``: Keras' own way with a finite split, a new iterator at each epoch end.

A callback stamps each epoch's begin, first and last step, and validation, and the table
gives each phase per epoch and the mean epoch, with the ratio of the two ways.

    python bench/epochs.py [APP ...] [--epochs 6] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import report  # noqa: E402

WAYS = ("one iterator", "iterator per epoch")


class PhaseClock(keras.callbacks.Callback):
    """Per epoch: seconds before the first step, of the steps, of validation, and after it."""

    def __init__(self):
        super().__init__()
        self.epochs: list[dict] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t = {"begin": time.perf_counter()}

    def on_train_batch_begin(self, batch, logs=None):
        self._t.setdefault("first", time.perf_counter())

    def on_train_batch_end(self, batch, logs=None):
        self._t["last"] = time.perf_counter()

    def on_test_begin(self, logs=None):
        self._t["val"] = time.perf_counter()

    def on_test_end(self, logs=None):
        self._t["val_end"] = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        t, end = self._t, time.perf_counter()
        val, val_end = t.get("val", t["last"]), t.get("val_end", t["last"])
        self.epochs.append(
            {
                "wait": t["first"] - t["begin"],
                "steps": t["last"] - t["first"],
                "validation": val_end - val,
                "rest": end - val_end + (val - t["last"]),
                "total": end - t["begin"],
            }
        )


def phases(app_name: str, epochs: int, way: str) -> list[dict]:
    """Trains ``app_name``'s ``Config()`` for ``epochs`` epochs one ``way``; the per-epoch phases."""
    from apps import get_app, train
    from apps.app import apply_overrides

    app = get_app(app_name)
    cfg = apply_overrides(app.Config(), [f"epochs={epochs}"])
    clock = PhaseClock()
    per_epoch = mock.patch.object(train, "_one_iterator", lambda ds, steps: (ds, None))
    way_of_reading = per_epoch if way == "iterator per epoch" else contextlib.nullcontext()
    with tempfile.TemporaryDirectory(prefix="glasswing-epochs-") as tmp, way_of_reading:
        train.train(app, cfg, models_dir=tmp, callbacks=[clock], verbose=0)
    return clock.epochs


def table(app_name: str, runs: dict) -> str:
    """One row per way and epoch after the first (which traces), then the mean epoch of each way."""
    rows, means = [], {}
    for way, epochs in runs.items():
        later = epochs[1:]
        for i, e in enumerate(later, start=2):
            rows.append([way, i, *(f"{e[k]:.2f}" for k in ("wait", "steps", "validation", "rest", "total"))])
        means[way] = statistics.mean(e["total"] for e in later)
    text = report.table(
        ["way", "epoch", "wait for the first batch s", "steps s", "validation s", "other s", "epoch s"], rows
    )
    ratio = means["one iterator"] / means["iterator per epoch"]
    return (
        f"#### Epoch phases: {app_name}\n\n{text}\n\nMean epoch (epoch 1 left out: it traces): one iterator "
        f"{means['one iterator']:.2f} s, iterator per epoch {means['iterator per epoch']:.2f} s; "
        f"ratio **{ratio:.3f}**."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("apps", nargs="*", default=["image"])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--markdown")
    args = parser.parse_args()
    parts = []
    for name in args.apps:
        runs = {}
        for way in WAYS:
            print(f"{name}: {way}, {args.epochs} epochs ...", flush=True)
            runs[way] = phases(name, args.epochs, way)
        parts.append(table(name, runs))
        print(parts[-1], flush=True)
    report.append(args.markdown, "### Training epochs: where the seconds go\n\n" + "\n\n".join(parts))


if __name__ == "__main__":
    main()
