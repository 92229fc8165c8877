"""The toy app's model: two convolutions, global average pooling, softmax."""

import keras


def build(cfg) -> keras.Model:
    """A compiled CNN for ``(side, side, 1)`` inputs and two classes."""
    inputs = keras.Input((cfg.side, cfg.side, 1), name="image")
    x = keras.layers.Conv2D(cfg.filters, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = keras.layers.Conv2D(cfg.filters, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(2, activation="softmax", name="probs")(x)
    model = keras.Model(inputs, outputs, name="bars")
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
