"""Shared training: one path for every app, from Config to a published artifact folder.

``python -m apps.train APP [--set key=value ...]`` works as well as
``glasswing train APP``.

A run works in ``models/.partial/<app>-<config hash>/`` (backup for resuming,
best checkpoint, history) and only at the very end renames a complete artifact
folder into ``models/<app>/``. Killing a run leaves the previous model intact;
running the same command again resumes from the last finished epoch.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps import artifacts, calibration, distribute
from apps.app import App, config_hash, config_to_dict, validate_config
from apps.baselines import train_baselines
from apps.errors import GlasswingError
from apps.evaluate import evaluate
from apps.sysinfo import device_name


def gpus_present() -> list:
    """The visible GPU devices."""
    return tf.config.list_physical_devices("GPU")


def choose_strategy(cfg) -> tf.distribute.Strategy:
    """TensorFlow's default strategy on one device, ``MirroredStrategy`` over several GPUs.

    One device gets no distribution strategy at all (TensorFlow places the ops on the
    first GPU by itself). ``OneDeviceStrategy`` was used before, and it could silently
    truncate the validation split: a distributed dataset is read through a
    ``MultiDeviceIterator``, and Keras opens one just to peek at a batch before each
    ``fit``/``evaluate`` and drops it at once. When that cancellation raced the
    iterator's background prefetch, the in-memory ``cache()`` below it was finalised
    with the few batches read so far, and every later epoch validated only those
    (seen as 2-4 of 13 batches in about 1 run in 10 under CPU load; the issue's
    ``val_accuracy`` in multiples of 1/145). :class:`SplitCoverage` guards the
    strategies that must still distribute.

    ``multiworker`` builds ``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``
    (see :mod:`apps.distribute`); call this before any other TensorFlow op.
    """
    if cfg.strategy == "multiworker":
        return distribute.multiworker_strategy()[0]
    gpus = gpus_present()
    if cfg.strategy == "mirrored" or (cfg.strategy == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def strategy_name(strategy: tf.distribute.Strategy) -> str:
    """How the log names a strategy: its class, or "one device" for the default one."""
    name = type(strategy).__name__
    return "one device" if name == "_DefaultDistributionStrategy" else name


def switch_on(value: str) -> bool:
    """Resolves an ``auto|on|off`` switch: ``auto`` means "only with a GPU"."""
    return value == "on" or (value == "auto" and bool(gpus_present()))


def cosine_schedule(cfg):
    """Per-epoch learning rate: linear warm-up, then cosine decay towards zero.

    Epoch-based (not step-based) so BackupAndRestore resumes it exactly: the
    rate is a pure function of the epoch index.
    """
    warmup = max(0, round(cfg.warmup_fraction * cfg.epochs))

    def rate(epoch: int, _lr=None) -> float:
        if epoch < warmup:
            return cfg.learning_rate * (epoch + 1) / (warmup + 1)
        progress = (epoch - warmup) / max(1, cfg.epochs - warmup)
        return cfg.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))

    return rate


def _best_val_loss(history_csv: Path) -> float | None:
    """The lowest ``val_loss`` logged by an interrupted run, to keep "best" honest."""
    rows = _read_history(history_csv)
    losses = [float(r["val_loss"]) for r in rows if r.get("val_loss") not in (None, "")]
    return min(losses) if losses else None


def _read_history(history_csv: Path) -> list[dict]:
    """History rows, one per epoch; a resumed run's repeated epoch keeps its last row."""
    if not history_csv.is_file():
        return []
    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    by_epoch = {int(r["epoch"]): r for r in rows if r.get("epoch", "").isdigit()}
    return [by_epoch[e] for e in sorted(by_epoch)]


def _write_history(rows: list[dict], path: Path) -> None:
    if not rows:
        artifacts.write_text_atomic(path, "epoch\n")
        return
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    artifacts.write_text_atomic(path, buf.getvalue())


def disk_needed(model) -> int:
    """Bytes a run's files may need at once: a backup with optimizer state, a best and a final model."""
    return 4 * 4 * model.count_params() * 3 + 16 * 2**20


class _DiskGuard(keras.callbacks.Callback):
    """Stops with a clear message before an epoch's files would fill the disk (see ``require_free_space``)."""

    def __init__(self, work: Path):
        super().__init__()
        self.work = work

    def on_epoch_end(self, epoch, logs=None):
        artifacts.require_free_space(self.work, disk_needed(self.model), "saving this epoch")


