"""A compact VGG-style CNN for 28x28 grayscale images."""

from pathlib import Path

import keras

from apps.errors import GlasswingError
from apps.image.data import labels
from apps.layers import FusedBatchNormalization, MeanOfViews, MirrorViews
from apps.losses import SmoothedSparseCrossentropy

# keras.applications backbones a user's photos can start from (`--from NAME`), with
# the Config settings each needs: colour input, side 96 (small enough for 2 CPU cores).
BACKBONES = {"mobilenet_v3_small": "MobileNetV3Small", "mobilenet_v3_large": "MobileNetV3Large"}
BACKBONE_PRESET = {"channels": 3, "side": 96, "invert": False, "learning_rate": 1e-3}


def _conv_bn_relu(x, filters: int, reg, name: str):
    # No conv bias: BatchNorm's beta does that job, and BN folds into the conv on export.
    x = keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, kernel_regularizer=reg, name=f"{name}_conv"
    )(x)
    x = FusedBatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _backbone(cfg) -> keras.Model:
    """The keras.applications backbone of ``cfg.arch`` with its weights, without its top.

    Raises:
        GlasswingError: ImageNet weights cannot be downloaded (offline), or the weights
            file is missing or does not fit.
    """
    weights = {"imagenet": "imagenet", "none": None}.get(cfg.backbone_weights, cfg.backbone_weights)
    if weights not in ("imagenet", None) and not Path(weights).is_file():
        raise GlasswingError(f"backbone_weights={weights!r}: no such file.")
    try:
        return getattr(keras.applications, BACKBONES[cfg.arch])(
            input_shape=(cfg.side, cfg.side, 3), include_top=False, weights=weights, pooling="avg",
            include_preprocessing=False,
        )  # fmt: skip
    except Exception as err:  # noqa: BLE001 - a failed download raises many types
        if weights == "imagenet":
            raise GlasswingError(
                f"Cannot get the ImageNet weights of {cfg.arch} ({type(err).__name__}): they are downloaded "
                "once into ~/.keras/models and this machine seems offline. Copy the file there, or pass "
                "--set backbone_weights=PATH (a weights file) or backbone_weights=none (random)."
            ) from None
        raise GlasswingError(
            f"backbone_weights={weights!r} does not fit {cfg.arch}: {str(err)[:200]}"
        ) from None


def _pretrained(cfg, inputs) -> keras.KerasTensor:
    # Our pixels are in [0, 1]; MobileNetV3 was trained on [-1, 1].
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="to_pm1")(inputs)
    x = _backbone(cfg)(x)
    return keras.layers.Dropout(cfg.dense_dropout, name="fc_drop")(x)


def build(cfg) -> keras.Model:
    """Conv-BN-ReLU blocks with pooling and dropout, L2 weight decay; compiled.

    Args:
        cfg: ``apps.image.config.Config``.

    Returns:
        A compiled model mapping float32 ``(side, side, channels)`` images to class probabilities.
    """
    reg = keras.regularizers.L2(cfg.weight_decay) if cfg.weight_decay else None
    inputs = keras.Input((cfg.side, cfg.side, cfg.channels), name="image")
    if cfg.arch != "cnn":
        return _compile(keras.Model(inputs, _head(cfg, _pretrained(cfg, inputs)), name=cfg.arch), cfg)
    # Mirror images are the same class (cfg.flip): predict from both views, and from both
    # moved cfg.tta_shift pixels up, down, left and right, and average.
    tta = cfg.flip and cfg.flip_tta
    step = cfg.tta_shift
    shifts = ((0, step), (0, -step), (step, 0), (-step, 0)) if step else ()
    views = MirrorViews(shifts, name="mirror_views")
    x = views(inputs) if tta else inputs
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
    if tta:
        x = MeanOfViews(views.views, name="mean_of_views")(x)
    return _compile(keras.Model(inputs, _head(cfg, x), name="fashion_cnn"), cfg)


def _head(cfg, x) -> keras.KerasTensor:
    # float32 output keeps softmax stable under mixed precision.
    return keras.layers.Dense(len(labels(cfg)), activation="softmax", dtype="float32", name="probs")(x)


def _compile(model: keras.Model, cfg) -> keras.Model:
    model.compile(
        # Polyak averaging (cfg.ema): training evaluates, checkpoints and publishes the
        # averaged weights (apps/train.py swaps them in), which are steadier than the last step's.
        optimizer=keras.optimizers.Adam(cfg.learning_rate, use_ema=cfg.ema > 0, ema_momentum=cfg.ema or 0.99),
        loss=SmoothedSparseCrossentropy(cfg.label_smoothing)
        if cfg.label_smoothing
        else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
