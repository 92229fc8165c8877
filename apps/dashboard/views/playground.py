"""Playground: pick a test example or bring your own input; Keras vs .tflite top-k side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from apps.dashboard import core, render

TOP_K = 5


def top_k(probs, labels, k: int = TOP_K) -> pd.DataFrame:
    """The ``k`` most probable classes as a table (class, probability)."""
    order = np.argsort(-probs)[:k]
    return pd.DataFrame({"class": [labels[i] for i in order], "probability": probs[order].round(4)})


def _random(n: int) -> None:
    # A callback runs before the widgets, so the index box shows the new value too.
    st.session_state["playground:index"] = int(np.random.default_rng().integers(n))


def pick_input(app, b) -> None:
    """The input chooser: a test example (by index or at random) or the user's own."""
    source = st.radio("Input", ["Test example", "Your own"], horizontal=True, key="playground:source")
    if source == "Test example":
        split = core.guarded(core.test_split, app)
        if split is None:
            return
        current = core.current_input(app)
        start = current.index if current.index is not None else 0
        left, right = st.columns([3, 1])
        index = left.number_input(
            f"Test example (0-{len(split.y) - 1})", 0, len(split.y) - 1, start, key="playground:index"
        )
        right.button("Random", key="playground:random", on_click=_random, args=(len(split.y),))
        if index != current.index:
            core.set_test_example(app, index)
    else:
        got = render.user_input(app, b, "playground")
        if got is not None:
            x, source_name, raw = got
            if core.input_hash(x) != core.input_hash(core.current_input(app).x):
                core.set_user_input(app, x, source_name, raw)


def predictions(app, b, current) -> None:
    """Keras and .tflite probabilities side by side, with their agreement."""
    probs = np.asarray(b.model(current.x[None], training=False))[0]
    modes = core.tflite_modes(app)
    left, right = st.columns(2)
    with left:
        st.subheader("Keras model")
        st.metric("Prediction", b.labels[int(probs.argmax())], f"{probs.max():.1%}", delta_color="off")
        st.dataframe(top_k(probs, b.labels), hide_index=True)
    with right:
        st.subheader("TF Lite")
        if not modes:
            st.info(f"No .tflite files yet: `glasswing export {app.name} --quant all` or the Export page.")
            return
        mode = st.selectbox("Quant mode", modes, key="playground:mode")
        lite = core.guarded(core.tflite_model, app, mode)
        if lite is None:
            return
        lite_x = core.guarded(core.tflite_input, app, current)
        if lite_x is None:
            return
        lite_probs = np.asarray(lite(lite_x[None]))[0]
        st.metric(
            "Prediction", b.labels[int(lite_probs.argmax())], f"{lite_probs.max():.1%}", delta_color="off"
        )
        st.dataframe(top_k(lite_probs, b.labels), hide_index=True)
    agree = int(probs.argmax()) == int(lite_probs.argmax())
    diff = float(np.abs(probs - lite_probs).max())
    message = f"Keras and {mode}.tflite {'agree' if agree else 'DISAGREE'} · max |Δp| = {diff:.4f}"
    (st.success if agree else st.warning)(message)


st.title("Playground")
app = core.require_app("classify")
if app is not None:
    b = core.guarded(core.bundle, app)
    if b is not None:
        st.caption(app.description)
        pick_input(app, b)
        current = core.current_input(app)
        col_input, col_pred = st.columns([1, 3])
        with col_input:
            render.show_input(app, current)
            if current.label is not None:
                st.caption(f"True class: **{b.labels[current.label]}**")
        with col_pred:
            predictions(app, b, current)
        if st.button("Explain this input →", key="playground:explain"):
            st.switch_page("views/explain.py")