class SplitCoverage(keras.callbacks.Callback):
    """Stops training when an epoch or a validation pass covered fewer batches than its split holds.

    Early stopping and the best checkpoint are chosen on ``val_loss``; a pass over part
    of a split would train or choose on part of the data without a word (see
    :func:`choose_strategy`). The counts are the datasets' batch counts; ``None``
    where one is unknown (nothing is checked for it then).
    """

    def __init__(self, train: int | None, validation: int | None):
        super().__init__()
        self.expected = {"training": train, "validation": validation}
        self.seen = {"training": 0, "validation": 0}

    def on_epoch_begin(self, epoch, logs=None):
        self.seen["training"] = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen["training"] += 1

    def on_test_begin(self, logs=None):
        self.seen["validation"] = 0

    def on_test_batch_end(self, batch, logs=None):
        self.seen["validation"] += 1

    def on_test_end(self, logs=None):
        self._check("validation")

    def on_epoch_end(self, epoch, logs=None):
        if not self.model.stop_training:  # stopped on purpose mid-epoch (TerminateOnNaN): not a short split
            self._check("training")

    def _check(self, split: str) -> None:
        expected, seen = self.expected[split], self.seen[split]
        if expected is not None and seen < expected:
            raise GlasswingError(
                f"This {split} pass covered only {seen} of the split's {expected} batches, so the "
                "model would be trained or chosen on part of it; nothing was published. Run the "
                "command again (it resumes from the last whole epoch)."
            )


class _ResumeNotice(keras.callbacks.Callback):
    """Says where training starts, so a resumed run is visible in the log."""

    def on_epoch_begin(self, epoch, logs=None):
        if not getattr(self, "_said", False):
            self._said = True
            if epoch > 0:
                print(f"Resuming interrupted run at epoch {epoch + 1}.", flush=True)


def _callbacks(
    cfg, work: Path, tensorboard: bool, restore_dir: Path | None = None, strategy=None, ema: bool = False
) -> list:
    best = _best_val_loss(work / "history.csv")
    # An optimizer that averages the weights (use_ema): its average is what validation, the
    # best checkpoint and early stopping see. After the backup, which must hold the raw weights
    # (a resumed run goes on training them), before every other callback.
    averaged = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if ema else []
    callbacks = [
        _DiskGuard(work),
        # Next, so an epoch's backup is written before anything else of it.
        # Multi-worker: every worker backs up into its own ``work`` but restores the chief's.
        distribute.SharedBackupAndRestore(
            work / "backup", restore_dir=restore_dir, strategy=strategy, delete_checkpoint=False
        ),
        *averaged,
        _ResumeNotice(),
        keras.callbacks.ModelCheckpoint(
            str(work / "best.keras"),
            monitor="val_loss",
            save_best_only=True,
            initial_value_threshold=best,
        ),
        # Watched only from the schedule's midpoint: under a cosine schedule validation loss can
        # stall for several epochs at a high rate and the gains come as it decays (a speech run
        # stopped at epoch 10 of 20 with test accuracy 0.78; the same seed ran on to 0.87).
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=cfg.patience, start_from_epoch=cfg.epochs // 2
        ),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.LearningRateScheduler(cosine_schedule(cfg)),
        keras.callbacks.CSVLogger(str(work / "history.csv"), append=True),
    ]
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(str(work / "tensorboard")))
    if strategy is not None:  # multi-worker: same BatchNorm statistics everywhere, before the backup
        callbacks.insert(0, distribute.SyncNonTrainable(strategy))
    return callbacks


