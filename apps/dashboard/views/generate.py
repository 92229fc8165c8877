"""Generate: what a generation app offers — image samples, interpolation, latent map; or text.

The controls follow the generator's functions (``App.generator``): image
generators offer ``sample``/``interpolate``/``encode``/``grid``, text generators
``generate``. The app's name is never looked at.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from apps.dashboard import core, render


def _picture(gen, images, columns=None) -> np.ndarray:
    return gen.grid(images, columns) if hasattr(gen, "grid") else np.concatenate(list(images), axis=1)


def samples(app, gen) -> None:
    st.subheader("Random samples")
    left, right = st.columns(2)
    n = left.slider("How many", 4, 64, 16, step=4, key="generate:n")
    seed = right.number_input("Seed", 0, 2**31 - 1, 0, key="generate:seed")
    images = core.guarded(gen.sample, int(n), int(seed))
    if images is not None:
        st.image(_picture(gen, images), width=min(640, 60 * int(np.ceil(np.sqrt(n)))), clamp=True)


def interpolation(app, b, gen) -> None:
    st.subheader("Latent interpolation between two test images")
    x, y = core.guarded(core.test_inputs, app) or (None, None)
    if x is None:
        return
    cols = st.columns(3)
    a = cols[0].number_input(f"From test image (0-{len(x) - 1})", 0, len(x) - 1, 0, key="generate:a")
    # Default end point: the first test image of another class, so the path crosses classes.
    other = int(np.argmax(np.asarray(y) != y[0])) if (np.asarray(y) != y[0]).any() else 1
    z = cols[1].number_input(f"To test image (0-{len(x) - 1})", 0, len(x) - 1, other, key="generate:b")
    steps = cols[2].slider("Steps", 2, 16, 8, key="generate:steps")
    images = core.guarded(gen.interpolate, x[int(a)], x[int(z)], int(steps))
    if images is not None:
        st.image(_picture(gen, images, int(steps)), width=min(1000, 70 * int(steps)), clamp=True)
        st.caption(f"{b.labels[int(y[int(a)])]} → {b.labels[int(y[int(z)])]}")


def latent_map(app, b, gen) -> None:
    st.subheader("2-D latent map of the test set")
    x, y = core.guarded(core.test_inputs, app) or (None, None)
    if x is None:
        return
    z = core.guarded(gen.encode, x)
    if z is None:
        return
    if z.shape[1] > 2:
        from sklearn.decomposition import PCA

        z = PCA(n_components=2).fit_transform(z)
        st.caption(f"Latent means of {len(x)} test images, PCA of {gen.encode(x[:1]).shape[1]} dimensions.")
    st.image(render.projection_png(z, np.asarray(y, int), b.labels))


def text(app, gen) -> None:
    st.subheader("Continue a prompt")
    prompt = st.text_area("Prompt", app.generative.prompt, key="generate:prompt")
    cols = st.columns(4)
    temperature = cols[0].slider("Temperature", 0.1, 2.0, 0.8, 0.1, key="generate:temperature")
    top_k = cols[1].number_input("Top-k (0 = all)", 0, 1000, 0, key="generate:top_k")
    length = cols[2].slider("Length", 20, 1000, 300, 20, key="generate:length")
    seed = cols[3].number_input("Seed", 0, 2**31 - 1, 0, key="generate:text_seed")
    with st.spinner(f"Generating {length} characters ..."):
        out = core.guarded(gen.generate, prompt, int(length), float(temperature), int(top_k), int(seed))
    if out is not None:
        st.code(out, language=None, wrap_lines=True)


st.title("Generate")
app = core.require_app("generate")
b = core.guarded(core.bundle, app) if app is not None else None
gen = core.guarded(core.generator, app) if b is not None else None
if gen is not None:
    st.caption(app.description)
    if hasattr(gen, "generate"):
        text(app, gen)
    if hasattr(gen, "sample"):
        samples(app, gen)
    if hasattr(gen, "interpolate"):
        interpolation(app, b, gen)
    if hasattr(gen, "encode"):
        latent_map(app, b, gen)
