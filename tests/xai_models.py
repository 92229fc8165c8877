"""Small models the xai tests share: built or trained in seconds, cached per process."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from apps import APPS
from apps.app import App, TrainConfig


def _unused(*args, **kwargs):
    raise AssertionError("not used by explainers")


def make_app(modality: str, task: str = "classify") -> App:
    """An App with only modality/task: explainers must need nothing else."""
    return App(f"toy_{modality}", modality, task, TrainConfig, *([_unused] * 6))


IMAGE_APP = APPS["image"]
TEXT_APP = make_app("text")
SEQ_LEN, VOCAB = 12, 40


@functools.cache
def trained_image_model():
    """The image app's tiny CNN trained on fake_batch (class k = bright band at row 2k+4)."""
    import keras

    # tta_shift=0: the class is the band's row, so views moved 1 px up or down (the default's
    # test-time views) would blur one class into the next; the 2 mirror views stay.
    cfg = dataclasses.replace(
        IMAGE_APP.Config.tiny(), filters=8, dense_units=32, learning_rate=1e-2, tta_shift=0
    )
    keras.utils.set_random_seed(0)
    x, y = IMAGE_APP.fake_batch(cfg, 1024)
    model = IMAGE_APP.build(cfg)
    # 160 steps: enough for BatchNorm's moving statistics to settle (eval = train accuracy).
    model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    xt, yt = IMAGE_APP.fake_batch(dataclasses.replace(cfg, seed=7), 64)
    accuracy = float((np.argmax(model(xt, training=False), axis=-1) == yt).mean())
    assert accuracy > 0.9, f"helper model did not learn the bands (accuracy {accuracy:.2f})"
    return model, xt, yt


def build_text_model(seed: int = 0):
    """Token ids -> Embedding(mask_zero) + learned positions -> Conv1D -> pooled softmax.

    The positions are added by a custom layer reading the embeddings, the kind
    of branch that makes an ``Embedding.output`` sub-model disconnected.
    """
    import keras

    class AddPositions(keras.layers.Layer):
        def build(self, input_shape):
            self.table = self.add_weight(shape=tuple(input_shape[1:]), initializer="random_normal")

        def call(self, embedded):
            return embedded + self.table[None]

        def compute_mask(self, inputs, mask=None):
            return mask

    keras.utils.set_random_seed(seed)
    ids = keras.Input((SEQ_LEN,), dtype="int32", name="ids")
    h = keras.layers.Embedding(VOCAB, 8, mask_zero=True, name="tokens")(ids)
    h = AddPositions()(h)
    h = keras.layers.Conv1D(8, 3, padding="same", activation="tanh")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    out = keras.layers.Dense(3, activation="softmax")(h)
    return keras.Model(ids, out, name="toy_text")


TEXT_X = np.array([5, 9, 3, 7, 11, 2, 0, 0, 0, 0, 0, 0], dtype=np.int32)


def nested_cnn():
    import keras

    keras.utils.set_random_seed(2)
    inner_in = keras.Input((12, 12, 8))
    inner = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="inner_a")(inner_in)
    inner = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="inner_last")(inner)
    backbone = keras.Model(inner_in, inner, name="backbone")
    inputs = keras.Input((12, 12, 1))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    h = backbone(h)
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")
    dense = keras.layers.Dense(4, activation="softmax", name="head")
    return keras.Model(inputs, dense(pooled(h))), backbone, pooled, dense


AUDIO_APP = make_app("audio")


def quadrant_region(shape: tuple) -> np.ndarray:
    """The top-left quadrant of an ``(H, W, C)`` input: where a :func:`quadrant_model` looks."""
    region = np.zeros(shape, dtype=bool)
    region[: shape[0] // 2, : shape[1] // 2] = True
    return region


def quadrant_model(shape: tuple = (28, 28, 1), classes: int = 3, seed: int = 0):
    """A random CNN that reads only the top-left quadrant of its input (the known answer).

    The input is multiplied by a fixed 0/1 mask before the first convolution, and
    the convolutions have no bias, so every element outside the quadrant has no
    effect on any output and the feature maps are exactly 0 there.
    """
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape)
    h = inputs * keras.ops.convert_to_tensor(quadrant_region(shape).astype("float32"))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", use_bias=False)(h)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", use_bias=False, name="last")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(classes, activation="softmax")(h)
    return keras.Model(inputs, out, name="quadrant")


def additive_text_model(weights: np.ndarray):
    """Token ids -> sentiment whose logit is the sum of one fixed weight per token.

    Class 1's logit is ``sum_t weights[id_t]`` and class 0's is 0, so a token's
    true contribution is its weight. Padding (id 0) must have weight 0: the sum
    runs over every position, so removing a token (setting it to padding) takes
    away exactly its weight.
    """
    import keras

    vocab = len(weights)
    ids = keras.Input((SEQ_LEN,), dtype="int32", name="ids")
    if weights[0] != 0:
        raise ValueError("the padding id 0 must have weight 0")
    embedding = keras.layers.Embedding(vocab, 1, name="weights")
    score = keras.layers.GlobalAveragePooling1D()(embedding(ids)) * float(SEQ_LEN)  # mean x L = sum
    model_out = keras.layers.Dense(2, activation="softmax", name="head")(score)
    model = keras.Model(ids, model_out, name="additive")
    embedding.set_weights([np.asarray(weights, np.float32).reshape(vocab, 1)])
    model.get_layer("head").set_weights([np.array([[0.0, 1.0]], np.float32), np.zeros(2, np.float32)])
    return model
