"""Data: what a classifier learned from: examples per class and split, a few of each class, what was skipped.

Models trained on a user's data have a data report (``data.json``: counts per
split and class, skipped files, warnings) and a prepared copy of the examples
(``cfg.data``, read with :func:`apps.userdata.load_split`); a built-in app shows
the split sizes its ``metrics.json`` recorded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from apps import artifacts, userdata
from apps.dashboard import core, render
from apps.errors import GlasswingError

SPLITS = ("train", "validation", "test")
# Examples drawn per class once (then sliced), so the slider never re-reads the split.
MAX_PER_CLASS = 12
SEED = 0


def read_report(app) -> dict:
    """The model's data report (``data.json``); ``{}`` when it has none (a built-in's own data).

    Raises:
        GlasswingError: The report is corrupt.
    """
    path = core.folder_of(app) / userdata.REPORT_FILE
    return artifacts.read_json(path) if path.is_file() else {}


def counts_table(report: dict) -> pd.DataFrame:
    """Examples per class (rows) and split (columns), with a total column and a total row."""
    counts = report["counts"]
    splits = [s for s in SPLITS if s in counts] + [s for s in counts if s not in SPLITS]
    classes = list(report.get("classes") or sorted({c for split in counts.values() for c in split}))
    frame = pd.DataFrame({s: [int(counts[s].get(c, 0)) for c in classes] for s in splits}, index=classes)
    frame["total"] = frame.sum(axis=1)
    # concat, not .loc: a user's class may itself be called "total".
    frame = pd.concat([frame, frame.sum().to_frame("all classes").T])
    return frame.rename_axis("class").reset_index()


def sizes_table(metrics: dict) -> pd.DataFrame | None:
    """Examples per split as recorded at training time (``metrics.json`` ``split_sizes``)."""
    sizes = metrics.get("split_sizes")
    if not sizes:
        return None
    return pd.DataFrame({"split": list(sizes), "examples": [int(n) for n in sizes.values()]})


def counts_section(app, report: dict) -> None:
    """The counts table from the data report, else the split sizes from ``metrics.json``."""
    st.subheader("Examples per class and split")
    if report.get("counts"):
        st.dataframe(counts_table(report), hide_index=True)
        added = report.get("added") or []
        note = f" · added by {app.name}'s architecture: {', '.join(added)}" if added else ""
        test = f"; test from {report['test_source']}" if report.get("test_source") else ""
        st.caption(f"From `{report.get('source', '?')}`{test}{note}")
        return
    metrics = core.guarded(artifacts.read_json, core.folder_of(app) / artifacts.METRICS_FILE)
    table = sizes_table(metrics) if metrics is not None else None
    if table is not None:
        st.dataframe(table, hide_index=True)
        st.caption("Split sizes recorded at training; models trained on your data also count each class.")
    elif metrics is not None:
        st.info("metrics.json records no split sizes; retrain the model to record them.")


@st.cache_data(show_spinner="Picking examples of each class ...", max_entries=16)
def _examples(prepared: str, split: str, seed: int, _cfg) -> dict[int, list]:
    """Up to :data:`MAX_PER_CLASS` seeded random examples of each class of a user dataset's split.

    One pass with a reservoir per class, so a large split is never held in memory;
    ``prepared`` (the prepared copy's folder, named by a hash of its content) is the cache key.
    """
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    picked: dict[int, list] = {}
    seen: dict[int, int] = {}
    try:
        for x, y in userdata.load_split(_cfg, split).as_numpy_iterator():
            y = int(y)
            seen[y] = seen.get(y, 0) + 1
            bucket = picked.setdefault(y, [])
            if len(bucket) < MAX_PER_CLASS:
                bucket.append(x)
            elif (j := int(rng.integers(seen[y]))) < MAX_PER_CLASS:
                bucket[j] = x
    except tf.errors.OpError as err:
        raise GlasswingError(
            f"Cannot read the prepared copy of this model's data ({prepared}): {err.message.splitlines()[0]}"
        ) from None
    for bucket in picked.values():
        rng.shuffle(bucket)  # reservoir slots keep early examples first; any prefix is then random too
    return picked


def examples_section(app, cfg) -> None:
    """A few training examples of each class, for models with a prepared copy of their data."""
    st.subheader("Training examples")
    if not cfg.data:
        st.caption(f"{app.name} trains on its own dataset; the Playground shows its test examples.")
        return
    labels = app.labels(cfg)
    per_class = st.slider("Examples per class", 1, MAX_PER_CLASS, 6, key="data:per_class")
    picked = core.guarded(_examples, str(userdata.builder_dir(cfg)), "train", SEED, cfg)
    if picked is None:
        return
    st.caption(f"Drawn at random (seed {SEED}) from the training split, as stored for training.")
    for index, label in enumerate(labels):
        examples = picked.get(index, [])
        st.markdown(f"**{label}**")
        if examples:
            render.stored_examples(app, cfg, examples[:per_class])
        else:
            st.caption("No training examples of this class.")


def skipped_section(report: dict) -> None:
    """The data report's warnings and the files (or CSV rows) that could not be used, and why."""
    st.subheader("Skipped files and warnings")
    if not report:
        st.caption("No data report: this model was not trained with `--data`.")
        return
    for note in report.get("warnings", []):
        st.warning(note)
    skipped = report.get("skipped", [])
    if skipped:
        st.caption(f"{len(skipped)} file(s) or row(s) could not be used:")
        st.dataframe(pd.DataFrame(skipped, columns=["file", "why"]), hide_index=True, width="stretch")
    else:
        st.caption("Nothing was skipped.")


st.title("Data")
app = core.require_app("classify")
report = core.guarded(read_report, app) if app is not None else None
cfg = core.guarded(artifacts.load_config, app, core.folder_of(app)) if report is not None else None
if cfg is not None:
    st.caption(report.get("summary") or app.description)
    counts_section(app, report)
    examples_section(app, cfg)
    skipped_section(report)
