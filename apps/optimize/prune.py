"""Magnitude pruning for Keras 3: a polynomial-decay schedule, weight masks and a callback.

``tensorflow-model-optimization`` does not work with Keras 3 (its
``prune_low_magnitude`` rejects Keras 3 models, and importing it switches the
process to legacy Keras), so this is the same algorithm (Zhu & Gupta 2017,
"To prune, or not to prune"), written with ``keras.ops`` so it is backend
neutral and leaves a plain model: no wrapper layers, nothing to strip.

What is pruned (:func:`prunable_weights`): every trainable weight named
``kernel``, ``recurrent_kernel``, ``depthwise_kernel``, ``pointwise_kernel`` or
``embeddings`` with at least 2 dimensions and ``MIN_SIZE`` entries, i.e. the kernels of Dense,
EinsumDense (so MultiHeadAttention), Conv1D/2D/3D (and transposed),
DepthwiseConv, SeparableConv, LSTM/GRU cells and Embedding tables. Biases,
normalization scales/offsets, position embeddings and other small vectors are
left dense: they are a tiny share of the weights and pruning them costs
accuracy for nothing. So are kernels under ``MIN_SIZE`` entries, for the same
reason: measured on speech's DS-CNN, pruning its 640-weight first conv and its
576-weight depthwise kernels to 80 % collapsed the model to 36 % test accuracy
(tfmot's guide also advises leaving the first layer and small layers dense).
Each weight is pruned to the scheduled sparsity on its own (layer-wise
magnitude, like tfmot's default).

How: at each scheduled step the smallest-magnitude fraction of each weight is
masked to zero; after every training batch the masks are multiplied in again,
so the optimizer cannot revive a pruned weight. The schedule's step is the
optimizer's ``iterations`` counter, so a run resumed by ``BackupAndRestore``
continues the schedule where it stopped.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from apps import artifacts, conversion, litert
from apps.errors import GlasswingError
from apps.litert import interleaved_latency
from apps.optimize import OPTIMIZED_DIR, common, require_classifier

PRUNABLE_NAMES = ("kernel", "recurrent_kernel", "depthwise_kernel", "pointwise_kernel", "embeddings")
# Kernels with fewer entries stay dense (see the module docstring).
MIN_SIZE = 1024
MIN_SPARSITY, MAX_SPARSITY = 0.5, 0.9
# The ramp from 0 to the target takes this share of the fine-tuning steps; the rest
# trains at the target sparsity so the network recovers from the last pruning step.
RAMP_FRACTION = 0.7
# Masks are recomputed this many times along the ramp (tfmot's `frequency`).
MASK_UPDATES = 20
DEFAULT_EPOCHS = 2
QUANTS = ("float32", "int8")


@dataclasses.dataclass(frozen=True)
class PolynomialDecay:
    """Sparsity rising from ``initial`` to ``target`` between two steps (tfmot's schedule).

    ``s(t) = target + (initial - target) * (1 - p) ** power`` with
    ``p = (t - begin_step) / (end_step - begin_step)`` clipped to [0, 1]: fast
    pruning while the network has redundant weights, slow near the target.
    Masks are updated at ``begin_step``, every ``frequency`` steps after it and at
    ``end_step``; never after it.
    """

    target: float
    begin_step: int
    end_step: int
    initial: float = 0.0
    power: float = 3.0
    frequency: int = 100

    def __post_init__(self):
        if not 0.0 <= self.initial <= self.target < 1.0:
            raise GlasswingError(
                f"Sparsities must satisfy 0 <= initial ({self.initial}) <= target ({self.target}) < 1."
            )
        if self.begin_step < 0 or self.end_step < self.begin_step or self.frequency < 1:
            raise GlasswingError(
                f"Need 0 <= begin_step <= end_step and frequency >= 1, got {self.begin_step}, "
                f"{self.end_step}, {self.frequency}."
            )

    def sparsity(self, step: int) -> float:
        """The scheduled sparsity at ``step``."""
        span = max(1, self.end_step - self.begin_step)
        progress = min(1.0, max(0.0, (step - self.begin_step) / span))
        return self.target + (self.initial - self.target) * (1.0 - progress) ** self.power

    def updates_at(self, step: int) -> bool:
        """Whether the masks are recomputed at ``step``."""
        if step < self.begin_step or step > self.end_step:
            return False
        return step == self.end_step or (step - self.begin_step) % self.frequency == 0


def prunable_weights(model) -> list:
    """The weights :mod:`apps.optimize.prune` prunes (see the module docstring)."""
    return [
        w
        for w in model.trainable_weights
        if w.name in PRUNABLE_NAMES and len(w.shape) >= 2 and int(np.prod(w.shape)) >= MIN_SIZE
    ]


def magnitude_mask(weight, sparsity: float):
    """A 0/1 mask zeroing exactly ``round(sparsity * size)`` smallest-magnitude entries.

    Ranks by ``argsort`` rather than a threshold, so ties (e.g. many exact
    zeros) cannot prune more or fewer weights than asked. Already-zero weights
    rank first, so a rising schedule keeps everything it pruned before.
    """
    ops = keras.ops
    size = int(np.prod(weight.shape))
    k = int(round(sparsity * size))
    ones = ops.ones((size,), dtype=weight.dtype)
    if k <= 0:
        return ops.reshape(ones, weight.shape)
    order = ops.argsort(ops.abs(ops.reshape(weight, (-1,))))
    smallest = ops.expand_dims(order[:k], -1)
    mask = ops.scatter_update(ones, smallest, ops.zeros((k,), dtype=weight.dtype))
    return ops.reshape(mask, weight.shape)


class MagnitudePruning(keras.callbacks.Callback):
    """Prunes a model's kernels during ``fit`` by :class:`PolynomialDecay`.

    Masks are recomputed before the scheduled batches and multiplied into the
    weights after every batch, so pruned weights are exactly zero in every
    forward pass and in the saved model.
    """

    def __init__(self, schedule: PolynomialDecay):
        super().__init__()
        self.schedule = schedule
        self._weights: list = []
        self._masks: list = []

    def _step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def _update_masks(self, sparsity: float) -> None:
        self._masks = [magnitude_mask(w, sparsity) for w in self._weights]
        self._apply_masks()

    def _apply_masks(self) -> None:
        for weight, mask in zip(self._weights, self._masks):
            weight.assign(weight * mask)

    def on_train_begin(self, logs=None):
        self._weights = prunable_weights(self.model)
        if not self._weights:
            raise GlasswingError(f"Model {self.model.name!r} has no prunable weights ({PRUNABLE_NAMES}).")
        step = self._step()
        self._masks = []
        if step > self.schedule.begin_step:  # resumed run: rebuild the masks it had
            self._update_masks(self.schedule.sparsity(min(step, self.schedule.end_step)))

    def on_train_batch_begin(self, batch, logs=None):
        step = self._step()
        if self.schedule.updates_at(step):
            self._update_masks(self.schedule.sparsity(step))

    def on_train_batch_end(self, batch, logs=None):
        if self._masks:
            self._apply_masks()


def sparsity_of(model) -> dict:
    """Measured zeros: per prunable weight (by Keras path), over them all, and over all weights."""
    per_weight, zeros, total = {}, 0, 0
    for w in prunable_weights(model):
        values = keras.ops.convert_to_numpy(w)
        per_weight[w.path] = float(np.mean(values == 0))
        zeros, total = zeros + int(np.sum(values == 0)), total + values.size
    all_values = [keras.ops.convert_to_numpy(w) for w in model.weights]
    all_zeros = sum(int(np.sum(v == 0)) for v in all_values)
    return {
        "prunable": zeros / max(1, total),
        "all_weights": all_zeros / max(1, sum(v.size for v in all_values)),
        "prunable_params": total,
        "per_weight": per_weight,
    }


def parse_sparsities(text: str) -> list[float]:
    """``"0.5,0.8"`` -> ``[0.5, 0.8]``; each must lie in [0.5, 0.9]."""
    values = []
    for part in str(text).split(","):
        try:
            value = float(part)
        except ValueError:
            raise GlasswingError(f"--prune expects numbers like 0.8 or 0.5,0.8; got {part!r}.") from None
        if not MIN_SPARSITY <= value <= MAX_SPARSITY:
            raise GlasswingError(
                f"--prune {value}: sparsity must be between {MIN_SPARSITY} and {MAX_SPARSITY} inclusive "
                "(below 0.5 there is little to gain, above 0.9 accuracy collapses)."
            )
        values.append(value)
    if not values:
        raise GlasswingError("--prune needs at least one sparsity, e.g. 0.8.")
    return sorted(set(values))


def _steps_per_epoch(app, cfg) -> int:
    ds = app.dataset(dataclasses.replace(cfg, augment=False), "train")
    n = int(ds.cardinality())
    if n < 0:  # unknown: count the batches once
        n = int(ds.reduce(np.int64(0), lambda count, _batch: count + 1))
    return max(1, n)


def finetune_config(app, cfg, epochs: int, overrides=()):
    """The committed Config for fine-tuning: few epochs, lower rate, no early stop or warm-up."""
    from apps.app import apply_overrides

    tuned = dataclasses.replace(
        cfg,
        epochs=epochs,
        patience=epochs + 1,
        warmup_fraction=0.0,
        learning_rate=cfg.learning_rate / 10,
    )
    return apply_overrides(tuned, overrides)


def prune_one(app, base_folder: Path, out_root: Path, sparsity: float, cfg, verbose="auto") -> Path:
    """Fine-tunes the model in ``base_folder`` with pruning to ``sparsity``; returns a staged folder.

    Trains through :func:`apps.train.train` (the shared path: resumable work
    folder, LR schedule, history, metrics.json), starting from the trained
    weights and publishing the last epoch (earlier ones are less sparse).
    """
    from apps.train import train

    steps = _steps_per_epoch(app, cfg) * cfg.epochs
    end = max(1, int(RAMP_FRACTION * steps))
    schedule = PolynomialDecay(sparsity, begin_step=0, end_step=end, frequency=max(1, end // MASK_UPDATES))

    def start_from_trained(_cfg):
        return artifacts.load_model(base_folder / artifacts.MODEL_FILE)

    staged_name = f".staging-{variant_name(sparsity)}"
    print(
        f"Pruning {app.name} to {sparsity:.0%}: {cfg.epochs} epochs, {steps} steps, ramp over {end} steps, "
        f"masks updated every {schedule.frequency} steps",
        flush=True,
    )
    return train(
        app,
        cfg,
        out_root,
        command=f"glasswing optimize {app.name} --prune {sparsity}",
        verbose=verbose,
        build=start_from_trained,
        callbacks=[MagnitudePruning(schedule)],
        name=staged_name,
        keep_best=False,
    )


def variant_name(sparsity: float) -> str:
    """``0.8`` -> ``prune-0.80`` (the artifact folder's name)."""
    return f"prune-{sparsity:.2f}"


def measure_folder(app, folder: Path, cfg, quants, sparsity: bool, tflite_dir: Path) -> dict:
    """Keras and .tflite numbers of the model in ``folder`` on the test split.

    With ``sparsity``, files are converted with ``EXPERIMENTAL_SPARSITY``. A
    sparse file LiteRT's default XNNPack delegate refuses (seen for int8 sparse
    fully-connected layers) is kept as ``<quant>-sparse.tflite`` and measured on
    LiteRT's builtin kernels; one that is wrong on any kernels (seen for speech's
    int8 graph: its output came out as its own quantized input) is recorded as a
    failure and deleted. Either way ``<quant>.tflite`` is converted again without
    the flag (pruned weights, dense storage), so every row is a file that runs.
    """
    model = artifacts.load_model(folder / artifacts.MODEL_FILE)
    reference = common.test_reference(app, model, cfg)
    row = {
        "keras": {"accuracy": reference["accuracy"], **common.file_sizes(folder / artifacts.MODEL_FILE)},
        "sparsity": sparsity_of(model),
        "tflite": {},
    }
    for quant in quants:
        path = tflite_dir / f"{quant}.tflite"
        print(f"  {folder.name}: converting {quant}{' (sparsity-aware)' if sparsity else ''} ...", flush=True)
        try:
            conversion.convert_in_subprocess(app, folder, quant, path, sparsity=sparsity)
            try:
                row["tflite"][quant] = common.verify_file(app, path, reference, cfg)
            except GlasswingError as err:
                if not sparsity:
                    raise
                sparse = path.with_name(f"{quant}-sparse.tflite")
                path.replace(sparse)
                print(
                    f"  {quant}: the sparse file failed with XNNPack ({err}); measuring it on "
                    "builtin kernels and converting a dense-storage copy",
                    flush=True,
                )
                try:
                    item = common.verify_file(app, sparse, reference, cfg, delegates=False)
                    item["note"] = f"XNNPack refused it: {str(err)[-160:]}"
                except GlasswingError as builtin_err:
                    # Unusable on any kernels: recorded as a failure, not kept as a file.
                    sparse.unlink()
                    print(f"  {quant}-sparse: unusable: {builtin_err}", flush=True)
                    item = {"error": str(builtin_err)}
                conversion.convert_in_subprocess(app, folder, quant, path, sparsity=False)
                row["tflite"][quant] = common.verify_file(app, path, reference, cfg)
                row["tflite"][quant]["note"] = "converted without EXPERIMENTAL_SPARSITY (see the -sparse row)"
                row["tflite"][f"{quant}-sparse"] = item
        except GlasswingError as err:
            print(f"  {quant}: FAILED: {err}", flush=True)
            row["tflite"][quant] = {"error": str(err)}
    return row


def prune(
    app,
    models_dir="models",
    sparsities=(0.8,),
    epochs: int = DEFAULT_EPOCHS,
    overrides=(),
    out_dir=None,
    quants=QUANTS,
    latency_runs: int = 200,
    verbose="auto",
) -> dict:
    """``glasswing optimize APP --prune S[,S...]``: prune, fine-tune, export, verify, compare.

    Args:
        app: A classifier app with a trained ``models_dir/APP/model.keras``.
        models_dir: Artifact root.
        sparsities: Target sparsities in [0.5, 0.9].
        epochs: Fine-tuning epochs per sparsity.
        overrides: ``key=value`` Config overrides for the fine-tuning run
            (e.g. ``max_train_examples=20000``, ``learning_rate=1e-4``).
        out_dir: Where the variants go (default ``models_dir/APP/optimized``).
        quants: TF Lite modes to export, each with sparsity-aware conversion.
        latency_runs: Interleaved single-example runs per file for the latency column.

    Returns:
        ``{"baseline": ..., "variants": {name: ...}, "latency_ms": ..., "settings": ...}``;
        each variant folder (``model.keras``, ``tflite/``, ``report.json``, and
        the training artifacts) is published atomically.
    """
    require_classifier(app)
    for s in sparsities:
        parse_sparsities(str(s))
    base_folder = artifacts.require_model_dir(models_dir, app)
    base_cfg = artifacts.load_config(app, base_folder)
    cfg = finetune_config(app, base_cfg, epochs, overrides)
    out_root = Path(out_dir) if out_dir else base_folder / OPTIMIZED_DIR
    artifacts.ensure_writable(out_root)
    start = time.time()

    print(f"Baseline {base_folder}: measuring on the test split ...", flush=True)
    baseline_tflite = out_root / ".baseline-tflite"
    baseline = measure_folder(app, base_folder, base_cfg, quants, False, baseline_tflite)
    variants, folders = {}, {}
    for sparsity in sparsities:
        name = variant_name(sparsity)
        staged = prune_one(app, base_folder, out_root, sparsity, cfg, verbose=verbose)
        shutil.rmtree(out_root / artifacts.PARTIAL_DIR, ignore_errors=True)
        row = measure_folder(app, staged, base_cfg, quants, True, staged / artifacts.TFLITE_DIR)
        row["target_sparsity"] = sparsity
        artifacts.write_json_atomic(staged / "report.json", {"baseline": baseline, name: row})
        final = out_root / name
        artifacts.publish_dir(staged, final)
        for item in row["tflite"].values():
            if "file" in item:  # the published path
                item["file"] = str(final / artifacts.TFLITE_DIR / Path(item["file"]).name)
        variants[name], folders[name] = row, final

    print(f"Timing every model and file, {latency_runs} interleaved runs ...", flush=True)
    rows = {"baseline": (base_folder, baseline)} | {n: (folders[n], variants[n]) for n in variants}
    latency = _latencies(app, base_folder, base_cfg, rows, latency_runs)
    shutil.rmtree(baseline_tflite, ignore_errors=True)
    result = {
        "app": app.name,
        "baseline": baseline,
        "variants": variants,
        "latency_ms": latency,
        "settings": {
            "epochs": cfg.epochs,
            "learning_rate": cfg.learning_rate,
            "batch_size": cfg.batch_size,
            "max_train_examples": cfg.max_train_examples,
            "ramp_fraction": RAMP_FRACTION,
            "latency_runs": latency_runs,
            "machine": common.machine(),
            "wall_time_s": round(time.time() - start, 1),
        },
    }
    for name, folder in folders.items():
        report = {"baseline": baseline, name: variants[name], "latency_ms": latency, **result["settings"]}
        artifacts.write_json_atomic(folder / "report.json", report)
    return result


def _latencies(app, base_folder, cfg, rows: dict, runs) -> dict:
    """Median single-example ms of every Keras model and file, interleaved in one loop.

    ``rows`` maps a variant name to ``(model folder, measured row)``.
    """
    model = artifacts.load_model(base_folder / artifacts.MODEL_FILE)
    x = common.one_test_input(app, cfg, model)
    runners = {}
    for name, (folder, row) in rows.items():
        trained = artifacts.load_model(folder / artifacts.MODEL_FILE)
        runners[f"{name} keras"] = common.keras_runner(app, trained, cfg)
        for fmt, item in row["tflite"].items():
            if "file" in item:
                delegates = "no XNNPack" not in item.get("delegates", "")
                runners[f"{name} {fmt}"] = litert.runner(item["file"], delegates=delegates)
    return interleaved_latency(runners, x, runs)


def table(result: dict) -> common.Table:
    """The pruning comparison: one row per (model, format), ratios vs the unpruned baseline."""
    columns = ["model", "format", "sparsity", "size KB", "x base", "gzip KB", "x base", "accuracy", "Δ pt"]
    columns += ["ms", "x base"]
    base = result["baseline"]
    latency = result["latency_ms"]
    rows, failures = [], []
    variants = {"baseline": base, **result["variants"]}
    for name, row in variants.items():
        for fmt in ("keras", *row["tflite"]):
            item = row["keras"] if fmt == "keras" else row["tflite"][fmt]
            base_fmt = fmt.removesuffix("-sparse")
            ref = base["keras"] if fmt == "keras" else base["tflite"].get(base_fmt, {})
            if "error" in item:
                rows.append([name, fmt, None, "failed", None, None, None, None, None, None, None])
                failures.append(f"{name} {fmt} failed: {item['error']}")
                continue
            ms, base_ms = latency.get(f"{name} {fmt}"), latency.get(f"baseline {base_fmt}")
            accuracy, base_accuracy = item.get("accuracy"), ref.get("accuracy")
            rows.append(
                [
                    name,
                    fmt,
                    f"{row['sparsity']['prunable']:.3f}",
                    common.kb(item["size_bytes"]),
                    common.ratio(item["size_bytes"], ref.get("size_bytes")),
                    common.kb(item["gzip_bytes"]),
                    common.ratio(item["gzip_bytes"], ref.get("gzip_bytes")),
                    accuracy,
                    None if base_accuracy is None else f"{100 * (accuracy - base_accuracy):+.2f}",
                    None if ms is None else f"{ms:.3f}",
                    common.ratio(ms, base_ms),
                ]
            )
    s = result["settings"]
    notes = [
        "sparsity = measured share of exact zeros in the pruned kernels (Dense/Conv/Embedding/RNN kernels "
        f"of at least {MIN_SIZE:,} entries; smaller kernels, biases and norms stay dense); pruned .tflite "
        "files converted with "
        "tf.lite.Optimize.EXPERIMENTAL_SPARSITY",
        "accuracy on the whole test split; keras = model.keras, float32/int8 = the .tflite in LiteRT; "
        "size of keras = the .keras file; x base = vs the unpruned model in the same format",
        f"ms = median single-example latency of {s['latency_runs']} interleaved runs (keras: tf.function; "
        f".tflite: LiteRT, 1 thread) on {s['machine']}",
        f"fine-tuning: {s['epochs']} epochs from the trained model, learning rate {s['learning_rate']:g}, "
        f"batch {s['batch_size']}, max_train_examples {s['max_train_examples'] or 'all'}, sparsity ramp over "
        f"the first {s['ramp_fraction']:.0%} of steps (polynomial decay, power 3); wall time "
        f"{s['wall_time_s']:.0f} s",
        *failures,
    ]
    return common.Table(f"Pruning: {result['app']}", columns, rows, notes)
