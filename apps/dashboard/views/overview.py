"""Overview: every trained model — task, architecture, metrics, sizes, curves, confusion matrix.

Built-in apps and models trained on a user's data alike.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from apps import APPS, artifacts
from apps.dashboard import core, render
from apps.errors import GlasswingError
from apps.train import validation_note

METRIC_KEYS = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "roc_auc")
# metrics.json fields that describe the run, not the model's quality.
BOOKKEEPING = {"n_examples", "seed", "epochs_run", "wall_time_s"}


def _headline(app, metrics: dict) -> dict:
    """The numbers worth a glance: classifier metrics, or a generator's own scalar metrics."""
    if app.task == "classify":
        return {k: metrics[k] for k in METRIC_KEYS if metrics.get(k) is not None}
    return {
        k: v
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in BOOKKEEPING
    }


def _read(folder, name):
    path = folder / name
    return artifacts.read_json(path) if path.is_file() else None


def _architecture(app) -> tuple[str, int] | None:
    b = core.guarded(core.bundle, app)
    if b is None:
        return None
    from collections import Counter

    kinds = Counter(type(layer).__name__ for layer in b.model.layers if type(layer).__name__ != "InputLayer")
    summary = ", ".join(f"{count}× {kind}" for kind, count in kinds.items())
    return f"`{b.model.name}`: {summary}", int(b.model.count_params())


def _sizes(report: dict) -> pd.DataFrame:
    rows = []
    for mode, row in report.get("modes", {}).items():
        if "error" in row:
            rows.append({"mode": mode, "size (KB)": None, "accuracy": None, "note": row["error"]})
        else:
            rows.append(
                {
                    "mode": mode,
                    "size (KB)": round(row["size_bytes"] / 1024, 1),
                    "accuracy": row.get("accuracy"),
                    "note": "",
                }
            )
    return pd.DataFrame(rows)


def comparison(metrics: dict) -> pd.DataFrame | None:
    """This model beside its baselines (same split) and on other data (``evaluate --record``)."""
    rows = [
        {
            "model": "this model",
            "data": "test split",
            "examples": metrics.get("n_examples"),
            "accuracy": metrics.get("accuracy"),
        }
    ]
    for name, row in metrics.get("baselines", {}).items():
        rows.append(
            {
                "model": f"baseline: {name}",
                "data": "test split",
                "examples": metrics.get("n_examples"),
                "accuracy": row["accuracy"],
            }
        )
    for name, row in metrics.get("domains", {}).items():
        rows.append(
            {
                "model": "this model"
                + ("" if row.get("model", "keras") == "keras" else f" ({row['model']})"),
                "data": name,
                "examples": row.get("n_examples"),
                "accuracy": row["accuracy"],
            }
        )
    if len(rows) == 1:
        return None
    frame = pd.DataFrame(rows)[["model", "data", "accuracy", "examples"]]
    frame["accuracy"] = frame["accuracy"].round(4)
    return frame


def _curves(folder) -> None:
    path = folder / artifacts.HISTORY_FILE
    if not path.is_file():
        st.caption("No history.csv.")
        return
    frame = pd.read_csv(path)
    if "epoch" not in frame or frame.empty:
        st.caption("history.csv is empty.")
        return
    frame = frame.set_index("epoch")
    left, right = st.columns(2)
    loss = [c for c in ("loss", "val_loss") if c in frame]
    acc = [c for c in ("accuracy", "val_accuracy") if c in frame]
    if loss:
        left.caption("Loss per epoch")
        left.line_chart(frame[loss], height=220)
    if acc:
        right.caption("Accuracy per epoch")
        right.line_chart(frame[acc], height=220)


def show(app) -> None:
    """One trained app's section."""
    folder = core.folder_of(app)
    st.header(f"{app.name} · {app.modality} {app.task}")
    st.write(app.description)
    try:
        metrics = _read(folder, artifacts.METRICS_FILE) or {}
        report = _read(folder, artifacts.EXPORT_FILE)
    except GlasswingError as err:
        st.error(str(err))
        return
    arch = _architecture(app)
    if arch:
        summary, params = arch
        st.markdown(f"**Architecture** {summary} · **{params:,} parameters**")
    left, right = st.columns([2, 3])
    with left:
        st.subheader("Test metrics")
        values = {k.replace("_", " "): round(v, 4) for k, v in _headline(app, metrics).items()}
        frame = pd.DataFrame({"metric": list(values), "value": list(values.values())})
        st.dataframe(frame, hide_index=True)
        st.caption(
            f"{metrics.get('n_examples', '?')} test examples · {metrics.get('epochs_run', '?')} epochs in "
            f"{metrics.get('wall_time_s', '?')} s on {metrics.get('device', '?')}"
        )
        st.subheader("Model size per quant mode")
        if report:
            st.dataframe(_sizes(report), hide_index=True)
        else:
            st.info(f"Not exported yet: `glasswing export {app.name} --quant all` (or the Export page).")
    with right:
        if "confusion_matrix" in metrics:
            st.subheader("Confusion matrix")
            st.image(render.confusion_png(metrics["confusion_matrix"], metrics.get("labels", [])))
    table = comparison(metrics)
    if table is not None:
        # Full width: the data names ("real human recordings, 6 speakers") are long, and
        # accuracy is the column a reader comes for.
        st.subheader("Beside the baselines and beyond the test split")
        st.dataframe(table, hide_index=True, width="stretch")
    st.subheader("Training curves")
    _curves(folder)
    note = validation_note(metrics.get("validated_with"))
    if note:
        st.caption(note)
    card = folder / artifacts.CARD_FILE
    if card.is_file():
        with st.expander(f"Model card ({card})"):
            st.markdown(card.read_text(encoding="utf-8"))


st.title("Glasswing models")
trained = core.trained_apps()
# The app chosen in the sidebar comes first; the others follow for comparison.
chosen = st.session_state.get(core.APP_KEY)
trained = sorted(trained, key=lambda name: name != chosen)
if not trained:
    core.how_to_train()
for name in trained:
    show(core.resolve_app(name))
    st.divider()
untrained = [name for name in APPS if name not in trained]
if untrained and trained:
    st.subheader("Not trained yet")
    for name in untrained:
        st.markdown(f"- **{name}** ({APPS[name].description}): `glasswing train {name}`")
