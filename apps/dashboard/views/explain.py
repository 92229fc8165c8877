"""Explain: attribution maps of the current input side by side, their faithfulness, float vs .tflite."""

from __future__ import annotations

import numpy as np
import streamlit as st

import xai
from apps.dashboard import core, render
from apps.errors import GlasswingError
from xai import comparison
from xai.faithfulness import gain

# Fast methods shown before the user picks: each takes well under a second here.
DEFAULT_METHODS = ("saliency", "integrated_gradients", "grad_cam", "gradient_input")
MODEL_LEVEL_KEY = "explain:model_level"


def _methods(app, large: bool) -> list[str]:
    names = list(xai.available(app))
    preferred = core.LARGE_MODEL_METHODS if large else DEFAULT_METHODS
    default = [m for m in preferred if m in names][:3] or names[:2]
    return st.multiselect("Methods", names, default=default, key="explain:methods")


def faithfulness_rank(f) -> float:
    """How much better than random a map is on this input, negated (more negative = better);
    +inf when unmeasured; >= 0 means no better than chance."""
    return -gain(f) if f else float("inf")


def attributions(app, b, current, methods, target) -> None:
    """Runs the chosen methods with a progress bar (cached), then shows them side by side."""
    results = {}
    progress = st.progress(0.0, text="Explaining ...")
    for i, method in enumerate(methods):
        progress.progress(i / len(methods), text=f"Explaining with {method} ({i + 1}/{len(methods)}) ...")
        try:
            results[method] = core.explain(app, method, current.x, target)
        except GlasswingError as err:
            results[method] = err
    progress.progress(1.0, text="Measuring deletion/insertion AUC ...")
    faith, overall = {}, {}
    for method, result in results.items():
        if not isinstance(result, GlasswingError):
            faith[method] = core.guarded(core.faithfulness, app, method, current.x, result[0])
    for i, method in enumerate(faith if st.session_state.get(MODEL_LEVEL_KEY, True) else ()):
        progress.progress(
            i / len(faith),
            text=f"Measuring {method} on {core.FAITHFULNESS_EXAMPLES} test examples for this model ...",
        )
        overall[method] = core.guarded(core.model_faithfulness, app, method)
    progress.empty()
    # Most faithful for this model first (then on this input): a user reads the left-most map first.
    methods = sorted(
        methods,
        key=lambda m: (
            -overall[m].gain[0] if overall.get(m) else float("inf"),
            faithfulness_rank(faith.get(m)),
        ),
    )
    for row in range(0, len(methods), 3):
        for method, column in zip(methods[row : row + 3], st.columns(3)):
            with column:
                st.markdown(f"**{method}**")
                result = results[method]
                if isinstance(result, GlasswingError):
                    st.error(str(result))
                    continue
                attribution, seconds = result
                render.attribution(app, current.x, attribution.values)
                render.keep_remove_audio(app, b, current, attribution.values, attribution.target)
                f = faith.get(method)
                if f:
                    st.caption(
                        f"deletion AUC **{f.deletion:.3f}** (random {f.random_deletion:.3f}, "
                        f"lower is better) · insertion AUC **{f.insertion:.3f}** "
                        f"(random {f.random_insertion:.3f}) · {seconds:.2f} s"
                    )
                    if faithfulness_rank(f) >= 0:
                        st.warning(
                            "No better than a random ordering on this input: "
                            "do not read this map as an explanation."
                        )
                model_level = overall.get(method)
                if model_level:
                    mean, half = model_level.gain
                    st.caption(
                        f"for this model, over {model_level.n} test examples: gain over random "
                        f"{mean:+.3f} ± {half:.3f}"
                    )
                    if model_level.verdict != "yes":
                        st.warning(
                            f"Not better than random for this model (over {model_level.n} test examples): "
                            "its maps here are not evidence of what the model uses."
                        )
                caveat = getattr(xai.EXPLAINERS[method], "caveat", "")
                if caveat:
                    st.caption(f"⚠ {caveat}")


