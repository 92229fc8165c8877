"""Glasswing dashboard: the trained models, their test metrics and TF Lite exports.

Reads only the JSON artifacts, so the page starts fast (no TensorFlow import).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from apps import artifacts
from apps.errors import GlasswingError

MODELS_DIR = Path(os.environ.get("GLASSWING_MODELS_DIR", "models"))


def _metrics_table(metrics: dict) -> pd.DataFrame:
    keys = ("accuracy", "macro_precision", "macro_recall", "macro_f1")
    return pd.DataFrame({"metric": k, "value": round(metrics[k], 4)} for k in keys if k in metrics)


def _export_table(report: dict) -> pd.DataFrame:
    rows = []
    for mode, row in report.get("modes", {}).items():
        if "error" in row:
            rows.append({"mode": mode, "status": row["error"]})
            continue
        rows.append(
            {
                "mode": mode,
                "size (KB)": round(row["size_bytes"] / 1024, 1),
                "× float32": row.get("size_ratio_vs_float32"),
                "accuracy": row.get("accuracy"),
                "agreement": row.get("agreement"),
                "max |diff|": row.get("max_abs_diff"),
                "latency (ms)": round(row["latency_ms"], 3),
            }
        )
    return pd.DataFrame(rows)


def show_app(name: str) -> None:
    """One app's section: metrics, confusion matrix, history and exports."""
    folder = MODELS_DIR / name
    st.header(name)
    try:
        metrics = artifacts.read_json(folder / artifacts.METRICS_FILE)
    except GlasswingError as err:
        st.error(str(err))
        return
    left, right = st.columns(2)
    left.subheader("Test metrics")
    left.dataframe(_metrics_table(metrics), hide_index=True)
    left.caption(
        f"{metrics.get('n_examples', '?')} test examples · split sizes {metrics.get('split_sizes')} · "
        f"{metrics.get('epochs_run')} epochs in {metrics.get('wall_time_s')} s on {metrics.get('device')}"
    )
    if "confusion_matrix" in metrics:
        right.subheader("Confusion matrix (rows: true, columns: predicted)")
        labels = metrics.get("labels")
        right.dataframe(pd.DataFrame(metrics["confusion_matrix"], index=labels, columns=labels))
    history = folder / artifacts.HISTORY_FILE
    if history.is_file():
        frame = pd.read_csv(history)
        curves = [c for c in ("loss", "val_loss", "accuracy", "val_accuracy") if c in frame]
        if curves and len(frame):
            st.subheader("Training curves")
            st.line_chart(frame.set_index("epoch")[curves])
    export_file = folder / artifacts.EXPORT_FILE
    st.subheader("TF Lite exports (measured in the LiteRT interpreter)")
    if export_file.is_file():
        try:
            report = artifacts.read_json(export_file)
        except GlasswingError as err:
            st.error(str(err))
        else:
            st.dataframe(_export_table(report), hide_index=True)
            st.caption(f"Measured on {report.get('cpu')}; {report.get('latency')}.")
    else:
        st.info(f"Not exported yet: run `glasswing export {name} --quant all`.")


def main() -> None:
    """The page: every app with artifacts, or how to train one."""
    st.set_page_config(page_title="Glasswing", layout="wide")
    st.title("Glasswing models")
    trained = artifacts.list_trained(MODELS_DIR)
    if not trained:
        st.info(f"No trained models in {MODELS_DIR}. Train one with `glasswing train image`.")
        return
    st.sidebar.write("Trained apps")
    choice = st.sidebar.radio("App", trained, label_visibility="collapsed")
    show_app(choice)


main()
