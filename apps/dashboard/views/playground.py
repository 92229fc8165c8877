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


def scan_recording(app, b, current) -> None:
    """A user's recording, every window classified: where each keyword was heard."""
    from apps import scan

    if not core.can_scan(app, current):
        return
    st.subheader("The whole recording")
    if not st.toggle("Classify every 1-s window (quarter-second hops)", key="playground:scan"):
        st.caption("The prediction above is of the loudest second; scan to find every keyword in the file.")
        return
    result = core.guarded(core.scan_recording, app, current.raw)
    if result is None:
        return
    probs, spans, note = result
    st.caption(note)
    min_prob = st.slider("Lowest probability that counts", 0.05, 1.0, 0.5, 0.05, key="playground:min_prob")
    min_windows = st.slider(
        "Fewest agreeing windows (a lone window is often a fragment of another word)",
        1,
        4,
        scan.MIN_WINDOWS,
        key="playground:min_windows",
    )
    found = scan.detections(probs, spans, b.labels, min_prob, min_windows)
    if found:
        rows = [[d.label, d.start_s, d.end_s, round(d.prob, 4), d.windows] for d in found]
        columns = ["keyword", "from s", "to s", "probability", "windows"]
        st.dataframe(pd.DataFrame(rows, columns=columns), hide_index=True)
    else:
        st.info(f"No keyword heard with probability ≥ {min_prob:.2f} in {min_windows} or more windows.")
    keywords = [i for i, label in enumerate(b.labels) if not scan.is_background(label)]
    chart = pd.DataFrame(probs[:, keywords], columns=[b.labels[i] for i in keywords], index=spans[:, 0])
    # The keywords that top some window, so the chart stays readable.
    shown = sorted({b.labels[keywords[i]] for i in probs[:, keywords].argmax(1)})
    st.line_chart(chart[shown], x_label="window start (s)", y_label="probability")


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
        scan_recording(app, b, current)
        if st.button("Explain this input →", key="playground:explain"):
            st.switch_page("views/explain.py")
