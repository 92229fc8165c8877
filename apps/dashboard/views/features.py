"""Features: a layer's activations for the current input, filter visualizations, kernels, embeddings."""

from __future__ import annotations

import numpy as np
import streamlit as st

from apps.dashboard import core, render
from apps.errors import GlasswingError
from xai import _model, features

FILTERS_SHOWN = 16


def _layers(model) -> list[str]:
    """Leaf layers whose output has per-position structure (conv, recurrent, embedding ...).

    Weightless layers that give an input-shaped output (rescaling, the mirrored views of
    ``apps.layers.MirrorViews``) are left out: their maps would show the input again.
    """
    names = []
    input_shape = tuple(model.inputs[0].shape)
    for layer in _model.iter_layers(model):
        if hasattr(layer, "layers") or type(layer).__name__ == "InputLayer":
            continue
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) >= 3 and (layer.weights or tuple(shape) != input_shape):
            names.append(layer.name)
    return names


@st.cache_data(show_spinner=False, max_entries=32)
def _filters(name: str, stamp: str, layer: str, count: int, _model_obj) -> np.ndarray:
    return features.maximize_filter(_model_obj, layer, list(range(count)), steps=48)


@st.cache_data(show_spinner=False, max_entries=8)
def _projection(name: str, stamp: str, method: str, key: str, _model_obj, _x, _extra) -> np.ndarray:
    # The current input is projected with the test examples, so it lands in the same 2-D space.
    return features.project(_model_obj, np.concatenate([_x, _extra[None]]), method=method)


def activations_section(app, b, current) -> None:
    st.subheader("Feature maps for the current input")
    layers = _layers(b.model)
    if not layers:
        st.info("This model has no layer with spatial or sequence outputs to show.")
        return
    left, right = st.columns([1, 3])
    with left:
        render.show_input(app, current, width=140)
    with right:
        layer = st.selectbox("Layer", layers, key="features:layer")
        acts = core.guarded(features.activations, b.model, layer, current.x[None])
        if acts is not None:
            render.feature_maps(app, acts)


def filters_section(app, b) -> None:
    st.subheader("What the filters look for")
    # By what a layer is (it has a kernel size), not by its name.
    convs = [layer.name for layer in _model.iter_layers(b.model) if hasattr(layer, "kernel_size")]
    left, right = st.columns(2)
    with left:
        st.markdown("**Filter visualization** (inputs that excite each filter most)")
        if not convs:
            st.info("No convolution layers.")
        else:
            # The deepest convolution by default: first-layer filters see 3x3 pixels and look flat.
            layer = st.selectbox("Convolution layer", convs, index=len(convs) - 1, key="features:conv")
            # Narrow layers (e.g. a tiny model's 8 filters) show all they have.
            count = min(FILTERS_SHOWN, int(_model.find_layer(b.model, layer).output.shape[-1]))
            with st.spinner(f"Optimizing inputs for {count} filters of {layer} ..."):
                try:
                    images = _filters(app.name, core.model_stamp(app), layer, count, b.model)
                except GlasswingError as err:
                    st.info(str(err))
                    images = None
                except (IndexError, ValueError) as err:  # fewer filters than asked
                    st.info(f"Cannot visualize {layer}: {err}")
                    images = None
            if images is not None:
                st.image(render.image_grid(list(images), [str(i) for i in range(len(images))], cols=8))
    with right:
        st.markdown("**First-layer kernels**")
        try:
            kernels = features.first_layer_kernels(b.model)
        except GlasswingError as err:
            st.info(str(err))
        else:
            if kernels.ndim == 4:
                st.image(render.image_grid(list(kernels[:32]), cols=8))
                st.caption(f"{min(32, len(kernels))} of {len(kernels)} kernels, {kernels.shape[1:3]} each.")
            else:
                st.info("The first convolution is 1-D: its kernels are not images.")


def projection_section(app, b, current) -> None:
    st.subheader("Embedding projection of the test set")
    split = core.guarded(core.test_split, app)
    if split is None:
        return
    method = st.radio("Projection", ["pca", "tsne"], horizontal=True, key="features:proj")
    n = min(core.PROJECTION_EXAMPLES, len(split.y))
    with st.spinner(f"Projecting {n} test examples with {method} ..."):
        points = core.guarded(
            _projection,
            app.name,
            core.model_stamp(app),
            method,
            core.input_hash(current.x),
            b.model,
            split.x[:n],
            current.x,
        )
    if points is None:
        return
    st.image(render.projection_png(points[:-1], split.y[:n], b.labels, points[-1]))
    st.caption(
        f"Penultimate-layer embeddings of {n} test examples, coloured by true class; "
        "the star is the current input."
    )


st.title("Features")
app = core.require_app("classify")
b = core.guarded(core.bundle, app) if app is not None else None
if b is not None:
    current = core.current_input(app)
    activations_section(app, b, current)
    filters_section(app, b)
    projection_section(app, b, current)
