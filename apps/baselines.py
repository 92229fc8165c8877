"""Baselines trained beside every run: does the model earn its cost over the simple one?

An app lists its baselines (``App.baselines``: ``cfg -> {name: Config}``); training
fits each on the same split, with the same shared schedule and early stopping,
and records its test metrics next to the model's own.
"""

from __future__ import annotations

import time

import keras

from apps.evaluate import evaluate


def fit_baseline(app, cfg):
    """Fits one baseline Config in memory (nothing published): the best-validation weights."""
    from apps.train import class_weights, cosine_schedule  # train imports this module

    keras.utils.set_random_seed(cfg.seed)
    model = app.build(cfg)
    model.fit(
        app.dataset(cfg, "train"),
        validation_data=app.dataset(cfg, "validation"),
        epochs=cfg.epochs,
        class_weight=class_weights(app, cfg),
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=cfg.patience, restore_best_weights=True
            ),
            keras.callbacks.LearningRateScheduler(cosine_schedule(cfg)),
        ],
        verbose=0,
    )
    return model


def train_baseline(app, cfg) -> dict:
    """Fits one baseline Config in memory and returns its test summary."""
    start = time.time()
    model = fit_baseline(app, cfg)
    metrics = evaluate(app, model, cfg, "test")
    return {
        "accuracy": metrics["accuracy"],
        "macro_f1": metrics["macro_f1"],
        "parameters": int(model.count_params()),
        "train_s": round(time.time() - start, 1),
        "architecture": model.name,
    }


def train_baselines(app, cfg) -> dict:
    """``{name: summary}`` of every baseline the app lists for ``cfg`` (empty when off or none)."""
    if not cfg.baselines or app.baselines is None:
        return {}
    results = {}
    for name, baseline_cfg in app.baselines(cfg).items():
        print(f"Training baseline {name!r} on the same split ...", flush=True)
        results[name] = train_baseline(app, baseline_cfg)
        print(f"Baseline {name!r}: test accuracy {results[name]['accuracy']:.4f}", flush=True)
    return results
