"""Knowledge distillation: a smaller student of any classifier app learns from its teacher.

The :class:`Distiller` wraps a frozen teacher and a student; its loss is
``alpha * CE(y, student) + (1 - alpha) * T**2 * KL(teacher_T || student_T)``
(Hinton et al. 2015), where ``_T`` are the class distributions softened by
temperature ``T``. The apps' models end in a softmax, so the logits are taken
as ``log(probs)``: softmax is shift-invariant, so ``softmax(log(p) / T)`` equals
``softmax(z / T)`` for the logits ``z`` that produced ``p``.

The student is the app's own ``build()`` with a smaller Config; it trains through
:func:`apps.train.train` (same pipeline, schedule, checkpoints and metrics as
every app) and only the student is saved. ``glasswing optimize APP --distill``
also trains the same student from scratch (same Config, epochs and seed) and
reports teacher, distilled and scratch side by side, because distillation does
not always win (the keras-io example's own log shows its distilled student
below the scratch one): measure, don't assume.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import keras

from apps import artifacts, conversion, litert
from apps.errors import GlasswingError
from apps.litert import interleaved_latency
from apps.optimize import OPTIMIZED_DIR, common, require_classifier

PACKAGE = "glasswing_optimize"
DEFAULT_ALPHA = 0.1
DEFAULT_TEMPERATURE = 4.0
# Default student: every width field of the app's Config (Config.WIDTHS) divided by this.
WIDTH_DIVISOR = 4
_EPS = 1e-7


def distillation_loss(y_true, teacher_probs, student_probs, alpha: float, temperature: float):
    """``alpha * CE(hard) + (1 - alpha) * T^2 * KL(soft teacher || soft student)``, batch mean.

    Args:
        y_true: Integer labels, shape ``(batch,)``.
        teacher_probs, student_probs: Class probabilities, ``(batch, classes)``.
        alpha: Weight of the hard-label cross-entropy.
        temperature: Softening temperature ``T``; ``T**2`` keeps the soft term's
            gradients on the same scale as the hard term's when ``T`` changes.
    """
    ops = keras.ops
    teacher_probs = ops.cast(teacher_probs, "float32")
    student_probs = ops.cast(student_probs, "float32")
    hard = ops.mean(keras.losses.sparse_categorical_crossentropy(y_true, student_probs))
    teacher_log = ops.log_softmax(ops.log(teacher_probs + _EPS) / temperature, axis=-1)
    student_log = ops.log_softmax(ops.log(student_probs + _EPS) / temperature, axis=-1)
    kl = ops.mean(ops.sum(ops.exp(teacher_log) * (teacher_log - student_log), axis=-1))
    return alpha * hard + (1.0 - alpha) * temperature**2 * kl


def check_settings(alpha: float, temperature: float) -> None:
    """Raises one clear line unless ``0 <= alpha <= 1`` and ``temperature > 0`` (NaN fails both)."""
    if not (0.0 <= alpha <= 1.0 and temperature > 0):
        raise GlasswingError(f"Need 0 <= alpha <= 1 and temperature > 0, got {alpha} and {temperature}.")


@keras.saving.register_keras_serializable(package=PACKAGE)
class Distiller(keras.Model):
    """A frozen teacher and a trainable student; predicts with the student.

    Keras's own ``train_step`` and ``test_step`` call :meth:`compute_loss`, so
    training and validation both report :func:`distillation_loss` (plus the
    student's regularization losses); compiled metrics see the student's
    predictions. Works with any backend (``keras.ops`` only).
    """

    def __init__(self, teacher, student, alpha=DEFAULT_ALPHA, temperature=DEFAULT_TEMPERATURE, **kwargs):
        super().__init__(**kwargs)
        check_settings(alpha, temperature)
        self.teacher = teacher
        self.student = student
        self.teacher.trainable = False
        self.alpha = float(alpha)
        self.temperature = float(temperature)
        # Both parts are built functional models, so the wrapper is usable (and
        # countable) before its first call.
        self.built = True

    def count_params(self):
        """The student's parameters: the model that trains and is saved (the teacher is frozen)."""
        return self.student.count_params()

    def call(self, x, training=False):
        return self.student(x, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        teacher_probs = self.teacher(x, training=False)
        loss = distillation_loss(y, teacher_probs, y_pred, self.alpha, self.temperature)
        if self.student.losses:
            loss = loss + keras.ops.sum(keras.ops.stack(self.student.losses))
        return loss

    def get_config(self):
        return {
            **super().get_config(),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "student": keras.saving.serialize_keras_object(self.student),
            "alpha": self.alpha,
            "temperature": self.temperature,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        teacher = keras.saving.deserialize_keras_object(config.pop("teacher"))
        student = keras.saving.deserialize_keras_object(config.pop("student"))
        return cls(teacher, student, **config)


def student_config(app, teacher_cfg, overrides=()):
    """The teacher's Config with every integer width field divided by ``WIDTH_DIVISOR``, then ``overrides``.

    Width fields are the ones the app's Config declares in ``WIDTHS`` (e.g. the
    image CNN's ``filters`` and ``dense_units``, the sentiment model's ``embed_dim``,
    ``lstm_units`` and ``ff_dim``). ``overrides`` (``--student key=value``) replace any of them.

    Raises:
        GlasswingError: No width field and no override, so the student would be
            the teacher's architecture; or an invalid override.
    """
    from apps.app import apply_overrides

    smaller = {
        name: max(1, getattr(teacher_cfg, name) // WIDTH_DIVISOR)
        for name in type(teacher_cfg).WIDTHS
        if getattr(teacher_cfg, name) > 1
    }
    if not smaller and not overrides:
        raise GlasswingError(
            f"{app.name}: its Config declares no width fields (WIDTHS) to shrink; "
            "describe the student with --student key=value."
        )
    try:
        cfg = dataclasses.replace(teacher_cfg, **smaller)
    except GlasswingError as err:
        raise GlasswingError(f"The default student ({smaller}) is invalid: {err} Use --student.") from None
    return apply_overrides(cfg, overrides)


def training_config(cfg, epochs: int, overrides=()):
    """The student's training settings: ``epochs`` epochs, no early stop, then ``--set`` overrides."""
    from apps.app import apply_overrides

    return apply_overrides(dataclasses.replace(cfg, epochs=epochs, patience=epochs + 1), overrides)


def distill(
    app,
    models_dir="models",
    student=(),
    epochs: int | None = None,
    overrides=(),
    alpha: float = DEFAULT_ALPHA,
    temperature: float = DEFAULT_TEMPERATURE,
    out_dir=None,
    latency_runs: int = 200,
    verbose="auto",
) -> dict:
    """``glasswing optimize APP --distill``: distilled vs scratch student vs teacher.

    Args:
        app: A classifier app with a trained ``models_dir/APP/model.keras`` (the teacher).
        models_dir: Artifact root.
        student: ``key=value`` overrides of the student's Config (after the
            default width reduction, :func:`student_config`).
        epochs: Training epochs of both students (default: the app's ``Config.DISTILL_EPOCHS``).
        overrides: ``key=value`` training overrides for both students
            (e.g. ``max_train_examples=20000``).
        alpha, temperature: Distillation loss weights (:func:`distillation_loss`).
        out_dir: Where the result goes (default ``models_dir/APP/optimized``);
            it is published as ``OUT/distill/`` with ``distilled/`` and
            ``scratch/`` artifact folders and ``report.json``.
        latency_runs: Interleaved single-example runs for the latency column.

    Returns:
        The report: per model test accuracy, parameters, sizes and latency.
    """
    from apps.train import train

    require_classifier(app)
    teacher_folder = artifacts.require_model_dir(models_dir, app)
    teacher_cfg = artifacts.load_config(app, teacher_folder)
    epochs = epochs or app.Config.DISTILL_EPOCHS
    cfg = training_config(student_config(app, teacher_cfg, student), epochs, overrides)
    out_root = Path(out_dir) if out_dir else teacher_folder / OPTIMIZED_DIR
    staging = out_root / ".staging-distill"
    artifacts.ensure_writable(staging)
    start = time.time()

    def distiller(c):
        # The student first: with the seed just set, it starts from the same
        # weights as the scratch student.
        student_model = app.build(c)
        teacher = artifacts.load_model(teacher_folder / artifacts.MODEL_FILE)
        model = Distiller(teacher, student_model, alpha=alpha, temperature=temperature)
        model.compile(optimizer=keras.optimizers.Adam(c.learning_rate), metrics=["accuracy"])
        return model

    command = f"glasswing optimize {app.name} --distill"
    print(f"Distilling {app.name}: student {_describe(cfg, teacher_cfg)}, {cfg.epochs} epochs", flush=True)
    train(
        app,
        cfg,
        staging,
        command=command,
        verbose=verbose,
        build=distiller,
        save=lambda m: m.student,
        name="distilled",
    )
    print(f"Training the same student from scratch ({cfg.epochs} epochs, seed {cfg.seed}) ...", flush=True)
    train(app, cfg, staging, command=command + " (scratch)", verbose=verbose, name="scratch")
    shutil.rmtree(staging / artifacts.PARTIAL_DIR, ignore_errors=True)

    changed = sorted(k for k in _model_fields(cfg) if getattr(cfg, k) != getattr(teacher_cfg, k))
    folders = {"teacher": teacher_folder, "distilled": staging / "distilled", "scratch": staging / "scratch"}
    rows, runners, x = {}, {}, None
    for name, folder in folders.items():
        folder_cfg = artifacts.load_config(app, folder)
        model = artifacts.load_model(folder / artifacts.MODEL_FILE)
        reference = common.test_reference(app, model, folder_cfg)
        tflite = staging / artifacts.TFLITE_DIR / f"{name}-float32.tflite"
        print(f"  {name}: converting float32 ...", flush=True)
        conversion.convert_in_subprocess(app, folder, "float32", tflite)
        file_row = common.verify_file(app, tflite, reference, folder_cfg)
        rows[name] = {
            "accuracy": reference["accuracy"],
            "params": int(model.count_params()),
            "keras_bytes": (folder / artifacts.MODEL_FILE).stat().st_size,
            "float32_tflite": file_row,
            "config": {k: getattr(folder_cfg, k) for k in changed},
        }
        x = common.one_test_input(app, folder_cfg, model) if x is None else x
        runners[name] = litert.runner(tflite)
    latency = interleaved_latency(runners, x, latency_runs)
    for name in rows:
        rows[name]["latency_ms"] = latency[name]
    report = {
        "app": app.name,
        "models": rows,
        "settings": {
            "epochs": cfg.epochs,
            "alpha": alpha,
            "temperature": temperature,
            "batch_size": cfg.batch_size,
            "learning_rate": cfg.learning_rate,
            "max_train_examples": cfg.max_train_examples,
            "seed": cfg.seed,
            "student": _describe(cfg, teacher_cfg),
            "latency_runs": latency_runs,
            "machine": common.machine(),
            "wall_time_s": round(time.time() - start, 1),
        },
    }
    for name in ("distilled", "scratch"):
        rows[name]["float32_tflite"]["file"] = f"{artifacts.TFLITE_DIR}/{name}-float32.tflite"
    rows["teacher"]["float32_tflite"]["file"] = None  # a temporary copy; the teacher has its own export
    (staging / artifacts.TFLITE_DIR / "teacher-float32.tflite").unlink(missing_ok=True)
    artifacts.write_json_atomic(staging / "report.json", report)
    artifacts.publish_dir(staging, out_root / "distill")
    return report


def _model_fields(cfg) -> set:
    from apps.app import TrainConfig

    shared = {f.name for f in dataclasses.fields(TrainConfig)}
    return {f.name for f in dataclasses.fields(cfg) if f.name not in shared}


def _describe(cfg, teacher_cfg) -> str:
    changes = [
        f"{k}={getattr(cfg, k)}"
        for k in sorted(_model_fields(cfg))
        if getattr(cfg, k) != getattr(teacher_cfg, k)
    ]
    return ", ".join(changes) or "same architecture as the teacher"


def table(report: dict) -> common.Table:
    """Teacher, distilled student and scratch student side by side."""
    rows = report["models"]
    teacher = rows["teacher"]
    columns = ["model", "test accuracy", "Δ pt vs teacher", "params", "x teacher", "float32 KB"]
    columns += [".tflite accuracy", "ms", "x teacher"]
    out = []
    for name, row in rows.items():
        out.append(
            [
                name,
                row["accuracy"],
                f"{100 * (row['accuracy'] - teacher['accuracy']):+.2f}",
                f"{row['params']:,}",
                common.ratio(row["params"], teacher["params"]),
                common.kb(row["float32_tflite"]["size_bytes"]),
                row["float32_tflite"]["accuracy"],
                f"{row['latency_ms']:.3f}",
                common.ratio(row["latency_ms"], teacher["latency_ms"]),
            ]
        )
    s = report["settings"]
    gap = 100 * (rows["distilled"]["accuracy"] - rows["scratch"]["accuracy"])
    notes = [
        f"student: {s['student']}; distilled and scratch share that Config, {s['epochs']} epochs, seed "
        f"{s['seed']}, batch {s['batch_size']}, learning rate {s['learning_rate']:g}, max_train_examples "
        f"{s['max_train_examples'] or 'all'}; both publish their best-validation epoch",
        f"distillation: alpha {s['alpha']} (hard labels) + (1 - alpha) T^2 KL, T = {s['temperature']}; "
        f"distilled - scratch = {gap:+.2f} pt on the test split",
        f"accuracy on the whole test split (Keras model; .tflite = float32 file in LiteRT); ms = median "
        f"single-example latency of the float32 .tflite, {s['latency_runs']} interleaved runs, 1 thread, "
        f"{s['machine']}; wall time {s['wall_time_s']:.0f} s",
    ]
    return common.Table(f"Distillation: {report['app']}", columns, out, notes)
