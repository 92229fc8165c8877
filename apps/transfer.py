"""Transfer learning: ``glasswing train KIND --data PATH --name NAME --from MODEL``.

The new model has the starting model's architecture (its ``config.json``) with
a new output layer sized for the new classes. Every other layer starts from the
starting model's weights. Training runs in two phases through the shared
:func:`apps.train.train`:

1. the head alone, with the backbone frozen (BatchNorm in inference mode), at the
   configured learning rate, for half the epochs;
2. unless ``freeze`` is 1, fine-tuning with the first ``freeze`` fraction of the
   backbone's layers still frozen, at a tenth of the rate, for the other half.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from apps.errors import GlasswingError

FINE_TUNE_RATE = 0.1
# The repository's committed models: `--from speech` works with any --models-dir.
COMMITTED = Path(__file__).resolve().parents[1] / "models"


def load_source(spec: str, models_dir):
    """``(app, folder, cfg, model)`` of the starting model ``spec``.

    ``spec`` is an app or model name under ``models_dir`` (``speech``, ``parts``)
    or a path to a model folder (``models/parts``).

    Raises:
        GlasswingError: No such model, or it is not a trained classifier.
    """
    from apps import artifacts, get_app

    path = Path(spec)
    if (path / artifacts.MODEL_FILE).is_file() and len(path.parts) > 1:
        models_dir, spec = path.parent, path.name
    app = get_app(spec, models_dir)
    if (
        not (Path(models_dir) / spec / artifacts.MODEL_FILE).is_file()
        and (COMMITTED / spec / artifacts.MODEL_FILE).is_file()
    ):
        models_dir = COMMITTED  # a built-in's committed model, when MODELS_DIR has no copy
    if app.task != "classify":
        raise GlasswingError(f"--from {spec}: a {app.task} model has no classifier backbone to start from.")
    folder = artifacts.require_model_dir(models_dir, app)
    cfg, model = artifacts.load_trained(app, folder)
    return app, folder, cfg, model


def start_config(app, source_app, source_cfg):
    """The new model's Config: the starting model's settings (so its layers fit), without its data."""
    if source_app.own_data is None or source_app.own_data.kind != app.own_data.kind:
        got = source_app.own_data.kind if source_app.own_data else source_app.name
        raise GlasswingError(
            f"--from {source_app.name}: it is a {got} model; "
            f"it cannot start a model of {app.own_data.kind} data."
        )
    values = {**dataclasses.asdict(source_cfg), "data": "", "classes": (), "baselines": True}
    return dataclasses.replace(app.Config(), **{k: v for k, v in values.items() if k in _field_names(app)})


def _field_names(app) -> set[str]:
    return {f.name for f in dataclasses.fields(app.Config)}


def backbone_layers(model) -> list:
    """The layers with weights below the output layer, input side first; a nested model's own layers.

    A nested model the app built frozen (``trainable=False``: speech's pretrained embedding)
    is left out: it stays frozen, and does not count in the fraction that fine-tuning freezes.
    """
    import keras

    layers = []
    for layer in model.layers[:-1]:
        if isinstance(layer, keras.Model):  # a keras.applications backbone: freeze it layer by layer
            # A child set trainable would count in the outer model's trainable weights even
            # under its frozen parent, so a frozen sub-model's layers are never touched.
            layers += _weighted_layers(layer) if layer.trainable else []
        elif layer.weights:
            layers.append(layer)
    return layers


def _weighted_layers(model) -> list:
    """Every layer with weights of a nested model, input side first."""
    return [layer for layer in model.layers if layer.weights]


def set_frozen(model, fraction: float) -> None:
    """Freezes the first ``fraction`` of the backbone's layers (1 = all), then recompiles.

    Keras only applies ``trainable`` changes at compile time, so the model is
    compiled again from its own compile config (a fresh optimizer).
    """
    import keras

    layers = backbone_layers(model)
    frozen = round(fraction * len(layers))
    for i, layer in enumerate(layers):
        layer.trainable = i >= frozen
    model.compile(**keras.saving.deserialize_keras_object(model.get_compile_config()))


def transferred(app, cfg, source) -> object:
    """``app.build(cfg)`` with every layer but the output one copied from ``source`` (by name).

    Raises:
        GlasswingError: A backbone layer of the new model has no match of the
            same shape in ``source`` (not the same architecture).
    """
    model = app.build(cfg)
    weights = {layer.name: layer for layer in source.layers}
    for layer in (layer for layer in model.layers[:-1] if layer.weights):
        match = weights.get(layer.name)
        shapes = [tuple(w.shape) for w in layer.weights]
        if match is None or [tuple(w.shape) for w in match.weights] != shapes:
            raise GlasswingError(
                f"--from: layer {layer.name!r} of the new model has no same-shaped layer in the starting "
                "model; start from a model of the same architecture (do not --set its sizes)."
            )
        layer.set_weights(match.get_weights())
    return model


def train_from(app, cfg, source, freeze: float, models_dir, name: str, command: str | None = None) -> Path:
    """Trains ``name`` from the ``source`` model's backbone: head first, then fine-tuning.

    Args:
        app: The app (its ``build`` makes the architecture ``cfg`` describes).
        cfg: The new model's Config (from :func:`start_config`, with its data set).
        source: The starting Keras model.
        freeze: Fraction of backbone layers kept frozen while fine-tuning (0..1);
            1 trains the head only.
        models_dir: Artifact root.
        name: The new model's name (its folder).
        command: The command line for ``metrics.json``.

    Returns:
        The published artifact folder.
    """
    from apps import artifacts
    from apps.train import train

    if not 0.0 <= freeze <= 1.0:
        raise GlasswingError(f"--freeze must be between 0 and 1, got {freeze}.")
    head_epochs = cfg.epochs if freeze >= 1.0 else max(1, cfg.epochs // 2)

    def head_only(c):
        model = transferred(app, c, source)
        set_frozen(model, 1.0)
        return model

    last = with_scratch_baseline(app, dataclasses.replace(cfg, baselines=False, **app.own_data.scratch))
    print(
        f"Phase 1: training a new head for {len(app.labels(cfg))} classes on the frozen backbone ...",
        flush=True,
    )
    if freeze >= 1.0:
        return train(last, cfg, models_dir, command=command, build=head_only, name=name)
    head_cfg = dataclasses.replace(cfg, epochs=head_epochs, baselines=False)
    folder = train(app, head_cfg, models_dir, command=command, build=head_only, name=name)
    tuned_cfg = dataclasses.replace(
        cfg, epochs=max(1, cfg.epochs - head_epochs), learning_rate=cfg.learning_rate * FINE_TUNE_RATE
    )

    def fine_tune(c):
        model = artifacts.load_model(folder / artifacts.MODEL_FILE)
        set_frozen(model, freeze)
        return model

    print(
        f"Phase 2: fine-tuning with {freeze:.0%} of the backbone frozen at a tenth of the rate ...",
        flush=True,
    )
    return train(last, tuned_cfg, models_dir, command=command, build=fine_tune, name=name)


def with_scratch_baseline(app, scratch_cfg):
    """``app`` whose baselines also train ``scratch_cfg`` (the same model without ``--from``).

    So every transfer run measures, on the same data and split, what starting
    from the other model's weights was worth (``metrics.json["baselines"]``).
    """
    own = app.baselines

    def baselines(cfg) -> dict:
        return {**(own(cfg) if own else {}), "same architecture without --from": scratch_cfg}

    return dataclasses.replace(app, baselines=baselines)
