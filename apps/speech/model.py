"""DS-CNN keyword spotter (Zhang et al., "Hello Edge", 2017) over log-mel features.

A strided 10x4 convolution, then depthwise-separable blocks (3x3 depthwise +
1x1 pointwise, each with batch norm and ReLU), global average pooling and a
softmax: ~25k parameters at 64 filters, a microcontroller-class model. The
first depthwise block strides by 2: our 97x40 log-mel is 4x the paper's
49x10 MFCC input, and full-resolution blocks made a training step 3x slower
(1.2 s vs 0.4 s per batch of 128 on 2 CPU cores) for no need on 1-s words.
"""

from __future__ import annotations

import keras
from keras import layers

from apps.speech import data, embedding


@keras.saving.register_keras_serializable(package="glasswing_speech")
class UtteranceNorm(keras.layers.Layer):
    """Per-utterance normalization of a log-mel batch ``(B, frames, mels, 1)``.

    Subtracts each mel band's mean over time (cepstral mean normalization: a
    microphone's or room's fixed coloration is an offset per band in the log
    domain, so this removes it), then divides by the utterance's spread, floored
    so that near-silent clips are not blown up to look like speech.
    """

    def __init__(self, floor: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.floor = floor

    def call(self, x):
        centred = x - keras.ops.mean(x, axis=1, keepdims=True)
        spread = keras.ops.sqrt(keras.ops.mean(keras.ops.square(centred), axis=(1, 2, 3), keepdims=True))
        return centred / keras.ops.maximum(spread, self.floor)

    def get_config(self):
        return {**super().get_config(), "floor": self.floor}


def _embedding_branch(inputs, cfg, reg):
    """The pretrained speech embedding on the last 32 bands (frozen but for its last ``cfg.embedding_tune``
    convolutions), under a trained dense layer."""
    x = layers.Cropping2D(((0, 0), (cfg.mel_bins, 0)), name="embedding_bands")(inputs)
    stack = embedding.build_stack(inputs.shape[1])
    embedding.train_last(stack, cfg.embedding_tune)
    x = stack(embedding.EmbeddingInput(name="embedding_input")(x))
    x = layers.BatchNormalization(name="embedding_bn")(layers.Flatten(name="embedding_flat")(x))
    return layers.Dense(
        cfg.embedding_units, activation="relu", kernel_regularizer=reg, name="embedding_dense"
    )(x)


def build(cfg) -> keras.Model:
    """The compiled DS-CNN for ``cfg`` (input: log-mel ``(frames, mel_bins, 1)``)."""
    # Keras' own BatchNorm, not apps.layers.FusedBatchNormalization (2.1x faster steps):
    # it is the committed model's recipe, and 3 seeds with the fused kernel scored the
    # real recordings 0.865 against 0.917 with the same held-out synthetic accuracy
    # (bench/results.md, "The default recipe with the fused layer, 3 seeds").
    reg = keras.regularizers.L2(cfg.weight_decay) if cfg.weight_decay else None
    inputs = keras.Input(data.feature_shape(cfg), name="logmel")
    x = inputs
    if cfg.embedding_head:
        # The DS-CNN reads the first mel_bins bands; the embedding's own 32 follow them.
        x = layers.Cropping2D(((0, 0), (0, inputs.shape[2] - cfg.mel_bins)), name="dscnn_bands")(inputs)
    if cfg.input_norm == "utterance":
        x = UtteranceNorm(name="input_norm")(x)
    else:
        # Log-mel values sit around -14..5; a batch norm on the input learns that scale.
        x = layers.BatchNormalization(name="input_norm")(x)
    x = layers.Conv2D(
        cfg.filters,
        (10, 4),
        strides=(2, 2),
        padding="same",
        use_bias=False,
        kernel_regularizer=reg,
        name="conv_in",
    )(x)
    x = layers.ReLU(name="conv_in_relu")(layers.BatchNormalization(name="conv_in_bn")(x))
    for i in range(1, cfg.blocks + 1):
        x = layers.DepthwiseConv2D(
            3,
            strides=2 if i == 1 else 1,
            padding="same",
            use_bias=False,
            depthwise_regularizer=reg,
            name=f"block{i}_dw",
        )(x)
        x = layers.ReLU(name=f"block{i}_dw_relu")(layers.BatchNormalization(name=f"block{i}_dw_bn")(x))
        x = layers.Conv2D(cfg.filters, 1, use_bias=False, kernel_regularizer=reg, name=f"block{i}_pw")(x)
        x = layers.ReLU(name=f"block{i}_pw_relu")(layers.BatchNormalization(name=f"block{i}_pw_bn")(x))
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if cfg.embedding_head:
        x = layers.Concatenate(name="joined")([x, _embedding_branch(inputs, cfg, reg)])
    x = layers.Dropout(cfg.dropout, name="dropout")(x)
    outputs = layers.Dense(len(data.labels(cfg)), activation="softmax", dtype="float32", name="probs")(x)
    model = keras.Model(inputs, outputs, name="ds_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
