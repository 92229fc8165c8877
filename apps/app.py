"""The App protocol: every app is the same small bundle of functions.

Training, evaluation, export, explanation and the dashboard are written once
against :class:`App` and never branch on an app's name (see docs/design.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import typing
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from apps.errors import GlasswingError

MODALITIES = ("image", "text", "audio")
TASKS = ("classify", "generate")


@dataclasses.dataclass
class TrainConfig:
    """Fields every app's Config shares; the shared training loop reads only these.

    Each app's ``Config`` subclasses this and adds its own model/data fields.
    Defaults are the real run; ``tiny()`` returns seconds-long settings for tests.
    """

    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 1e-3
    # Fraction of the peak learning rate spent warming up, then cosine decay to 0.
    warmup_fraction: float = 0.05
    patience: int = 5
    seed: int = 42
    # "auto" picks from the devices present; "one" / "mirrored" force a strategy;
    # "multiworker" trains over the processes named in TF_CONFIG.
    strategy: str = "auto"
    # "auto" = on only when a GPU is present (mixed_float16 on CPU is ~9x slower).
    mixed_precision: str = "auto"
    jit_compile: str = "auto"
    # Where prepared datasets live (tfds data_dir and local raw copies below it).
    data_dir: str = "data"
    # Cap on training examples (0 = all): lets tests and quick runs use real code paths.
    max_train_examples: int = 0
    # Augment the training split (each app decides how); off for calibration data.
    augment: bool = True
    # A class whose prior is refit on the validation split after training and folded
    # into the output layer's bias (apps/calibration.py); "" = none.
    calibrate_class: str = ""
    # Also train the app's baselines (``App.baselines``) on the same split and record
    # their test metrics beside this model's; off in tiny() so tests stay short.
    baselines: bool = True
    # A user's own dataset (``glasswing train KIND --data PATH``): the id of its prepared
    # tfds copy under ``<data_dir>/tfds/`` (see apps/userdata.py); "" = the app's own data.
    data: str = ""
    # The class names this model predicts, when they are not the app's own (a user's
    # dataset); written to config.json, so a model's labels come from its folder.
    classes: tuple = ()
    # Weight each class's examples by n / (classes x n_class) in the training loss, so
    # a small class counts as much as a large one (on by default for a user's data,
    # where a few recordings per word sit beside many `_unknown_` ones).
    balance_classes: bool = False

    # An app's small-model settings for tiny(): a class attribute, not a field.
    TINY: ClassVar[dict] = {}
    # Fields whose default changed after models were saved without them: a config.json that
    # lacks the key was trained with this value, not today's default (config_from_dict).
    SAVED_BEFORE: ClassVar[dict] = {}
    # The integer fields that set the model's width (channels, units): what a default
    # distillation student shrinks (apps/optimize/distill.py). Declared, not guessed from names.
    WIDTHS: ClassVar[tuple[str, ...]] = ()
    # Epochs a distillation student trains by default (glasswing optimize --distill):
    # an app whose small models need longer to leave chance says so here.
    DISTILL_EPOCHS: ClassVar[int] = 3

    @classmethod
    def tiny(cls, **overrides):
        """Settings that train in seconds, for tests.

        Shared seconds-long training values, then the app's ``TINY`` model
        settings, then ``overrides``.
        """
        values = {"epochs": 1, "batch_size": 16, "patience": 1, "max_train_examples": 64, "baselines": False}
        return cls(**{**values, **cls.TINY, **overrides})


@dataclasses.dataclass(frozen=True)
class Generative:
    """The hooks a ``task="generate"`` app adds to the shared machinery.

    One bundle, so training, evaluation, export, the CLI and the dashboard reach
    every generator's functions through the protocol, never by app name.

    Attributes:
        load: ``(model, folder) -> generator``: the app's generation functions
            bound to a trained model and the artifacts in ``folder``. Image
            generators offer ``sample(n, seed)``, ``reconstruct(x)``,
            ``interpolate(x_a, x_b, steps)``, ``encode(x)`` and ``grid(images)``
            (one uint8 picture of many images); text generators
            offer ``generate(prompt, length, temperature, top_k, seed)``. Bad
            arguments raise :class:`GlasswingError` with a message for the user.
        metrics: ``(model, cfg, split) -> dict``: task-specific metrics merged into
            :func:`apps.evaluate.evaluate`'s result (and so ``metrics.json``).
        export_inputs: ``(model, cfg, x) -> array``: maps a batch of dataset inputs
            to the inputs of the exported model (``App.export_variant``), e.g. a
            VAE's latent vectors for its decoder; ``None`` = the inputs themselves.
        export_quality: ``(cfg, outputs, reference) -> dict``: quality numbers of
            one exported file's ``outputs`` on ``reference["x"]`` (``reference``
            also holds ``"y_true"`` and the float Keras ``"outputs"``); recorded
            per mode in ``export.json``, and for the Keras model itself.
        card: ``(cfg, metrics) -> str``: Markdown added to ``MODEL_CARD.md`` that
            says what the metrics mean.
        prompt: A text generator's example prompt, where the dashboard starts.
    """

    load: Callable
    metrics: Callable | None = None
    export_inputs: Callable | None = None
    export_quality: Callable | None = None
    card: Callable | None = None
    prompt: str = ""


@dataclasses.dataclass(frozen=True)
class RawInput:
    """Hooks of an app whose exported .tflite takes the raw signal, not the model input.

    The speech model classifies log-mel features (what the explainers and the
    dashboard show), but its .tflite takes the 16 kHz waveform: export wraps
    ``frontend`` (waveform -> log-mel, builtin TF Lite ops) in front of the
    trained model. These hooks let export, the CLI and the dashboard feed that
    file without knowing which app it is.

    Attributes:
        frontend: ``cfg -> keras layer``: a batch of raw signals -> a batch of model inputs.
        shape: ``cfg -> tuple``: one raw signal's shape (e.g. ``(16000,)``).
        dataset: ``(cfg, split) -> tf.data.Dataset`` of batched ``(raw signal, y)``,
            unaugmented, in the same order as ``App.dataset`` (calibration, verification).
        load: ``(raw user input, cfg) -> (signal, note)``: the signal ``preprocess``
            computes features from, and a one-line note on what was done to it
            (resampled, mixed down, which window of a long file).
        fake: ``(cfg, n) -> array``: synthetic raw signals, for tests.
        metadata: ``cfg -> dict``: recorded in ``tflite/metadata.json`` (e.g. sample
            rate and clip length).
        windows: Optional ``(raw user input, cfg) -> (signals, spans, note)``:
            every window of a long recording (``(k, *shape)`` signals and their
            ``(k, 2)`` start and end times in seconds), for scanning it
            (``glasswing predict --scan``).
        resynthesize: Optional ``(signal, keep, cfg) -> signal``: the raw signal with
            only the parts of its model input where ``keep`` (the model input's
            shape, values in [0, 1]) is 1 left in it, so a person can hear what an
            explanation kept or removed (:mod:`xai.listen`). ``metadata(cfg)`` must
            then hold the ``"sample_rate"`` to play it at.
        bands: Optional ``cfg -> [(first band, name), ...]``: groups of the model input's
            feature bands when it stacks more than one (the dashboard names each on the
            band axis and draws a line where the next begins).
    """

    frontend: Callable
    shape: Callable
    dataset: Callable
    load: Callable
    fake: Callable
    metadata: Callable
    windows: Callable | None = None
    resynthesize: Callable | None = None
    bands: Callable | None = None


@dataclasses.dataclass(frozen=True)
class OwnData:
    """Hooks of a classifier app that can train on a user's own files.

    ``glasswing train KIND --data PATH --name NAME`` reads the user's files
    with these, stores them once as a tfds dataset in the app's own example
    format (the ``(x, y)`` the app's pipeline already reads), and trains the app
    on it (see :mod:`apps.userdata`). Nothing else of the app changes.

    Attributes:
        kind: The word after ``glasswing train`` that selects this app for user
            data (e.g. ``"text"`` for the sentiment app's architecture).
        layout: ``"folder"`` (one sub-folder per class) or ``"csv"`` (a text
            column and a label column).
        extensions: File types a ``"folder"`` layout reads (lower case, with dot).
        read: ``(item, cfg) -> example``: one file path (folder) or cell text (csv)
            -> one stored example (e.g. an HxWxC uint8 image); any exception marks
            the item as skipped, with the exception's message as the reason.
        feature: ``cfg -> tfds FeatureConnector`` of one stored example.
        configure: Optional ``(cfg, examples) -> cfg``: settings that follow from
            the data (e.g. colour or grayscale), before anything is stored.
        fill: Optional ``(cfg, counts, seed) -> (classes, {split: [(example, class)]})``:
            examples the app adds to every user dataset (e.g. a keyword spotter's
            ``_unknown_`` and ``_silence_``) and the full class list; ``counts``
            = training examples per user class.
        check: Optional ``(items) -> [warning]``: what the app finds doubtful in a
            user's files before reading them (e.g. images under 16 px).
        backbones: ``{name: Config overrides}``: pretrained networks ``--from NAME``
            can start from that are not trained Glasswing models (e.g. a
            keras.applications backbone with ImageNet weights).
        scratch: Config overrides that build the same architecture without any
            pretrained start (the "from scratch" run measured beside ``--from``).
    """

    kind: str
    layout: str
    read: Callable
    feature: Callable
    extensions: tuple = ()
    configure: Callable | None = None
    fill: Callable | None = None
    check: Callable | None = None
    backbones: dict = dataclasses.field(default_factory=dict)
    scratch: dict = dataclasses.field(default_factory=dict)


SWITCH_VALUES = ("auto", "on", "off")
STRATEGIES = ("auto", "one", "mirrored", "multiworker")


@dataclasses.dataclass(frozen=True)
class App:
    """One app: a frozen bundle of the functions the shared machinery calls.

    Attributes:
        name: Registry key and the artifact folder ``models/<name>/``.
        modality: One of ``MODALITIES``; only display code switches on it.
        task: One of ``TASKS``.
        Config: Dataclass (subclass of :class:`TrainConfig`) with ``tiny()``.
        dataset: ``(cfg, split) -> tf.data.Dataset`` of batched ``(x, y)``;
            ``split`` is ``"train" | "validation" | "test"``.
        preprocess: Raw input (PIL image / str / waveform) -> one model input ``x``.
        build: ``cfg -> compiled keras.Model``.
        labels: ``cfg -> list[str]``.
        fake_batch: ``(cfg, n) -> (x, y)`` synthetic numpy arrays for tests.
        prepare: ``(cfg, progress) -> str``: prepares the data once (e.g. builds
            the tfds dataset) and returns a one-line summary; backs
            ``glasswing data prepare APP``.
        description: One line for ``--help`` and the dashboard.
        artifact_files: Optional ``cfg -> {file name: text}``: extra files training
            writes into ``models/<name>/`` (e.g. a text app's ``vocab.txt``).
        load_preprocess: Optional ``folder -> preprocess``: ``preprocess`` bound to
            the artifacts of the model in ``folder`` (e.g. its vocabulary). Use
            :meth:`preprocessor`, which falls back to ``preprocess``.
        export_variant: Optional ``(model, cfg, quant) -> keras.Model``: the model
            to convert for one TF Lite mode (e.g. an unrolled-RNN copy with the
            trained weights for int8); default: the trained model itself.
        example_text: Optional ``(cfg, split) -> list[str]``: human-readable raw
            inputs of ``split`` in dataset order, shown beside misclassified
            examples in ``metrics.json``.
        generative: Optional :class:`Generative` hooks of a ``task="generate"``
            app (its generation functions, metrics and export checks). Use
            :meth:`generator` to get the functions for a trained model.
        raw: Optional :class:`RawInput` hooks of an app whose exported file
            takes the raw signal and computes the model input in-graph.
        baselines: Optional ``cfg -> {name: Config}``: the simple models a
            sceptic would try first, trained on the same split beside every
            run (when ``cfg.baselines``); their test metrics go into
            ``metrics.json``, the model card and the dashboard Overview.
        int8_float: Optional ``(model, cfg) -> layer names``: layers of the
            trained model an int8 file keeps in float (e.g. softmax, LayerNorm).
        labelled: Optional ``(path, labels) -> apps.labelled.Labelled``: reads a
            user's labelled file or folder for ``glasswing evaluate --data``;
            ``labels`` are the model's class names.
        own_data: Optional :class:`OwnData` hooks: the app trains on a user's
            own files (``glasswing train KIND --data PATH --name NAME``).
        read_file: Optional ``path -> raw input``: what ``preprocess`` takes when
            the user names a file (``--input FILE``), e.g. a text app's decoded
            text; by default the path itself (the app's ``preprocess`` reads it).
        validation_config: Optional ``cfg -> Config``: the Config of the model that
            training fits and validates, when a cheaper graph with the same weights
            will do (e.g. fewer test-time views); training then publishes
            ``build(cfg)`` holding the trained weights. Default: ``cfg`` itself.
    """

    name: str
    modality: str
    task: str
    Config: type
    dataset: Callable
    preprocess: Callable
    build: Callable
    labels: Callable
    fake_batch: Callable
    prepare: Callable
    description: str = ""
    artifact_files: Callable | None = None
    load_preprocess: Callable | None = None
    export_variant: Callable | None = None
    example_text: Callable | None = None
    generative: Generative | None = None
    raw: RawInput | None = None
    baselines: Callable | None = None
    int8_float: Callable | None = None
    labelled: Callable | None = None
    own_data: OwnData | None = None
    read_file: Callable | None = None
    validation_config: Callable | None = None

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValueError(f"Unknown modality={self.modality!r}. Expected one of {MODALITIES}.")
        if self.task not in TASKS:
            raise ValueError(f"Unknown task={self.task!r}. Expected one of {TASKS}.")
        if not issubclass(self.Config, TrainConfig):
            raise TypeError(f"{self.name}: Config must subclass apps.app.TrainConfig.")

    def generator(self, model, folder):
        """The generation functions of ``model`` (trained, with artifacts in ``folder``).

        Raises:
            GlasswingError: The app does not generate.
        """
        if self.generative is None:
            raise GlasswingError(f"App {self.name!r} does not generate (task={self.task!r}).")
        return self.generative.load(model, folder)

    def preprocessor(self, folder) -> Callable:
        """``preprocess`` for the model in ``folder`` (bound to its artifacts if the app needs them)."""
        return self.load_preprocess(folder) if self.load_preprocess else self.preprocess


def _coerce(raw: str, annotation: Any, key: str) -> Any:
    """Turns the string ``raw`` into a value of the field's declared type."""
    if annotation in (bool, "bool"):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise GlasswingError(f"--set {key}={raw!r}: expected a boolean (true/false).")
    for typ in (int, float):
        if annotation in (typ, typ.__name__):
            try:
                return typ(raw)
            except ValueError:
                raise GlasswingError(f"--set {key}={raw!r}: expected {typ.__name__}.") from None
    return raw


def apply_overrides(cfg, overrides: Iterable[str]):
    """Applies ``key=value`` strings to a Config dataclass, coerced to field types.

    Args:
        cfg: A Config instance.
        overrides: Strings such as ``"epochs=3"``.

    Returns:
        A new Config (``dataclasses.replace``); ``cfg`` is unchanged.

    Raises:
        GlasswingError: Malformed pair, unknown key (the message lists valid
            keys) or a value that does not parse as the field's type.
    """
    fields = {f.name: f for f in dataclasses.fields(cfg)}
    hints = typing.get_type_hints(type(cfg))
    changes = {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise GlasswingError(f"--set expects key=value, got {item!r}.")
        if key not in fields:
            raise GlasswingError(f"Unknown config key {key!r}. Valid keys: {', '.join(sorted(fields))}.")
        changes[key] = _coerce(raw, hints.get(key, str), key)
    new = dataclasses.replace(cfg, **{**preset_values(cfg, changes), **changes})
    validate_config(new)
    return new


def preset_values(cfg, changes: dict) -> dict:
    """Field values that come with the changed settings, from the Config's ``PRESETS``.

    ``PRESETS`` (an optional class attribute) maps a field to ``{value: {field:
    default}}``: e.g. a sentiment ``arch`` brings its own learning rate and sizes.
    A preset only replaces fields still at the class default, so values set
    before (``tiny()``, earlier overrides) and in ``changes`` itself win.
    """
    defaults = type(cfg)()
    values = {}
    for key, value in changes.items():
        preset = getattr(type(cfg), "PRESETS", {}).get(key, {}).get(value, {})
        values.update({k: v for k, v in preset.items() if getattr(cfg, k) == getattr(defaults, k)})
    return values


def validate_config(cfg) -> None:
    """Checks the shared fields and that every number is finite; raises GlasswingError naming a bad value."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise GlasswingError(f"{f.name} must be a finite number, got {value}.")
    for key in ("mixed_precision", "jit_compile"):
        value = getattr(cfg, key)
        if value not in SWITCH_VALUES:
            raise GlasswingError(f"Unknown {key}={value!r}. Expected one of {SWITCH_VALUES}.")
    if cfg.strategy not in STRATEGIES:
        raise GlasswingError(f"Unknown strategy={cfg.strategy!r}. Expected one of {STRATEGIES}.")
    for key in ("epochs", "batch_size"):
        if getattr(cfg, key) < 1:
            raise GlasswingError(f"{key} must be >= 1, got {getattr(cfg, key)}.")
    for key in ("seed", "max_train_examples", "patience"):
        if getattr(cfg, key) < 0:
            raise GlasswingError(f"{key} must be >= 0, got {getattr(cfg, key)}.")
    if cfg.learning_rate <= 0:
        raise GlasswingError(f"learning_rate must be > 0, got {cfg.learning_rate}.")
    if not str(cfg.data_dir).strip():
        # An empty data_dir would prepare datasets straight into the working directory.
        raise GlasswingError("data_dir must name a folder (default: data).")


def config_to_dict(cfg) -> dict:
    """A JSON-ready dict of a Config (what ``config.json`` holds)."""
    return dataclasses.asdict(cfg)


def config_from_dict(app: App, values: dict):
    """Rebuilds an app's Config from ``config.json``, ignoring unknown keys.

    Unknown keys are dropped so artifacts written by an older version still load, and a key
    such a version did not write takes the Config's ``SAVED_BEFORE`` value when it has one.

    Raises:
        GlasswingError: Not a JSON object, a value of the wrong type (a string
            where a number belongs), or a value the Config refuses.
    """
    if not isinstance(values, dict):
        raise GlasswingError(f"config.json of {app.name!r} is not a JSON object; retrain the model.")
    hints = typing.get_type_hints(app.Config)
    names = {f.name for f in dataclasses.fields(app.Config)}
    saved_before = getattr(app.Config, "SAVED_BEFORE", {})  # test apps may use a plain dataclass
    values = {k: v for k, v in {**saved_before, **values}.items() if k in names}
    for key, value in values.items():
        expected = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}.get(hints.get(key))
        if expected and (
            not isinstance(value, expected) or (bool not in expected and isinstance(value, bool))
        ):
            raise GlasswingError(
                f"config.json of {app.name!r}: {key}={value!r} is not a {hints[key].__name__}; "
                "retrain the model."
            )
    if "classes" in values:  # JSON has no tuples; keep the Config hashable and comparable
        values["classes"] = tuple(values["classes"])
    try:
        cfg = app.Config(**values)
    except GlasswingError as err:
        raise GlasswingError(f"config.json of {app.name!r}: {err}") from None
    validate_config(cfg)
    return cfg


def class_names(cfg, own: list[str]) -> list[str]:
    """The classes a model of ``cfg`` predicts: a user dataset's (``cfg.classes``), else the app's ``own``."""
    return list(cfg.classes) if cfg.classes else list(own)


def config_hash(cfg) -> str:
    """Short stable hash of a Config: names the resumable work folder of a run."""
    text = json.dumps(config_to_dict(cfg), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:10]
