"""Errors: misclassified test examples, most confident first, filterable; open one elsewhere."""

from __future__ import annotations

import numpy as np
import streamlit as st

from apps.dashboard import core, render

PAGE_SIZE = 12


def _open(app, index: int, page: str) -> None:
    core.set_test_example(app, index)
    st.switch_page(page)


st.title("Errors")
app = core.require_app("classify")
b = core.guarded(core.bundle, app) if app is not None else None
split = core.guarded(core.test_split, app) if b is not None else None
if split is not None:
    predicted = split.probs.argmax(-1)
    wrong = np.flatnonzero(predicted != split.y)
    st.caption(
        f"{len(wrong)} of {len(split.y)} test examples misclassified "
        f"({len(wrong) / max(1, len(split.y)):.1%}), most confident first."
    )
    left, right = st.columns(2)
    true_filter = left.multiselect("True class", b.labels, key="errors:true")
    pred_filter = right.multiselect("Predicted class", b.labels, key="errors:pred")
    if true_filter:
        wrong = wrong[np.isin(split.y[wrong], [b.labels.index(c) for c in true_filter])]
    if pred_filter:
        wrong = wrong[np.isin(predicted[wrong], [b.labels.index(c) for c in pred_filter])]
    confidence = split.probs[wrong, predicted[wrong]]
    wrong = wrong[np.argsort(-confidence, kind="stable")]
    if not len(wrong):
        st.info("No misclassified examples match these filters.")
    else:
        pages = max(1, int(np.ceil(len(wrong) / PAGE_SIZE)))
        page = st.number_input(f"Page (1-{pages})", 1, pages, 1, key="errors:page") if pages > 1 else 1
        for i in wrong[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]:
            i = int(i)
            with st.container(border=True):
                c_example, c_buttons = st.columns([5, 1])
                with c_example:
                    st.markdown(
                        f"**#{i}** · true **{b.labels[split.y[i]]}** · predicted "
                        f"**{b.labels[predicted[i]]}** ({split.probs[i, predicted[i]]:.1%})"
                    )
                    render.thumbnail(app, split.x[i], split.texts[i] if split.texts else "")
                with c_buttons:
                    if st.button("Playground", key=f"errors:play:{i}"):
                        _open(app, i, "views/playground.py")
                    if st.button("Explain", key=f"errors:explain:{i}"):
                        _open(app, i, "views/explain.py")