def float_vs_tflite(app, current, target) -> None:
    """The same prediction-only method on the Keras model and on a .tflite, compared."""
    st.subheader("Float vs TF Lite explanation")
    modes = core.tflite_modes(app)
    methods = [m for m in xai.available(app) if m in xai.PREDICTION_ONLY]
    if app.raw is not None:
        # Perturbations switch off parts of the model input (log-mel patches); this
        # app's .tflite takes the raw signal, so it cannot be fed the perturbed inputs.
        st.info(
            f"The {app.name} .tflite files take the raw signal and compute the features in-graph, "
            "so perturbation maps of them are not comparable; the Playground compares their predictions."
        )
        return
    if not modes or not methods:
        st.info(f"Needs a .tflite file: `glasswing export {app.name} --quant all` or the Export page.")
        return
    left, right = st.columns(2)
    method = left.selectbox("Method", methods, key="explain:cmp_method")
    default = modes.index("int8") if "int8" in modes else 0
    mode = right.selectbox("TF Lite file", modes, index=default, key="explain:cmp_mode")
    with st.spinner(f"Explaining the Keras model and {mode}.tflite with {method} ..."):
        result = core.guarded(core.compare, app, method, mode, current.x)
    if result is None:
        return
    a, b, _ = st.columns(3)  # the width of the maps above, so the two are easy to compare
    with a:
        st.markdown("**Keras (float)**")
        render.attribution(app, current.x, result["float"].values)
    with b:
        st.markdown(f"**{mode}.tflite**")
        render.attribution(app, current.x, result["tflite"].values)
    rank = result["rank_correlation"]
    st.caption(
        f"rank correlation {rank:.3f} · top-10% overlap {result['top_overlap']:.0%} · "
        f"max |Δp| at this input {result['max_prob_diff']:.4f}"
        if np.isfinite(rank)
        else f"top-10% overlap {result['top_overlap']:.0%} (a map is constant: rank correlation undefined)"
    )


def other_model(app, current, methods, target) -> None:
    """The same methods on another trained model of this app, beside this one's maps."""
    st.subheader("Compare with another model")
    other = st.text_input(
        "Folder of another trained model of this app (e.g. a copy from before fine-tuning)",
        key="explain:other",
        placeholder="path/to/models/" + app.name,
    )
    if not other or not methods:
        return
    model_b = core.guarded(core.other_model, app, other)
    if model_b is None:
        return
    columns = st.columns(3)
    for i, method in enumerate(methods):
        with columns[i % 3]:
            st.markdown(f"**{method}** · other model")
            try:
                a = core.explain(app, method, current.x, target)[0]
                b = xai.get_explainer(method).explain(app, model_b, current.x, target)
            except GlasswingError as err:
                st.error(str(err))
                continue
            render.attribution(app, current.x, b.values)
            rank, overlap = comparison.agreement(app, current.x, a.values, b.values)
            st.caption(f"rank correlation with this model's map {rank:.3f} · top-10% overlap {overlap:.0%}")
    st.caption(f"Over many test examples: `glasswing explain {app.name} --compare {other}`.")


st.title("Explain")
app = core.require_app("classify")
b = core.guarded(core.bundle, app) if app is not None else None
if b is not None:
    current = core.current_input(app)
    probs = np.asarray(b.model(current.x[None], training=False))[0]
    predicted = int(probs.argmax())
    left, right = st.columns([1, 3])
    with left:
        render.show_input(app, current, width=160)
        st.caption("Change the input on the Playground page.")
    with right:
        truth = f" · true class **{b.labels[current.label]}**" if current.label is not None else ""
        st.markdown(f"Predicted **{b.labels[predicted]}** ({probs[predicted]:.1%}){truth}")
        target = st.selectbox(
            "Class to explain",
            range(len(b.labels)),
            index=predicted,
            format_func=lambda k: f"{b.labels[k]} ({probs[k]:.1%})",
            key=f"explain:target:{core.input_hash(current.x)}",
        )
        large = core.is_large(b)
        methods = _methods(app, large)
        st.toggle(
            f"Order and check the methods on {core.FAITHFULNESS_EXAMPLES} test examples for this model",
            value=not large,
            key=MODEL_LEVEL_KEY,
            help="Deletion/insertion against random orderings, per method, cached per model file. "
            "Slow methods on large models take a while the first time.",
        )
        st.caption("Red: evidence for the class; blue: against. Results are cached per input and method.")
        if large:
            st.caption(core.large_model_note(b))
    if methods:
        attributions(app, b, current, methods, int(target))
    float_vs_tflite(app, current, int(target))
    other_model(app, current, methods, int(target))