def model_card(app: App, cfg, metrics: dict, model) -> str:
    """``MODEL_CARD.md`` of a trained model, from its ``metrics.json`` contents."""
    headline = ", ".join(
        f"{k} {metrics[k]:.4f}"
        for k in ("accuracy", "macro_f1", "macro_precision", "macro_recall")
        if isinstance(metrics.get(k), float)
    )
    if not headline and app.generative is not None:
        # Generators: their top-level numbers (nested tables stay in metrics.json).
        headline = ", ".join(
            f"{k} {v:.4g}" for k, v in metrics.items() if isinstance(v, float) and k != "wall_time_s"
        )
    calibrated = _calibration_line(metrics.get("calibration"))
    note = validation_note(metrics.get("validated_with"))
    validated = f"- **Validation:** {note}\n" if note else ""
    return f"""# Model card: {app.name}

{app.description}

- **Task:** {app.task} ({app.modality}); labels: {", ".join(app.labels(cfg)) or "none"}
- **Architecture:** `{model.name}`, {model.count_params():,} parameters
- **Test metrics:** {headline or metrics}
- **Data:** split sizes {metrics.get("split_sizes")}; seed {cfg.seed}
- **Training:** {metrics.get("epochs_run")} epochs in {metrics.get("wall_time_s", 0):.0f} s on
  {metrics.get("device")}; command `{metrics.get("command")}`
{calibrated}{validated}- **Files:** `model.keras` (Keras 3, load with `safe_mode=True`), `config.json`,
  `labels.txt`, `metrics.json`, `history.csv`; TF Lite files under `tflite/` after
  `glasswing export {app.name} --quant all` (see `export.json`).

Limitations: trained only on the data above; inputs must look like it (see
`preprocess` in `{app.preprocess.__module__.replace(".", "/")}.py`). Metrics are from the held-out test split.
{_comparison_card(metrics, model)}{_generative_card(app, cfg, metrics)}"""


def validation_note(validated_with: dict | None) -> str:
    """One sentence on a model fit and validated with other settings than the published one's; "" if not.

    ``validated_with``: ``metrics.json``'s record of those settings (see ``App.validation_config``).
    """
    if not validated_with:
        return ""
    settings = ", ".join(f"`{k}={v}`" for k, v in validated_with.items())
    return (
        f"Training fit and validated this model with {settings} (the same weights, a cheaper graph), "
        "so `val_*` in `history.csv` are that model's; the test metrics are this one's."
    )


def _config_changes(cfg, other) -> dict:
    """``{field: other's value}`` for each Config field where ``other`` differs from ``cfg``."""
    return {
        f.name: getattr(other, f.name)
        for f in dataclasses.fields(cfg)
        if getattr(other, f.name) != getattr(cfg, f.name)
    }


def _calibration_line(calibrated: dict | None) -> str:
    """The card's line on a prior refit after training (apps/calibration.py), if there was one."""
    if not calibrated:
        return ""
    before, after = calibrated["validation_accuracy"]
    return (
        f"- **Calibration:** `{calibrated['class']}` logit offset {calibrated['logit_offset']:+.2f}, "
        f"refit on the validation split (accuracy {before:.4f} -> {after:.4f})\n"
    )


def _comparison_card(metrics: dict, model) -> str:
    """The card's tables of baselines (same split) and other domains (``evaluate --record``)."""
    text = ""
    if metrics.get("baselines"):
        rows = [f"| this model (`{model.name}`) | {metrics['accuracy']:.4f} | {model.count_params():,} |"]
        rows += [
            f"| {name} (`{row['architecture']}`) | {row['accuracy']:.4f} | {row['parameters']:,} |"
            for name, row in metrics["baselines"].items()
        ]
        text += (
            "\n## Baselines (same split, trained beside this model)\n\n"
            "| model | test accuracy | parameters |\n|---|---|---|\n" + "\n".join(rows) + "\n"
        )
    if metrics.get("domains"):
        rows = [
            f"| {name} | {row['n_examples']} | {row['accuracy']:.4f} | {row['macro_f1']:.4f} "
            f"| {_per_group(row.get('groups', {}))} |"
            for name, row in metrics["domains"].items()
        ]
        text += (
            "\n## Beyond the test split (`glasswing evaluate --data ... --record NAME`)\n\n"
            "| data | examples | accuracy | macro F1 | per group (sub-folder or `group` column) |\n"
            "|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
        )
    return text


def _per_group(groups: dict) -> str:
    """``"name 0.50 (8), ..."`` for a domain's groups; empty when the data has only one."""
    if len(groups) < 2:
        return ""
    return ", ".join(f"{name} {row['accuracy']:.2f} ({row['n']})" for name, row in groups.items())


def _generative_card(app: App, cfg, metrics: dict) -> str:
    """A generator's own explanation of its metrics, as a card section."""
    if app.generative is None or app.generative.card is None:
        return ""
    return "\n" + app.generative.card(cfg, metrics)


def class_weights(app: App, cfg) -> dict | None:
    """``{class: n / (classes x n_class)}`` on the training split when ``cfg.balance_classes``, else None."""
    if not cfg.balance_classes:
        return None
    ds = app.dataset(dataclasses.replace(cfg, augment=False), "train")
    counts = np.bincount(np.concatenate([np.asarray(y) for _, y in ds]), minlength=len(app.labels(cfg)))
    present = counts > 0
    weights = np.where(present, counts.sum() / (present.sum() * np.maximum(counts, 1)), 0.0)
    return {i: float(w) for i, w in enumerate(weights)}


