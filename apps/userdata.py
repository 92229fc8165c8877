"""Your own data: ``glasswing train KIND --data PATH --name NAME``.

A model trained on a user's files is *an app kind plus its artifact folder*:
the app whose :class:`apps.app.OwnData` hook has that ``kind`` (its pipeline,
model, export and explainers, unchanged), trained on a tfds copy of the user's
files, with its class names in ``config.json`` / ``labels.txt`` and the app it
came from in ``app.json``. :func:`resolve` turns ``models/<name>/`` back into
that app, so every verb and dashboard page works on ``<name>`` as on a built-in.

The path from files to the training pipeline:

1. :func:`scan` lists the files (a folder per class, or a CSV's rows) and what
   cannot be used (wrong type, outside a class folder);
2. :func:`read_all` decodes every item once, in parallel, with a progress bar;
   items that fail to decode are skipped and listed, never fatal;
3. :func:`stratified_split` draws a seeded train/validation/test split per class
   (``--test-data`` gives a fixed test set instead);
4. :func:`store` writes the splits as a tfds dataset named by a hash of the
   files and settings, so the next run with the same data reads nothing again;
5. the app's own pipeline reads it through :func:`apps.datasets.examples`.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import io
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from apps.errors import GlasswingError

APP_FILE = "app.json"
REPORT_FILE = "data.json"
BUILDER_NAME = "glasswing_user_data"
VERSION = "1.0.0"
# Notes a dataset folder may hold beside its class folders; not reported as skipped.
_NOTES = (".md", ".txt", ".json", ".csv")
_TEXT_COLUMNS = ("text", "sentence", "review", "message", "content", "body")
_LABEL_COLUMNS = ("label", "class", "category", "intent", "target")
IMBALANCE_WARNING = 10.0
SPLIT_FRACTIONS = {"validation": 0.1, "test": 0.1}


@dataclasses.dataclass
class Scan:
    """What a user's folder or CSV holds, before anything is decoded.

    Attributes:
        items: What the app's ``OwnData.read`` takes: file paths, or texts.
        labels: The class name of each item.
        names: Short names for reports (a relative path, a CSV line).
        skipped: ``(name, why)`` of everything that cannot be used.
        stamp: Sizes and times of the files (or the CSV's bytes), for the cache key.
    """

    items: list
    labels: list[str]
    names: list[str]
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    stamp: str = ""


def scan(own, path, option: str = "--data") -> Scan:
    """Lists the labelled items of ``path`` in the app's layout (``OwnData.layout``).

    Raises:
        GlasswingError: The path is missing or the wrong type, or holds no usable item.
    """
    path = Path(path)
    found = _scan_folder(path, own.extensions, option) if own.layout == "folder" else _scan_csv(path, option)
    if not found.items:
        raise GlasswingError(f"{option} {path} holds no usable example ({_skip_summary(found.skipped)}).")
    return found


def _scan_folder(root: Path, extensions: tuple[str, ...], option: str) -> Scan:
    """``root/<class>/**/<file>``: every file of a known type below a class folder."""
    if not root.is_dir():
        what = "is a file" if root.exists() else "does not exist"
        raise GlasswingError(f"{option} {root} {what}; expected a folder with one sub-folder per class.")
    found, stamp = Scan([], [], []), hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = str(path.relative_to(root))
        parts = path.relative_to(root).parts
        if path.name.startswith("."):
            continue
        if len(parts) == 1:
            if path.suffix.lower() not in _NOTES:
                found.skipped.append((name, "not inside a class folder"))
            continue
        if path.suffix.lower() not in extensions:
            found.skipped.append((name, f"not one of {', '.join(extensions)}"))
            continue
        stat = path.stat()
        stamp.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        found.items.append(path)
        found.labels.append(parts[0])
        found.names.append(name)
    found.stamp = stamp.hexdigest()
    return found


def _pick_column(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[w] for w in wanted if w in lowered), None)


def _scan_csv(path: Path, option: str) -> Scan:
    """A CSV with a text column and a label column (named, or the only two columns)."""
    if path.is_dir():
        raise GlasswingError(f"{option} {path} is a folder; expected a CSV file with text and label columns.")
    if not path.is_file():
        raise GlasswingError(f"{option} {path} does not exist.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise GlasswingError(
            f"{option} {path} is not UTF-8 text ({err.reason} at byte {err.start})."
        ) from None
    reader = csv.DictReader(io.StringIO(text))
    columns = list(reader.fieldnames or [])
    text_col, label_col = _pick_column(columns, _TEXT_COLUMNS), _pick_column(columns, _LABEL_COLUMNS)
    if (text_col is None or label_col is None) and len(columns) == 2:
        text_col, label_col = columns
    if text_col is None or label_col is None:
        raise GlasswingError(
            f"{option} {path}: expected a text column ({'/'.join(_TEXT_COLUMNS)}) and a label column "
            f"({'/'.join(_LABEL_COLUMNS)}); found {', '.join(columns) or 'no header'}."
        )
    found = Scan([], [], [], stamp=hashlib.sha256(raw).hexdigest())
    for line, row in enumerate(reader, start=2):
        label = (row.get(label_col) or "").strip()
        sentence = (row.get(text_col) or "").strip()
        if not label or not sentence:
            found.skipped.append((f"line {line}", "empty text" if label else "no label"))
            continue
        found.items.append(sentence)
        found.labels.append(label)
        found.names.append(f"line {line}")
    return found


def _skip_summary(skipped: list[tuple[str, str]], show: int = 3) -> str:
    if not skipped:
        return "nothing was skipped"
    reasons = collections.Counter(why for _, why in skipped)
    return f"{len(skipped)} skipped: " + "; ".join(f"{n} {why}" for why, n in reasons.most_common(show))


def read_all(own, cfg, found: Scan, progress: bool = True) -> tuple[list, Scan]:
    """Decodes every item once, in parallel; failures move to ``found.skipped``.

    Returns:
        The decoded examples and the :class:`Scan` of the items that decoded.
    """
    from tqdm.auto import tqdm

    def read(item):
        try:
            return own.read(item, cfg), None
        except Exception as err:  # noqa: BLE001 - any decoder failure = one skipped file
            return None, str(err).splitlines()[0][:200] if str(err) else type(err).__name__

    with ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1)) as pool:
        results = list(
            tqdm(pool.map(read, found.items), total=len(found.items), desc="Reading", disable=not progress)
        )
    kept = Scan([], [], [], list(found.skipped), found.stamp)
    examples = []
    for (example, why), item, label, name in zip(results, found.items, found.labels, found.names):
        if why is not None:
            kept.skipped.append((name, why))
            continue
        examples.append(example)
        kept.items.append(item)
        kept.labels.append(label)
        kept.names.append(name)
    return examples, kept


def check_classes(labels: list[str], option: str = "--data", minimum: int = 2) -> list[str]:
    """The sorted class names; refuses data a classifier cannot be trained or tested on.

    Args:
        labels: The class of every example.
        option: The option the data came from, for messages.
        minimum: Examples each class needs: 2 when the data is also split for
            validation and test; 1 beside a fixed ``--test-data`` (one-shot training).

    Raises:
        GlasswingError: Fewer than two classes, or a class with fewer than ``minimum`` examples.
    """
    counts = collections.Counter(labels)
    if len(counts) < 2:
        only = f" (only {next(iter(counts))!r})" if counts else ""
        raise GlasswingError(
            f"{option} needs at least two classes{only}; a classifier needs something to tell apart."
        )
    small = sorted(name for name, n in counts.items() if n < minimum)
    if small:
        raise GlasswingError(
            f"{option}: class{'es' if len(small) > 1 else ''} {', '.join(map(repr, small))} "
            "ha{} fewer than {} examples; add examples or remove the class.".format(
                "ve" if len(small) > 1 else "s", minimum
            )
        )
    return sorted(counts)


def warnings_of(splits: dict, examples_of: dict) -> list[str]:
    """Warnings a user should see: class imbalance above 10:1 and duplicates across splits."""
    notes = []
    counts = collections.Counter(label for split in splits.values() for label in split[1])
    if counts and max(counts.values()) > IMBALANCE_WARNING * min(counts.values()):
        big, small = counts.most_common()[0], counts.most_common()[-1]
        notes.append(
            f"class imbalance {big[1] / small[1]:.0f}:1 ({big[0]!r} {big[1]} vs {small[0]!r} {small[1]}): "
            "accuracy will favour the large class; report macro-F1 or add examples"
        )
    seen: dict[str, str] = {}
    duplicates = 0
    for split, digests in examples_of.items():
        for digest in digests:
            if digest in seen and seen[digest] != split:
                duplicates += 1
            seen.setdefault(digest, split)
    if duplicates:
        notes.append(
            f"{duplicates} identical example(s) appear in more than one split: test accuracy is optimistic"
        )
    return notes


def stratified_split(labels: list[str], seed: int, test: bool = True) -> dict[str, np.ndarray]:
    """Seeded per-class split of item indices into train/validation(/test).

    Every class with n >= 2 examples keeps at least one for training and one for
    validation; with ``test`` a class with n >= 3 also gives at least one to test.
    A class with one example (allowed beside a fixed test set) only trains.
    """
    rng = np.random.default_rng(seed)
    out = {"train": [], "validation": [], "test": []}
    by_class = collections.defaultdict(list)
    for i, label in enumerate(labels):
        by_class[label].append(i)
    for label in sorted(by_class):
        order = rng.permutation(by_class[label])
        n = len(order)
        n_val = max(1, round(SPLIT_FRACTIONS["validation"] * n)) if n >= 2 else 0
        n_test = max(1, round(SPLIT_FRACTIONS["test"] * n)) if test and n >= 3 else 0
        out["validation"] += order[:n_val].tolist()
        out["test"] += order[n_val : n_val + n_test].tolist()
        out["train"] += order[n_val + n_test :].tolist()
    return {k: np.array(sorted(v), dtype=np.int64) for k, v in out.items() if test or k != "test"}


def data_id(name: str, kind: str, cfg, stamps: list[str], settings: dict) -> str:
    """The prepared copy's name: the model name plus a hash of the files and every setting that shapes it."""
    key = json.dumps(
        {"kind": kind, "stamps": stamps, "seed": cfg.seed, **settings}, sort_keys=True, default=str
    )
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "data"
    return f"{slug}_{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def builder_dir(cfg, data: str | None = None) -> Path:
    """Folder of a prepared user dataset: ``<data_dir>/tfds/glasswing_user_data/<id>/1.0.0``."""
    from apps.datasets import tfds_dir

    return tfds_dir(cfg) / BUILDER_NAME / (data or cfg.data) / VERSION


def store(cfg, data: str, feature, classes: list[str], splits: dict, report: dict) -> Path:
    """Writes the splits as a tfds dataset (``{"x", "label"}``) and the data report beside it.

    ``splits`` maps a split name to ``(examples, class names)``. tfds writes into a
    temporary folder and renames it, so an interrupted run leaves no half dataset.
    """
    import tensorflow_datasets as tfds

    from apps import artifacts
    from apps.datasets import tfds_dir

    index = {name: i for i, name in enumerate(classes)}
    features = tfds.features.FeaturesDict({"x": feature, "label": tfds.features.ClassLabel(names=classes)})

    def rows(examples, labels):
        return [(i, {"x": x, "label": index[y]}) for i, (x, y) in enumerate(zip(examples, labels))]

    builder = tfds.dataset_builders.store_as_tfds_dataset(
        name=BUILDER_NAME,
        version=VERSION,
        features=features,
        split_datasets={split: rows(*pair) for split, pair in splits.items()},
        config=data,
        data_dir=str(tfds_dir(cfg)),
        description="A user's own labelled data, read by `glasswing train --data`.",
        disable_shuffling=True,
    )
    artifacts.write_json_atomic(Path(builder.data_dir) / REPORT_FILE, report)
    return Path(builder.data_dir)


def load_split(cfg, split: str):
    """Unbatched ``(x, label)`` of one split of the user dataset ``cfg.data``, offline.

    Raises:
        GlasswingError: The prepared copy is gone (e.g. another machine or a cleaned ``data/``).
    """
    import tensorflow_datasets as tfds

    folder = builder_dir(cfg)
    if not (folder / "dataset_info.json").is_file():
        raise GlasswingError(
            f"The prepared copy of this model's data ({folder}) is missing. Run the model's "
            "training command again (see its metrics.json) to read the files once more."
        )
    builder = tfds.builder_from_directory(str(folder))
    if split not in builder.info.splits:
        raise GlasswingError(
            f"This model's data has no {split!r} split (it has {', '.join(builder.info.splits)})."
        )
    ds = builder.as_dataset(split=split, shuffle_files=False)
    return ds.map(lambda ex: (ex["x"], ex["label"]))


def report_of(cfg) -> dict:
    """The data report stored with a user dataset (counts per split and class, skipped files, warnings)."""
    path = builder_dir(cfg) / REPORT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _digests(examples) -> list[str]:
    return [
        hashlib.sha1(np.asarray(x).tobytes() if not isinstance(x, str) else x.encode()).hexdigest()
        for x in examples
    ]


def prepare(app, cfg, name: str, data_path, test_path=None, progress: bool = True, configure: bool = True):
    """Reads, checks, splits and stores a user's data once; returns ``cfg`` set to train on it.

    Args:
        app: A built-in app with an :class:`apps.app.OwnData` hook.
        cfg: Its Config (seed, data_dir and the settings ``OwnData.read`` uses).
        name: The model name (names the prepared copy).
        data_path: The user's folder or CSV.
        test_path: Optional fixed test set in the same layout; then ``data_path``
            is split into train and validation only.
        progress: Show progress bars while reading.
        configure: Let the app set what follows from the data (``OwnData.configure``,
            e.g. colour); off when a starting model (``--from``) fixes the input.

    Returns:
        ``cfg`` with ``data`` (the prepared copy's id) and ``classes`` set.

    Raises:
        GlasswingError: Unusable data (see :func:`scan` and :func:`check_classes`),
            or ``--test-data`` classes that differ from ``--data``'s.
    """
    own = app.own_data
    found = scan(own, data_path)
    tests = scan(own, test_path, "--test-data") if test_path else None
    if configure and own.configure is not None:
        cfg = own.configure(cfg, found.items)
    settings = {"config": {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _TRAINING_ONLY}}
    data = data_id(name, own.kind, cfg, [found.stamp, tests.stamp if tests else ""], settings)
    if (builder_dir(cfg, data) / "dataset_info.json").is_file():
        stored = report_of(dataclasses.replace(cfg, data=data))
        print(
            f"Using the prepared copy of {data_path} ({builder_dir(cfg, data)}): {stored.get('summary', '')}"
        )
        return dataclasses.replace(cfg, data=data, classes=tuple(stored["classes"]))
    minimum = 2 if tests is None else 1
    _check_test_classes(check_classes(found.labels, minimum=minimum), tests)
    splits, found, skipped = _read_and_split(own, cfg, found, tests, minimum, progress)
    user_classes = sorted(set(found.labels))
    fallback = _validation_fallback(splits) if own.fill is None else []
    classes = _add_filled(own, cfg, splits, tests, user_classes)
    _check_test_classes(classes, tests, added=True)
    warnings = (
        fallback
        + (own.check(found.items) if own.check else [])
        + warnings_of(
            {s: pair for s, pair in splits.items() if not (fallback and s == "validation")},
            {s: _digests(pair[0]) for s, pair in splits.items() if not (fallback and s == "validation")},
        )
    )
    counts = {s: dict(sorted(collections.Counter(pair[1]).items())) for s, pair in splits.items()}
    summary = ", ".join(f"{s} {len(pair[1])}" for s, pair in splits.items()) + f"; {len(classes)} classes"
    report = {
        "source": str(data_path),
        "test_source": str(test_path) if test_path else None,
        "kind": own.kind,
        "classes": classes,
        "counts": counts,
        "added": sorted(set(classes) - set(user_classes)),
        "skipped": [{"file": n, "why": why} for n, why in skipped],
        "warnings": warnings,
        "summary": summary,
    }
    folder = store(cfg, data, own.feature(cfg), classes, splits, report)
    print(f"Stored {summary} in {folder}; {_skip_summary(skipped)}.", flush=True)
    for note in warnings:
        print(f"Warning: {note}", flush=True)
    return dataclasses.replace(cfg, data=data, classes=tuple(classes))


def _check_test_classes(classes: list[str], tests: Scan | None, added: bool = False) -> None:
    """A fixed test set tests every class of ``--data`` (before reading), and no other (after additions).

    Raises:
        GlasswingError: Names the classes missing from, or foreign to, ``--test-data``.
    """
    if tests is None:
        return
    have, want = set(tests.labels), set(classes)
    bad = sorted(have - want) if added else sorted(want - have)
    if bad:
        why = f"{', '.join(bad)} never appear in --data" if added else f"no test example of {', '.join(bad)}"
        raise GlasswingError(
            f"--test-data classes ({', '.join(sorted(have))}) differ from --data's "
            f"({', '.join(classes)}): {why}."
        )


def _read_and_split(own, cfg, found: Scan, tests: Scan | None, minimum: int, progress: bool):
    """Decodes the files once and splits them: ``({split: (examples, classes)}, readable Scan, skipped)``.

    Raises:
        GlasswingError: Too few readable examples per class, or none left for a test split.
    """
    examples, found = read_all(own, cfg, found, progress)
    check_classes(found.labels, minimum=minimum)  # again: decoding may have dropped files
    order = stratified_split(found.labels, cfg.seed, test=tests is None)
    splits = {s: ([examples[i] for i in idx], [found.labels[i] for i in idx]) for s, idx in order.items()}
    skipped = list(found.skipped)
    if tests is not None:
        test_examples, tests = read_all(own, cfg, tests, progress)
        splits["test"] = (test_examples, tests.labels)
        skipped += [(f"test: {n}", why) for n, why in tests.skipped]
    if not splits["test"][0]:
        raise GlasswingError("Too few examples to hold out a test split; add examples or pass --test-data.")
    return splits, found, skipped


def _validation_fallback(splits: dict) -> list[str]:
    """One-shot data beside a fixed test set leaves nothing to validate on: the training examples stand in.

    Returns the warning that says so (empty when validation has examples).
    """
    if splits["validation"][0]:
        return []
    splits["validation"] = splits["train"]
    return [
        "no example was left for validation (one per class): checkpoint choice uses the training examples"
    ]


def _add_filled(own, cfg, splits: dict, tests: Scan | None, user_classes: list[str]) -> list[str]:
    """Adds the app's own examples (``OwnData.fill``) to ``splits``; returns the full class list.

    A fixed test set that brings its own examples of an added class keeps only those.
    """
    if own.fill is None:
        return user_classes
    classes, extra = own.fill(cfg, dict(collections.Counter(splits["train"][1])), cfg.seed)
    for split, pairs in extra.items():
        pairs = [
            (x, y) for x, y in pairs if not (split == "test" and tests is not None and y in tests.labels)
        ]
        splits[split] = (splits[split][0] + [x for x, _ in pairs], splits[split][1] + [y for _, y in pairs])
    return classes


# Config fields that change training, not the stored examples: not part of a prepared copy's key.
_TRAINING_ONLY = {
    "epochs", "batch_size", "learning_rate", "warmup_fraction", "patience", "strategy", "mixed_precision",
    "jit_compile", "max_train_examples", "augment", "baselines", "data", "classes", "data_dir",
}  # fmt: skip


def user_app(base, name: str):
    """The App of a model trained on a user's data: ``base`` under the model's own name.

    Its artifacts also record where it came from (``app.json``) and the data
    report (``data.json``: counts per split and class, skipped files, warnings).
    """

    def artifact_files(cfg) -> dict[str, str]:
        files = dict(base.artifact_files(cfg)) if base.artifact_files else {}
        files[APP_FILE] = (
            json.dumps({"app": base.name, "kind": base.own_data.kind, "data": cfg.data}, indent=2) + "\n"
        )
        files[REPORT_FILE] = json.dumps(report_of(cfg), indent=2) + "\n"
        return files

    def prepare_summary(cfg, progress=True) -> str:
        return report_of(cfg).get("summary", "") or f"{builder_dir(cfg)} is missing"

    return dataclasses.replace(
        base,
        name=name,
        description=f"Your {base.own_data.kind} classifier {name!r} ({base.name}'s architecture, your data)",
        artifact_files=artifact_files,
        prepare=prepare_summary,
    )


def resolve(name: str, models_dir):
    """The App of ``models_dir/name`` when it holds a model trained on a user's data; else None."""
    path = Path(models_dir) / name / APP_FILE
    if not path.is_file():
        return None
    from apps import APPS

    try:
        base = APPS[json.loads(path.read_text(encoding="utf-8"))["app"]]
    except (KeyError, TypeError, ValueError, json.JSONDecodeError):
        raise GlasswingError(f"{path} is corrupt or names an unknown app; retrain {name!r}.") from None
    return user_app(base, name)


def models_dir_of(name: str, folder) -> Path:
    """The artifact root above ``folder`` that holds model ``name`` (for children given only a folder)."""
    folder = Path(folder).resolve()
    return next((p for p in (folder, *folder.parents) if (p / name / APP_FILE).is_file()), Path("models"))


def kinds() -> dict:
    """``{kind: app}`` of every registered app that can train on a user's data."""
    from apps import APPS

    return {app.own_data.kind: app for app in APPS.values() if app.own_data is not None}


def kind_app(kind: str):
    """The app that trains on a user's data of ``kind`` (``image``, ``text``, ``speech``; or that app's name).

    Raises:
        GlasswingError: No app reads that kind of data; the message lists the kinds.
    """
    options = kinds()
    by_name = {app.name: app for app in options.values()}
    app = options.get(kind) or by_name.get(kind)
    if app is None:
        raise GlasswingError(
            f"--data: {kind!r} is not a kind of data Glasswing trains on; "
            f"use one of {', '.join(sorted(options))}."
        )
    return app


def check_name(name: str | None, models_dir) -> str:
    """A valid new model name: a plain folder name that is not a built-in app's.

    Raises:
        GlasswingError: Missing, a path, a built-in app's name, or a folder that holds another kind of model.
    """
    from apps import APPS

    if not name:
        raise GlasswingError("--data needs --name NAME: the new model is written to MODELS_DIR/NAME.")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise GlasswingError(
            f"--name {name!r}: use letters, digits, '_', '-' or '.' (no '/' or spaces), at most 64."
        )
    if name in APPS:
        raise GlasswingError(f"--name {name!r} is a built-in app's; pick another name.")
    folder = Path(models_dir) / name
    if (folder / "model.keras").is_file() and not (folder / APP_FILE).is_file():
        raise GlasswingError(f"{folder} holds a model that was not trained with --data; pick another name.")
    return name


def fit_small_data(cfg, explicit: set[str] = frozenset()):
    """Batch size and epochs for a small dataset, unless set on the command line (``explicit``).

    Small = fewer than 8 batches of the app's batch size. Then: at least 8 steps
    per epoch (a smaller batch) and :data:`MIN_STEPS` steps in all
    (more epochs, at most :data:`MAX_EPOCHS`): five recordings per word are a few
    batches, and the app's epoch count was chosen for thousands of examples.
    Measured on few-shot keywords (words other than the reported ones): 20 epochs
    gave 0.62, 40 gave 0.75 (fully fine-tuned).
    """
    counts = report_of(cfg).get("counts", {}).get("train", {})
    n = sum(counts.values())
    if not n or n / cfg.batch_size >= 8:  # not small: the app's own settings hold
        return cfg
    batch, epochs = cfg.batch_size, cfg.epochs
    if "batch_size" not in explicit:
        while batch > 4 and n / batch < 8:
            batch //= 2
    if "epochs" not in explicit:
        steps = -(-n // batch)
        epochs = min(MAX_EPOCHS, max(epochs, -(-MIN_STEPS // steps)))
    if (batch, epochs) != (cfg.batch_size, cfg.epochs):
        print(
            f"{n} training examples: batch size {batch}, up to {epochs} epochs (at least {MIN_STEPS} steps).",
            flush=True,
        )
    return dataclasses.replace(cfg, batch_size=batch, epochs=epochs)


MIN_STEPS = 500
MAX_EPOCHS = 100
