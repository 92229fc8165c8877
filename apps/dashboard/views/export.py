"""Export: per quant mode size, interpreter accuracy, agreement and latency; run an export; downloads."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from apps import artifacts
from apps.conversion import QUANT_MODES
from apps.dashboard import core
from apps.errors import GlasswingError

# export.json row fields with a column of their own.
KNOWN = {
    "size_bytes",
    "accuracy",
    "agreement",
    "max_abs_diff",
    "latency_ms",
    "finite",
    "size_ratio_vs_float32",
}


def table(report: dict) -> pd.DataFrame:
    """One row per quant mode in ``export.json`` (errors kept as a note)."""
    rows = []
    for mode, row in report.get("modes", {}).items():
        if "error" in row:
            rows.append({"mode": mode, "note": row["error"]})
            continue
        rows.append(
            {
                "mode": mode,
                "size (KB)": round(row["size_bytes"] / 1024, 1),
                "accuracy": row.get("accuracy"),
                "agreement": row.get("agreement"),
                "max |diff|": row.get("max_abs_diff"),
                "latency (ms)": round(row["latency_ms"], 4),
                # Quality numbers an app records itself (e.g. a generator's mse_vs_float).
                **{k: v for k, v in row.items() if k not in KNOWN and isinstance(v, (int, float))},
                "note": "",
            }
        )
    return pd.DataFrame(rows)


def charts(frame: pd.DataFrame) -> None:
    ok = frame.dropna(subset=["size (KB)"]) if "size (KB)" in frame else frame.iloc[0:0]
    if ok.empty:
        return
    ok = ok.set_index("mode")
    columns = st.columns(3)
    for column, metric in zip(columns, ("size (KB)", "accuracy", "latency (ms)")):
        if metric in ok and ok[metric].notna().any():
            column.caption(metric)
            column.bar_chart(ok[[metric]], height=220, sort=False)


def run_export(app, modes) -> None:
    """Exports the chosen modes one at a time, with a progress bar."""
    from apps.export import export

    progress = st.progress(0.0, text="Starting the export ...")
    failed = []
    for i, mode in enumerate(modes):
        progress.progress(i / len(modes), text=f"Converting and verifying {mode} ({i + 1}/{len(modes)}) ...")
        try:
            row = export(app, core.models_dir(), mode)[mode]
        except GlasswingError as err:
            failed.append(f"{mode}: {err}")
            continue
        if row.get("error"):
            failed.append(row["error"])
    progress.progress(1.0, text="Export finished.")
    for message in failed:
        st.error(message)
    if not failed:
        st.success(f"Exported {', '.join(modes)}.")


def downloads(app, report: dict) -> None:
    folder = core.folder_of(app) / artifacts.TFLITE_DIR
    files = [folder / f"{mode}.tflite" for mode in QUANT_MODES] + [folder / "metadata.json"]
    files = [f for f in files if f.is_file()]
    if not files:
        return
    st.subheader("Downloads")
    for f, column in zip(files, st.columns(len(files))):
        column.download_button(
            f"{f.name} ({f.stat().st_size / 1024:.0f} KB)",
            f.read_bytes(),
            file_name=f"{app.name}-{f.name}",
            mime="application/json" if f.suffix == ".json" else "application/octet-stream",
            key=f"export:download:{f.name}",
        )


st.title("Export")
app = core.require_app()
if app is not None:
    path = core.folder_of(app) / artifacts.EXPORT_FILE
    report = None
    if path.is_file():
        report = core.guarded(artifacts.read_json, path)
    else:
        st.info(f"**{app.name}** has no TF Lite export yet. Run one below or `glasswing export {app.name}`.")
    if report:
        frame = table(report)
        st.dataframe(frame, hide_index=True)
        st.caption(
            f"Measured on the whole test split in the LiteRT interpreter on **{report.get('cpu', '?')}**; "
            f"latency: {report.get('latency', 'median per example')}."
        )
        charts(frame)
    st.subheader("Run an export")
    modes = st.multiselect("Quant modes", QUANT_MODES, default=["float32"], key="export:modes")
    st.caption("Each mode converts in a child process and is verified on the whole test split (minutes).")
    if st.button("Export", type="primary", disabled=not modes, key="export:run"):
        run_export(app, modes)
        report = core.guarded(artifacts.read_json, path) if path.is_file() else report
    if report:
        downloads(app, report)