def _count(ds) -> int:
    return int(ds.reduce(np.int64(0), lambda n, batch: n + tf.shape(batch[1], tf.int64)[0]))


def train(
    app: App,
    cfg,
    models_dir="models",
    tensorboard: bool = False,
    command: str | None = None,
    verbose: int | str = "auto",
    *,
    build=None,
    callbacks: list | None = None,
    save=None,
    name: str | None = None,
    keep_best: bool = True,
) -> Path:
    """Trains ``app`` with ``cfg`` and publishes ``<models_dir>/<app>/`` atomically.

    Args:
        app: The app to train.
        cfg: Its Config.
        models_dir: Root of the artifact folders.
        tensorboard: Also write TensorBoard logs (kept in the work folder's
            ``tensorboard/`` and published with the artifacts).
        command: The command line recorded in ``metrics.json``.
        verbose: Keras verbosity; ``"auto"`` = a progress bar on a terminal,
            one line per epoch otherwise.
        build: ``cfg -> compiled keras.Model`` used instead of ``app.build``
            (e.g. a fine-tuning start or a distillation wrapper).
        callbacks: Extra Keras callbacks, after the shared ones.
        save: ``model -> keras.Model``: what is evaluated and saved (e.g. a
            distiller's student); default the trained model itself.
        name: Artifact folder under ``models_dir`` (may contain ``/``);
            default the app's name.
        keep_best: Publish the best-validation checkpoint (default); ``False``
            publishes the last epoch (e.g. pruning, whose earlier epochs are
            less sparse).

    Returns:
        The published artifact folder (with ``strategy=multiworker``, non-chief
        workers return the folder the chief publishes).
    """
    validate_config(cfg)
    calibration.check(app, cfg)
    # First: MultiWorkerMirroredStrategy must exist before any other TensorFlow op.
    worker = distribute.read_tf_config() if cfg.strategy == "multiworker" else None
    strategy = choose_strategy(cfg)
    models_dir = Path(models_dir)
    artifacts.ensure_writable(models_dir)
    out_name = name or app.name
    shared_work, work = _work_folders(models_dir, out_name, cfg, worker)
    keras.utils.set_random_seed(cfg.seed)
    if switch_on(cfg.mixed_precision):
        keras.mixed_precision.set_global_policy("mixed_float16")
    start = time.time()
    # A cheaper graph for fitting and validation (and the data it reads), when the app has one:
    # only for the app's own model (a custom build or a saved part may not share its layers).
    fit_cfg = app.validation_config(cfg) if app.validation_config and not (build or save) else cfg
    try:
        model, fit = _fit(
            app, fit_cfg, strategy, work, verbose, build=build, extra=callbacks,
            tensorboard=tensorboard, worker=worker, restore_dir=shared_work / "backup" if worker else None,
        )  # fmt: skip
    except BaseException:
        _drop_if_empty(work, shared_work, shared_work.parent)
        raise
    _refuse_diverged(fit.history.get("loss", []), work)
    if worker:
        model = _finish_worker(model, worker, work)
        if model is None:  # not the chief: the chief publishes
            final = artifacts.app_dir(models_dir, out_name)
            print(f"Worker {worker.name} done; the chief publishes {final}.", flush=True)
            return final
    if keep_best and (work / "best.keras").is_file():
        model = artifacts.load_model(work / "best.keras")
    if save is not None:
        model = save(model)
    if fit_cfg != cfg:
        model = with_weights_of(app, cfg, model)
    calibrated = calibration.calibrate(app, cfg, model)
    history = _read_history(work / "history.csv")
    wall = time.time() - start
    epochs_run = len(history) or len(fit.epoch)
    metrics = run_metrics(app, cfg, model, epochs_run=epochs_run, wall=wall, command=command)
    if calibrated:
        metrics["calibration"] = calibrated
    if fit_cfg != cfg:
        metrics["validated_with"] = _config_changes(cfg, fit_cfg)
    final = artifacts.app_dir(models_dir, out_name)
    _publish(app, cfg, model, metrics, history, work, final, tensorboard)
    headline = metrics.get("accuracy")
    print(
        f"Saved {final} in {wall:.0f} s"
        + (f": test accuracy {headline:.4f}" if headline is not None else ""),
        flush=True,
    )
    return final


