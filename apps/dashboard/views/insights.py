"""Insights: what the model relies on for each class, over many test examples (a global explanation)."""

from __future__ import annotations

import streamlit as st

import xai
from apps import artifacts
from apps.dashboard import core
from xai import insights, segments
from xai.render import class_maps_png, insights_html, token_bars_png


def _compute(app, b, method: str, per_class: int) -> insights.Insights | None:
    """Explains ``per_class`` test examples of every class (kept in the session, per model file)."""
    key = ("glasswing_insights", app.name, core.model_stamp(app), method, per_class)
    if key in st.session_state:
        return st.session_state[key]
    split = core.guarded(core.test_split, app)
    if split is None:
        return None
    chosen = insights.sample_per_class(split.y, per_class)
    bar = st.progress(0.0, text=f"Explaining {len(chosen)} test examples with {method} ...")

    def progress(done, total):
        bar.progress(done / total, text=f"Explaining test examples with {method}: {done}/{total}")

    result = core.guarded(
        insights.insights,
        app,
        b.model,
        split.x[chosen],
        split.y[chosen],
        b.labels,
        method,
        "the test split",
        lambda ids: artifacts.token_strings(b.folder, ids),
        progress,
    )
    bar.empty()
    if result is not None:
        st.session_state[key] = result
    return result


def _show(app, result: insights.Insights, time_major: bool) -> None:
    st.caption(
        f"{result.examples} test examples, each explained for its true class with **{result.method}** "
        f"({result.seconds:.1f} s). Red: evidence for the class; blue: against."
    )
    st.dataframe(
        {
            "class": [c.label for c in result.classes],
            "examples": [c.count for c in result.classes],
            "accuracy": [round(c.accuracy, 3) for c in result.classes],
        },
        hide_index=True,
    )
    if segments.parts_are_tokens(app.modality):
        for c, column in zip(result.classes, st.columns(min(len(result.classes), 3))):
            with column:
                if not (c.pushes_for or c.pushes_against):
                    st.info(
                        f"No word seen {insights.min_count(c.count)}+ times among the {c.label} examples."
                    )
                    continue
                st.image(token_bars_png(c))
                for p in list(c.pushes_for)[:5]:
                    st.caption(f"**{p.token}** {p.mean:+.3f} ×{p.count}: {p.example}")
    else:
        st.image(class_maps_png(result.classes, time_major))
    st.download_button(
        "Download the report (HTML)",
        insights_html(result, time_major),
        file_name=f"{app.name}-insights.html",
        mime="text/html",
    )


st.title("Insights")
st.caption(
    "What the model relies on for each class, over many examples: class-average maps (images, audio) "
    "or the words that push each class (text). `glasswing explain APP --global --data DIR` makes the same "
    "report on your own labelled files."
)
app = core.require_app("classify")
b = core.guarded(core.bundle, app) if app is not None else None
if b is not None:
    methods = list(xai.available(app))
    left, right = st.columns(2)
    large = core.is_large(b)
    preferred = core.LARGE_MODEL_METHODS[0] if large else "integrated_gradients"
    default = methods.index(preferred) if preferred in methods else 0
    method = left.selectbox("Method", methods, index=default, key="insights:method")
    if large:
        st.caption(core.large_model_note(b))
    per_class = right.slider("Test examples per class", 2, 50, 8, key="insights:per_class")
    result = _compute(app, b, method, int(per_class))
    if result is not None:
        _show(app, result, time_major=segments.time_major(app.modality))
