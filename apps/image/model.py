"""A compact VGG-style CNN for 28x28 grayscale images."""

import keras

from apps.image.data import labels


def _conv_bn_relu(x, filters: int, reg, name: str):
    # No conv bias: BatchNorm's beta does that job, and BN folds into the conv on export.
    x = keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, kernel_regularizer=reg, name=f"{name}_conv"
    )(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def build(cfg) -> keras.Model:
    """Conv-BN-ReLU blocks with pooling and dropout, L2 weight decay; compiled.

    Args:
        cfg: ``apps.image.config.Config``.

    Returns:
        A compiled model mapping float32 ``(side, side, channels)`` images to class probabilities.
    """
    reg = keras.regularizers.L2(cfg.weight_decay) if cfg.weight_decay else None
    inputs = keras.Input((cfg.side, cfg.side, cfg.channels), name="image")
    x = inputs
    # One conv at full resolution (the costliest place per filter), two at 14x14.
    for block, (filters, convs) in enumerate(((cfg.filters, 1), (cfg.filters * 2, 2)), start=1):
        for i in range(1, convs + 1):
            x = _conv_bn_relu(x, filters, reg, f"block{block}_{i}")
        x = keras.layers.MaxPooling2D(name=f"block{block}_pool")(x)
        if cfg.dropout:
            x = keras.layers.Dropout(cfg.dropout, name=f"block{block}_drop")(x)
    for i in range(1, cfg.block3_convs + 1):
        x = _conv_bn_relu(x, cfg.filters * 4, reg, f"block3_{i}")
    # Pool to 3x3 and flatten: keeps where features are (GAP would lose it) for few weights.
    x = keras.layers.MaxPooling2D(name="block3_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(cfg.dense_units, kernel_regularizer=reg, name="fc")(x)
    x = keras.layers.ReLU(name="fc_relu")(x)
    x = keras.layers.Dropout(cfg.dense_dropout, name="fc_drop")(x)
    # float32 output keeps softmax stable under mixed precision.
    outputs = keras.layers.Dense(len(labels(cfg)), activation="softmax", dtype="float32", name="probs")(x)
    model = keras.Model(inputs, outputs, name="fashion_cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