def with_weights_of(app: App, cfg, model) -> keras.Model:
    """``app.build(cfg)`` holding ``model``'s weights, layer by layer (matched by name).

    For a Config that changes only weight-free layers, e.g. how many test-time views
    the image CNN averages (``tta_shift``, ``flip_tta``), or one whose fitted graph is
    the trainable part alone: a frozen layer ``model`` lacks keeps the weights
    ``app.build`` gave it (e.g. a pretrained encoder under a trained head).

    Raises:
        ValueError: A layer with trainable weights is missing from ``model``.
    """
    built = app.build(cfg)
    fitted = {layer.name for layer in model.layers}
    for layer in built.layers:
        if layer.name in fitted:
            layer.set_weights(model.get_layer(layer.name).get_weights())
        elif layer.trainable_weights:
            raise ValueError(f"The fitted model has no layer {layer.name!r} to take trainable weights from.")
    return built


def _work_folders(models_dir: Path, out_name: str, cfg, worker) -> tuple[Path, Path]:
    """``(shared, own)`` work folders of this run: keyed by the Config, so a rerun resumes.

    Only the chief writes the shared one; other workers keep their own below it.
    """
    shared = models_dir / artifacts.PARTIAL_DIR / f"{out_name.replace('/', '-')}-{config_hash(cfg)}"
    work = distribute.worker_dir(shared, worker) if worker else shared
    work.mkdir(parents=True, exist_ok=True)
    return shared, work


def _drop_if_empty(*folders: Path) -> None:
    """Removes each of ``folders`` (innermost first) that holds nothing.

    A run that fails before it writes anything (a Config the model's build refuses) has
    nothing to resume, so it should not leave an empty work folder behind.
    """
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _fit(app, cfg, strategy, work: Path, verbose, *, build, extra, tensorboard, worker, restore_dir):
    """Builds the model under ``strategy`` and fits it with the shared callbacks: ``(model, history)``."""
    train_ds, val_ds = app.dataset(cfg, "train"), app.dataset(cfg, "validation")
    if worker:  # each worker keeps its share of every global batch of cfg.batch_size
        train_ds, val_ds = distribute.shard_by_data(train_ds), distribute.shard_by_data(val_ds)
    with strategy.scope():
        model = (build or app.build)(cfg)
        if switch_on(cfg.jit_compile):
            model.jit_compile = True
    artifacts.require_free_space(work, disk_needed(model), "training")
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    print(
        f"Training {app.name}: {model.count_params():,} parameters, up to {cfg.epochs} epochs, "
        f"strategy {strategy_name(strategy)} ({strategy.num_replicas_in_sync} replicas), work folder {work}",
        flush=True,
    )
    shared = _callbacks(
        cfg,
        work,
        tensorboard,
        restore_dir=restore_dir,
        strategy=strategy if worker else None,
        ema=bool(getattr(model.optimizer, "use_ema", False)),
    )
    steps = _known_cardinality(train_ds)
    train_input, steps_per_epoch = _one_iterator(train_ds, steps)
    fit = model.fit(
        train_input,
        steps_per_epoch=steps_per_epoch,
        validation_data=val_ds,
        epochs=cfg.epochs,
        class_weight=class_weights(app, cfg),
        shuffle=False,  # the tf.data pipeline shuffles the training split itself
        callbacks=shared + [SplitCoverage(steps, _known_cardinality(val_ds))] + list(extra or []),
        verbose=verbose,
    )
    return model, fit


def _one_iterator(train_ds: tf.data.Dataset, steps: int | None) -> tuple:
    """``(dataset, steps_per_epoch)`` for ``fit``: the training split repeated, when its length is known.

    Keras otherwise makes a new Python iterator over the split at every epoch end, and with a
    validation pass between the two, about half the epochs then waited 9-19 s for their first
    batch (the image CNN: an epoch is ~20 s of steps; bench/results.md, "Training epochs: where the
    seconds go").
    One iterator over the repeated split has no such wait; each pass is still a fresh shuffle.
    """
    if not steps:
        return train_ds, None
    return train_ds.repeat(), steps


def _known_cardinality(ds: tf.data.Dataset) -> int | None:
    """A dataset's element count when TensorFlow knows it, else ``None``."""
    n = int(ds.cardinality())
    return n if n >= 0 else None


def _finish_worker(model, worker, work: Path):
    """A multi-worker run's end: the chief's model as a plain one; ``None`` on other workers."""
    _save_worker_weights(model, worker)
    # Every worker saves (saving may run collective ops); the chief reloads its copy as a
    # plain model, because evaluating the distributed one would wait on the other workers.
    model.save(work / "last.keras")
    if not worker.is_chief:
        shutil.rmtree(work, ignore_errors=True)
        return None
    return artifacts.load_model(work / "last.keras")


def run_metrics(app: App, cfg, model, *, epochs_run: int, wall: float, command: str | None) -> dict:
    """``metrics.json`` of a trained model: test metrics, split sizes, where and how it ran, baselines."""
    print(f"Evaluating {app.name} on the test split ...", flush=True)
    metrics = evaluate(app, model, cfg, "test")
    metrics.update(
        split_sizes={
            # Counted without augmentation: same examples, no wasted augment work.
            "train": _count(app.dataset(dataclasses.replace(cfg, augment=False), "train")),
            # A fresh pipeline: the one fit() iterated may hold a partly filled cache.
            "validation": _count(app.dataset(cfg, "validation")),
            "test": metrics["n_examples"] if "n_examples" in metrics else _count(app.dataset(cfg, "test")),
        },
        seed=cfg.seed,
        epochs_run=epochs_run,
        wall_time_s=round(wall, 1),
        device=device_name(),
        command=command or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        keras_version=keras.__version__,
        tensorflow_version=tf.__version__,
    )
    baselines = train_baselines(app, cfg)
    if baselines:
        metrics["baselines"] = baselines
    return metrics


def _publish(
    app: App, cfg, model, metrics: dict, history, work: Path, final: Path, tensorboard: bool
) -> None:
    """Writes the artifact folder in ``work`` and publishes it as ``final`` by one rename."""
    staged = work / "artifact"
    shutil.rmtree(staged, ignore_errors=True)
    artifacts.require_free_space(work, disk_needed(model), "publishing the model")
    try:
        _stage(app, cfg, model, metrics, history, work, staged, tensorboard)
    except OSError:
        shutil.rmtree(staged, ignore_errors=True)  # e.g. a full disk: free what was written
        raise
    final.parent.mkdir(parents=True, exist_ok=True)  # a nested name, e.g. "image/optimized/x"
    artifacts.publish_dir(staged, final)
    shutil.rmtree(work, ignore_errors=True)


def _stage(app: App, cfg, model, metrics: dict, history, work: Path, staged: Path, tensorboard: bool) -> None:
    """Writes every artifact file of the run into ``staged``."""
    staged.mkdir()
    artifacts.save_model(model, staged / artifacts.MODEL_FILE)
    artifacts.write_json_atomic(staged / artifacts.CONFIG_FILE, config_to_dict(cfg))
    artifacts.write_text_atomic(staged / artifacts.LABELS_FILE, "\n".join(app.labels(cfg)) + "\n")
    for file_name, text in (app.artifact_files(cfg) if app.artifact_files else {}).items():
        artifacts.write_text_atomic(staged / file_name, text)
    artifacts.write_json_atomic(staged / artifacts.METRICS_FILE, metrics)
    _write_history(history, staged / artifacts.HISTORY_FILE)
    artifacts.write_text_atomic(staged / artifacts.CARD_FILE, model_card(app, cfg, metrics, model))
    if tensorboard and (work / "tensorboard").exists():
        shutil.move(work / "tensorboard", staged / "tensorboard")


def _refuse_diverged(losses: list, work: Path) -> None:
    """Stops before anything is published when the training loss became NaN or infinite.

    Raises:
        GlasswingError: Says at which epoch, and what usually helps.
    """
    bad = next((i for i, loss in enumerate(losses) if not math.isfinite(float(loss))), None)
    if bad is not None:
        shutil.rmtree(work, ignore_errors=True)  # a diverged run must not be resumed either
        raise GlasswingError(
            f"Training diverged: the loss became {float(losses[bad])} in epoch {bad + 1}; nothing was "
            "published. Lower learning_rate (--set learning_rate=...) or check the data."
        )


def _save_worker_weights(model, worker) -> None:
    """Saves this worker's final weights when ``GLASSWING_WORKER_WEIGHTS_DIR`` asks (tests compare them)."""
    folder = os.environ.get("GLASSWING_WORKER_WEIGHTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        model.save_weights(Path(folder) / f"{worker.name}.weights.h5")


if __name__ == "__main__":
    from apps.cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
