"""The ``glasswing`` command line: train, evaluate, export, explain, generate, data prepare, dashboard.

Every verb takes the app by name and works through the App protocol; errors a
user can fix are printed as one line (no traceback) with exit status 2.
"""

from __future__ import annotations

import argparse
import errno
import os
import shlex
import subprocess
import sys
from pathlib import Path

from apps.errors import GlasswingError

QUANT_CHOICES = ("float32", "dynamic", "float16", "int8", "all")


def _add_app(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("app", help="app name (see `glasswing list`)")
    parser.add_argument(
        "--models-dir",
        default="models",
        help="root of the artifact folders; the app's live in MODELS_DIR/APP (default: models)",
    )


def _add_input(parser: argparse.ArgumentParser, required: bool = True) -> None:
    source = parser.add_mutually_exclusive_group(required=required)
    source.add_argument("--input", help="input file: an image, an audio file, or a UTF-8 text file")
    source.add_argument("--text", help="input text (text apps)")


def _add_overrides(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one Config field, coerced to its type (repeatable), e.g. --set epochs=5",
    )
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="start from Config.tiny() (seconds-long settings) instead of the real defaults",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every verb, with help for every option."""
    parser = argparse.ArgumentParser(
        prog="glasswing",
        description="Train, evaluate, export and explain the Glasswing Keras apps.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    verbs.add_parser("list", help="list the apps and whether each has a trained model")

    from apps.app import STRATEGIES  # no TensorFlow import: --help stays fast

    p = verbs.add_parser(
        "train",
        help="train an app and write models/APP/ atomically; or train on your own data (--data)",
        description="Train a built-in app (`glasswing train image`), or a classifier on your own data: "
        "`glasswing train image --data photos/ --name parts` (one sub-folder per class), "
        "`glasswing train text --data tickets.csv --name support` (text and label columns), "
        "`glasswing train speech --data words/ --name home` (one sub-folder per word).",
    )
    _add_app(p)
    _add_overrides(p)
    p.add_argument(
        "--data",
        metavar="PATH",
        help="your own labelled data: a folder with one sub-folder per class (image, speech) or a CSV "
        "with a text and a label column (text); APP is then the kind: image, text or speech",
    )
    p.add_argument("--name", help="with --data: the new model's name; it is written to MODELS_DIR/NAME")
    p.add_argument(
        "--test-data",
        metavar="PATH",
        help="with --data: a fixed test set in the same layout (default: 10%% of --data, stratified)",
    )
    p.add_argument(
        "--from",
        dest="from_model",
        metavar="MODEL",
        help="with --data: start from a trained model's backbone (a built-in such as speech, or any "
        "model under MODELS_DIR), or image: a keras.applications backbone (mobilenet_v3_small, "
        "mobilenet_v3_large) with ImageNet weights; a new head is trained first, then the model "
        "is fine-tuned",
    )
    p.add_argument(
        "--freeze",
        type=float,
        default=0.0,
        help="with --from: fraction of the backbone's layers kept frozen while fine-tuning, input side "
        "first (0 = fine-tune all of it, the default; 1 = train the new head only)",
    )
    p.add_argument("--tensorboard", action="store_true", help="also write TensorBoard logs")
    p.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default=None,
        help="distribution strategy (same as --set strategy=...): auto, one device, mirrored over "
        "local GPUs, or multiworker over the hosts in TF_CONFIG",
    )

    p = verbs.add_parser("evaluate", help="evaluate the trained model on the test split or on your own data")
    _add_app(p)
    p.add_argument(
        "--split",
        default="test",
        choices=("train", "validation", "test"),
        help="which split to evaluate (default: test)",
    )
    p.add_argument(
        "--data",
        help="score your own labelled data instead: a file (text apps: a CSV with text,label columns or "
        "VADER id<TAB>score<TAB>text lines) or a folder (audio apps: <class>/ folders or <class>.wav names)",
    )
    p.add_argument(
        "--tflite", choices=QUANT_CHOICES[:-1], help="with --data: score the exported file of this mode"
    )
    p.add_argument(
        "--json", dest="json_out", metavar="FILE", help="with --data: also write the report as JSON"
    )
    p.add_argument(
        "--record",
        metavar="NAME",
        help="with --data: add the result to the model's metrics.json and model card as domain NAME",
    )

    p = verbs.add_parser("export", help="export the trained model to TF Lite and verify it")
    _add_app(p)
    p.add_argument(
        "--quant",
        default="all",
        choices=QUANT_CHOICES,
        help="quantization mode; `all` exports the four modes (default: all)",
    )

    p = verbs.add_parser(
        "pack",
        help="leave a trained model's frozen pretrained weights out of its folder (unpack rebuilds them)",
        description="Writes packed.json and packed.weights.npz (the weights that trained) beside "
        "model.keras, and a .gitignore for model.keras and the .tflite files, so the folder can be "
        "committed or shared without the pretrained weights an installed package already ships.",
    )
    _add_app(p)
    p = verbs.add_parser(
        "unpack",
        help="rebuild model.keras and the TF Lite files of every packed folder (make install runs it)",
    )
    p.add_argument("--models-dir", default="models", help="folder of the app folders (default: models)")

    from apps.optimize.cli import add_parser as add_optimize_parser

    add_optimize_parser(verbs)

    p = verbs.add_parser("predict", help="classify one input with the trained model (and a .tflite)")
    _add_app(p)
    _add_input(p)
    p.add_argument("--top-k", type=int, default=3, help="how many classes to show (default: 3)")
    p.add_argument(
        "--tflite",
        choices=("float32", "dynamic", "float16", "int8"),
        default=None,
        help="also run tflite/MODE.tflite in the LiteRT interpreter and show both "
        "(with --scan: detections from the .tflite file, checked window by window against Keras)",
    )
    p.add_argument(
        "--scan",
        action="store_true",
        help="audio: classify every 1-s window of a long recording (quarter-second hops) and list "
        "where each keyword was heard, instead of classifying the loudest second",
    )
    p.add_argument(
        "--min-prob",
        type=float,
        default=None,
        help="--scan: lowest top-1 probability that counts as a detection (default: 0.5)",
    )
    p.add_argument(
        "--min-windows",
        type=int,
        default=None,
        help="--scan: fewest agreeing windows in a detection, except at the recording's edges "
        "(default: 2; 1 reports every window)",
    )

    p = verbs.add_parser(
        "explain", help="explain one prediction of the trained model, or what it relies on (--global)"
    )
    _add_app(p)
    p.add_argument(
        "--method",
        default=None,
        help="explainer name (see the error for the list; --global: integrated_gradients)",
    )
    _add_input(p, required=False)
    p.add_argument(
        "--global",
        dest="global_",
        action="store_true",
        help="explain many labelled examples for their true class and write what the model relies on "
        "per class (class-average maps, or the tokens that push each class) to --out REPORT.html",
    )
    p.add_argument(
        "--data",
        default=None,
        help="--global: your labelled folder or file (as for `evaluate --data`) instead of the test split",
    )
    p.add_argument(
        "--compare",
        default=None,
        metavar="FOLDER",
        help="compare this model's explanations with another trained model of the same app (its folder, "
        "e.g. before fine-tuning): rank correlation of the maps per method over test examples",
    )
    p.add_argument(
        "--per-class",
        type=int,
        default=None,
        help="--global / --compare: test examples per class (default: 20 / 5)",
    )
    p.add_argument("--target", type=int, default=None, help="class index to explain (default: predicted)")
    p.add_argument(
        "--out",
        default=None,
        help="write the attribution map to this PNG; for audio apps a .wav plays the clip as recorded, "
        "with only the top-attributed regions, and without them",
    )
    p.add_argument(
        "--keep",
        type=float,
        default=None,
        help="with --out FILE.wav: share of the time x frequency regions kept (default: 0.25)",
    )

    p = verbs.add_parser("generate", help="generate with a trained generator (images or text)")
    _add_app(p)
    # Defaults are None so that an option given to the wrong kind of generator can be named.
    p.add_argument("--n", type=int, default=None, help="image generators: how many samples (default: 16)")
    p.add_argument("--out", default=None, help="image generators: write the sample grid to this PNG")
    p.add_argument("--prompt", default=None, help="text generators: the text to continue")
    p.add_argument(
        "--length", type=int, default=None, help="text generators: characters to add (default: 300)"
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=None,
        help="text generators: sampling temperature > 0 (default: 1)",
    )
    p.add_argument(
        "--top-k", type=int, default=None, help="text generators: sample from the k likeliest only (0 = all)"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same output")

    data = verbs.add_parser("data", help="dataset commands")
    data_verbs = data.add_subparsers(dest="data_verb", required=True, metavar="ACTION")
    p = data_verbs.add_parser("prepare", help="prepare an app's dataset once (offline)")
    p.add_argument("app", help="app name")
    _add_overrides(p)

    p = verbs.add_parser("dashboard", help="start the Streamlit dashboard")
    p.add_argument("--port", type=int, default=8501, help="port to serve on (default: 8501)")
    p.add_argument(
        "--address", default="localhost", help="address to bind (default: localhost; 0.0.0.0 exposes it)"
    )
    p.add_argument("--models-dir", default="models", help="artifact root (default: models)")
    return parser


def _config(app, args):
    from apps.app import apply_overrides

    base = app.Config.tiny() if args.tiny else app.Config()
    return apply_overrides(base, args.overrides)


def _cmd_list(args) -> int:
    from apps import APPS, get_app
    from apps.artifacts import list_trained

    trained = list_trained("models")
    for name, app in APPS.items():
        status = "trained" if name in trained else "not trained"
        print(f"{name:12s} {app.task:9s} {app.modality:6s} {status:12s} {app.description}")
    for name in (n for n in trained if n not in APPS):
        try:
            app = get_app(name)
        except GlasswingError:
            continue  # a folder that is not a model of ours
        print(f"{name:12s} {app.task:9s} {app.modality:6s} {'trained':12s} {app.description}")
    return 0


def _cmd_train(args) -> int:
    from apps import get_app
    from apps.app import apply_overrides
    from apps.train import train

    user_only = {"--name": args.name, "--test-data": args.test_data, "--from": args.from_model}
    if args.data is not None:
        return _train_own(args)
    given = [option for option, value in user_only.items() if value is not None]
    if given:
        raise GlasswingError(
            f"{', '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to --data (your own data)."
        )
    from apps import APPS

    if args.app not in APPS:  # a model trained on a user's data is retrained with its --data command
        get_app(args.app)
        raise GlasswingError(
            f"{args.app!r} was trained on your data: run its command again (see its metrics.json)."
        )
    app = get_app(args.app)
    cfg = _config(app, args)
    if args.strategy:
        cfg = apply_overrides(cfg, [f"strategy={args.strategy}"])
    train(app, cfg, args.models_dir, tensorboard=args.tensorboard, command=_command_line())
    return 0


def _command_line() -> str | None:
    return shlex.join(["glasswing", *sys.argv[1:]]) if sys.argv else None


def _train_own(args) -> int:
    """``train KIND --data PATH --name NAME [--test-data PATH] [--from MODEL]``: a model on your data."""
    import dataclasses

    from apps import transfer, userdata
    from apps.app import apply_overrides
    from apps.train import train

    app = userdata.kind_app(args.app)
    name = userdata.check_name(args.name, args.models_dir)
    # A user's classes are rarely balanced (a few recordings per word beside many
    # `_unknown_` ones): weight them equally unless the command line says otherwise.
    args.overrides = ["balance_classes=true", *args.overrides]
    source = None
    if args.from_model in app.own_data.backbones:
        base = app.Config.tiny() if args.tiny else app.Config()
        start = dataclasses.replace(base, **app.own_data.backbones[args.from_model])
        cfg = apply_overrides(start, args.overrides)
        source = app.build(cfg)  # fetches the pretrained weights now, before any file is read
    elif args.from_model:
        source_app, _, source_cfg, source = transfer.load_source(args.from_model, args.models_dir)
        cfg = apply_overrides(transfer.start_config(app, source_app, source_cfg), args.overrides)
    else:
        cfg = _config(app, args)
    if args.strategy:
        cfg = apply_overrides(cfg, [f"strategy={args.strategy}"])
    cfg = userdata.prepare(app, cfg, name, args.data, args.test_data, configure=source is None)
    cfg = userdata.fit_small_data(cfg, explicit={o.partition("=")[0].strip() for o in args.overrides})
    user = userdata.user_app(app, name)
    if source is not None:
        transfer.train_from(user, cfg, source, args.freeze, args.models_dir, name, _command_line())
    else:
        train(user, cfg, args.models_dir, tensorboard=args.tensorboard, command=_command_line(), name=name)
    return 0


def _cmd_evaluate(args) -> int:
    import json

    from apps import artifacts, get_app
    from apps.evaluate import evaluate

    if args.data is not None:
        return _evaluate_data(args)
    if args.tflite or args.json_out or args.record:
        raise GlasswingError("--tflite, --json and --record apply to --data.")
    app = get_app(args.app, args.models_dir)
    folder = artifacts.require_model_dir(args.models_dir, app)
    cfg, model = artifacts.load_trained(app, folder)
    metrics = evaluate(app, model, cfg, args.split)
    metrics.pop("per_class", None)
    print(json.dumps(metrics, indent=2))
    return 0


def _evaluate_data(args) -> int:
    """``evaluate --data``: the model (or an exported file) on the user's labelled data."""
    from apps import artifacts, labelled

    if args.json_out:
        artifacts.check_output_path(args.json_out, (".json",))
    app, folder, cfg, model = _load_trained(args)
    if app.labelled is None:
        raise GlasswingError(f"App {app.name!r} cannot read labelled data (--data).")
    lite = _exported(app, folder, args.tflite) if args.tflite else None
    data = app.labelled(args.data, app.labels(cfg))
    print(
        f"Scoring {len(data.inputs)} labelled inputs from {args.data} with "
        f"{f'{args.tflite}.tflite' if lite else 'the Keras model'} ...",
        flush=True,
    )
    probs, kept = labelled.predict(app, folder, cfg, model, data, lite)
    metrics = labelled.report(probs, kept, app.labels(cfg))
    metrics.update(data=Path(args.data).name, model=f"{args.tflite}.tflite" if lite else "keras")
    print(labelled.format_report(metrics))
    if args.json_out:
        artifacts.write_json_atomic(Path(args.json_out), metrics)
        print(f"Wrote {args.json_out}")
    if args.record:
        artifacts.record_domain(app, folder, cfg, model, args.record, metrics)
        print(f"Recorded as {args.record!r} in {folder / artifacts.METRICS_FILE} and the model card")
    return 0


def _cmd_export(args) -> int:
    from apps import get_app
    from apps.export import export

    app = get_app(args.app, args.models_dir)
    report = export(app, args.models_dir, args.quant)
    failed = [mode for mode, row in report.items() if row.get("error")]
    return 1 if failed else 0


def _cmd_pack(args) -> int:
    from apps import artifacts, get_app, packed

    app = get_app(args.app, args.models_dir)
    report = packed.pack(app, artifacts.require_model_dir(args.models_dir, app))
    print(
        f"Packed {app.name}: {report['trained_parameters']:,} trained parameters kept, "
        f"{report['frozen_parameters']:,} frozen ones left to `glasswing unpack`."
    )
    return 0


def _cmd_unpack(args) -> int:
    from apps import packed

    done = packed.unpack_all(args.models_dir)
    print(f"Unpacked: {', '.join(done)}." if done else "Nothing to unpack.")
    return 0


def _raw_input(app, args):
    """The raw input the app's preprocess takes: ``--text``, or the file through ``App.read_file``."""
    if args.text is not None:
        if app.modality != "text":
            raise GlasswingError(
                f"--text applies to text apps; {app.name!r} reads {app.modality} files: give --input FILE."
            )
        return args.text
    path = Path(args.input)
    if path.is_dir():
        raise GlasswingError(f"--input {path} is a folder; give one file.")
    if not path.is_file():
        raise GlasswingError(f"Input file {path} does not exist.")
    return app.read_file(path) if app.read_file is not None else path


def _load_trained(args, check=None):
    """(app, folder, cfg, model) of a trained classifier; ``check(app)`` runs before the model loads."""
    from apps import artifacts, get_app

    app = get_app(args.app, args.models_dir)
    if app.task != "classify":
        raise GlasswingError(f"{args.verb} applies to classifier apps; {app.name!r} is a {app.task} app.")
    if check is not None:
        check(app)
    folder = artifacts.require_model_dir(args.models_dir, app)
    cfg, model = artifacts.load_trained(app, folder)
    return app, folder, cfg, model


def _say_input_note(folder, x) -> None:
    from apps import artifacts

    note = artifacts.input_note(folder, x)
    if note:
        print(note)


def _load_for_input(args):
    """(app, folder, cfg, model, x): the trained model and the preprocessed input."""
    app, folder, cfg, model = _load_trained(args)
    return app, folder, cfg, model, app.preprocessor(folder)(_raw_input(app, args))


def _cmd_predict(args) -> int:
    import numpy as np

    from apps import get_app

    if args.top_k < 1:
        raise GlasswingError(f"--top-k must be >= 1, got {args.top_k}.")
    if get_app(args.app, args.models_dir).task != "classify":
        raise GlasswingError(
            f"`predict` shows class probabilities; {args.app!r} is a generator: "
            f"use `glasswing generate {args.app}`."
        )
    if args.scan:
        return _scan(args)
    _refuse_given(args, ("min_prob", "min_windows"), "they are the detection thresholds of --scan")
    app, folder, cfg, model, x = _load_for_input(args)
    labels = app.labels(cfg)
    _say_input_note(folder, x)
    signal = None
    if app.raw is not None:
        # Raw-input apps (speech): say what was heard (resampled? which window?); the
        # .tflite takes that signal and computes the features itself.
        signal, note = app.raw.load(_raw_input(app, args), cfg)
        if note:
            print(f"input: {note}")
    columns = {"keras": np.asarray(model(x[None], training=False))[0]}
    if args.tflite:
        lite_input = x if signal is None else signal
        columns[f"tflite {args.tflite}"] = _exported(app, folder, args.tflite)(lite_input[None])[0]
    order = np.argsort(-columns["keras"])[: args.top_k]
    print(f"{'class':20s}" + "".join(f"{name:>16s}" for name in columns))
    for k in order:
        print(f"{labels[k]:20s}" + "".join(f"{probs[k]:16.4f}" for probs in columns.values()))
    if args.tflite:
        same = int(np.argmax(columns["keras"])) == int(np.argmax(columns[f"tflite {args.tflite}"]))
        print(f"top-1 agreement: {'yes' if same else 'NO'}")
    return 0


def _exported(app, folder, mode: str):
    """The app's exported ``tflite/MODE.tflite`` in the LiteRT interpreter, or a clear error."""
    from apps.litert import LiteRTModel

    path = folder / "tflite" / f"{mode}.tflite"
    if not path.is_file():
        raise GlasswingError(f"No {path}. Export it with `glasswing export {app.name} --quant {mode}`.")
    return LiteRTModel(path)


def _scan(args) -> int:
    """``predict --scan``: every window of a recording, merged into keyword detections.

    With ``--tflite MODE`` the detections are the exported file's (the model a user
    deploys), and the Keras model's top-1 per window is printed beside it as a check.
    """
    from apps import scan

    min_prob = _given_or(args.min_prob, 0.5)
    if not 0.0 < min_prob <= 1.0:
        raise GlasswingError(f"--min-prob must be in (0, 1], got {min_prob}.")
    min_windows = _given_or(args.min_windows, scan.MIN_WINDOWS)
    if min_windows < 1:
        raise GlasswingError(f"--min-windows must be 1 or more, got {min_windows}.")
    app, folder, cfg, model = _load_trained(args, check=scan.require_scannable)
    lite = _exported(app, folder, args.tflite) if args.tflite else None
    signals, spans, note = scan.windows(app, cfg, _raw_input(app, args))
    print(f"input: {note}")
    probs = scan.classify(app, model, cfg, signals)
    if lite is not None:
        # The exported file computes the features itself: it takes the raw windows.
        keras_top, probs = probs.argmax(1), lite(signals)
        agree = int((probs.argmax(1) == keras_top).sum())
        print(f"{args.tflite}.tflite: top-1 agrees with the Keras model on {agree}/{len(signals)} windows")
    found = scan.detections(probs, spans, app.labels(cfg), min_prob, min_windows)
    if not found:
        print(f"no keyword heard with probability >= {min_prob:g} in {min_windows} or more windows")
        return 0
    print(f"{'from s':>8s}{'to s':>8s}  {'keyword':20s}{'prob':>8s}{'windows':>9s}")
    for d in found:
        print(f"{d.start_s:8.2f}{d.end_s:8.2f}  {d.label:20s}{d.prob:8.4f}{d.windows:9d}")
    return 0


def _cmd_explain(args) -> int:
    import time

    import numpy as np

    import xai
    from apps import artifacts, get_app
    from xai import listen
    from xai.render import save_attribution_png

    if args.global_ and args.compare:
        raise GlasswingError("Use --global or --compare, not both.")
    if args.global_ or args.compare:
        # Both explain many test (or --data) examples: options about one input do not apply.
        many = "--global and --compare explain many examples"
        _refuse_given(args, ("input", "text", "target", "keep"), many)
        if args.compare:
            _refuse_given(args, ("data",), "--compare explains test examples (--data is for --global)")
        return _explain_global(args) if args.global_ else _explain_compare(args)
    _refuse_given(args, ("data", "per_class"), "they choose the examples of --global and --compare")
    if args.input is None and args.text is None:
        raise GlasswingError("Give the input to explain with --input FILE or --text TEXT (or use --global).")
    if args.method is None:
        raise GlasswingError("Give the explainer with --method (e.g. --method integrated_gradients).")
    explainer = xai.get_explainer(args.method)
    registered = get_app(args.app, args.models_dir)
    _require_methods(registered, [args.method])
    hearable = listen.supports(registered)
    if args.out:
        artifacts.check_output_path(args.out, (".png", ".wav") if hearable else (".png",))
    if args.keep is not None and not str(args.out or "").lower().endswith(".wav"):
        raise GlasswingError("--keep does not apply here: it sets how much of the clip --out FILE.wav keeps.")
    keep = _given_or(args.keep, 0.25)
    if not 0.0 < keep < 1.0:
        raise GlasswingError(f"--keep must be between 0 and 1, got {keep}.")
    app, folder, cfg, model, x = _load_for_input(args)
    labels = app.labels(cfg)
    _say_input_note(folder, x)
    probs = np.asarray(model(x[None], training=False))[0]
    print(f"Explaining {app.name} with {args.method} ...", flush=True)
    start = time.perf_counter()
    tokens = artifacts.token_strings(folder, x)  # None unless the model has a vocabulary
    options = {"tokens": tokens} if tokens is not None else {}
    attribution = explainer.explain(app, model, x, target=args.target, **options)
    elapsed = time.perf_counter() - start
    target = attribution.target
    print(
        f"predicted {labels[int(probs.argmax())]} ({probs.max():.3f}); explained {labels[target]} "
        f"({probs[target]:.3f}) in {elapsed:.2f} s"
    )
    if attribution.tokens:
        ranked = sorted(
            (i for i, token in enumerate(attribution.tokens) if token),
            key=lambda i: -abs(float(attribution.values[i])),
        )
        print(
            "top tokens: "
            + ", ".join(f"{attribution.tokens[i]} {attribution.values[i]:+.3f}" for i in ranked[:5])
        )
    for key, value in attribution.extra.items():
        if isinstance(value, (int, float)):
            print(f"{key}: {value:.4g}")
    if args.out and Path(args.out).suffix.lower() == ".wav":
        _write_listening(app, cfg, model, _raw_input(app, args), attribution, labels, args, keep)
    elif args.out:
        save_attribution_png(attribution, x, args.out, title=f"{args.method}: {labels[target]}")
        print(f"Wrote {args.out}")
    return 0


def _explain_global(args) -> int:
    """``explain --global``: what the model relies on per class, over the test split or ``--data``."""
    import time

    import numpy as np

    from apps import artifacts, labelled
    from xai import insights, segments
    from xai.render import insights_html

    if args.out is None:
        raise GlasswingError("--global writes a report: give --out REPORT.html.")
    artifacts.check_output_path(args.out, (".html",))
    per_class = _per_class(args, 20)
    app, folder, cfg, model = _load_trained(args)
    method = args.method or "integrated_gradients"
    _require_methods(app, [method])
    names = app.labels(cfg)
    if args.data:
        if app.labelled is None:
            raise GlasswingError(f"App {app.name!r} cannot read labelled data (--data).")
        xs, kept = labelled.read(app, folder, cfg, app.labelled(args.data, names))
        ys, source = np.array([names.index(label) for label in kept.labels]), str(args.data)
    else:
        xs, ys = _test_split(app, cfg)
        source = "the test split"
    chosen = insights.sample_per_class(ys, per_class)
    print(f"Explaining {len(chosen)} examples from {source} with {method} ...", flush=True)
    started = time.perf_counter()

    def progress(done, total):
        if done == total or time.perf_counter() - progress.last > 5:
            progress.last = time.perf_counter()
            print(f"  {done}/{total} explained ({progress.last - started:.0f} s)", flush=True)

    progress.last = started
    result = insights.insights(
        app,
        model,
        xs[chosen],
        ys[chosen],
        names,
        method,
        source,
        lambda ids: artifacts.token_strings(folder, ids),
        progress,
    )
    html = insights_html(result, time_major=segments.time_major(app.modality))
    artifacts.write_bytes_atomic(Path(args.out), html.encode("utf-8"))
    for c in result.classes:
        top = ", ".join(f"{p.token} {p.mean:+.3f}" for p in c.pushes_for[:5])
        print(
            f"{c.label:20s} {c.count:4d} examples  accuracy {c.accuracy:.3f}"
            + (f"  pushed by: {top}" if top else "")
        )
    print(f"Wrote {args.out}")
    return 0


def _require_methods(app, methods) -> None:
    """Raises one clear line when a method does not apply to ``app``, naming those that do."""
    import xai

    available = xai.available(app)
    if not available:
        raise GlasswingError(f"explain applies to classifier apps; {app.name!r} is a {app.task} app.")
    for method in methods:
        if method not in available:
            raise GlasswingError(
                f"Method {method!r} does not support app {app.name!r}. Available: {', '.join(available)}."
            )


def _per_class(args, default: int) -> int:
    """``--per-class``, or ``default`` when not given; at least 1."""
    n = default if args.per_class is None else args.per_class
    if n < 1:
        raise GlasswingError(f"--per-class must be >= 1, got {n}.")
    return n


# --compare's default methods: one gradient at a time or a few dozen, so a few hundred maps take minutes.
COMPARE_METHODS = ("saliency", "gradient_input", "integrated_gradients", "grad_cam", "occlusion")


def _explain_compare(args) -> int:
    """``explain --compare FOLDER``: how alike two models' maps are, per method, over test examples."""
    import xai
    from apps import artifacts
    from xai import insights

    per_class = _per_class(args, 5)
    app, folder, cfg, model = _load_trained(args)
    other = Path(args.compare)
    _, other_model = artifacts.load_comparable(app, folder, other)
    methods = [args.method] if args.method else [m for m in COMPARE_METHODS if m in xai.available(app)]
    _require_methods(app, methods)
    xs, ys = _test_split(app, cfg)
    chosen = insights.sample_per_class(ys, per_class)
    print(f"Comparing {folder} (A) with {other} (B) on {len(chosen)} test examples ...", flush=True)
    results = xai.compare_models(app, model, other_model, xs[chosen], methods)
    same = results[0].same_prediction
    print(f"both predict the same class on {same:.1%} of them; the maps explain A's prediction")
    print(f"{'method':22s}{'rank correlation':>20s}{'top-10% overlap':>20s}")
    for r in results:
        rho, overlap = r.rank_correlation, r.top_overlap
        print(f"{r.method:22s}{rho[0]:>12.3f} ± {rho[1]:.3f}{overlap[0]:>12.3f} ± {overlap[1]:.3f}")
    return 0


def _test_split(app, cfg):
    """The whole test split as ``(x, y)`` arrays (``App.dataset`` augments only the training split)."""
    import numpy as np

    xs, ys = [], []
    for x, y in app.dataset(cfg, "test"):
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    return np.concatenate(xs), np.concatenate(ys).astype(int)


def _write_listening(app, cfg, model, raw, attribution, labels, args, keep: float) -> None:
    """``explain --out FILE.wav``: the clip as recorded, with only its top regions, and without them."""
    from apps.artifacts import write_bytes_atomic
    from xai import listen

    signal, _ = app.raw.load(raw, cfg)
    result = listen.listen(app, cfg, model, signal, attribution.values, keep)
    joined, spans = listen.sequence(result)
    write_bytes_atomic(Path(args.out), listen.wav_bytes(joined, result.sample_rate))
    print(f"Wrote {args.out}: the clip three ways, each classified from the sound itself")
    target = attribution.target
    for version, start, end in spans:
        probs = result.probs[version]
        top = int(probs.argmax())
        print(
            f"  {start:4.1f}-{end:4.1f} s  {version:9s} heard as {labels[top]} ({probs[top]:.3f}); "
            f"{labels[target]} {probs[target]:.3f}"
        )


def _cmd_optimize(args) -> int:
    from apps.optimize.cli import cmd_optimize

    return cmd_optimize(args)


def _cmd_generate(args) -> int:
    import numpy as np

    from apps import artifacts, get_app

    if args.seed < 0:
        raise GlasswingError(f"--seed must be >= 0, got {args.seed}.")
    if args.out:
        artifacts.check_output_path(args.out, (".png",))
    app = get_app(args.app, args.models_dir)
    if app.generative is None:
        raise GlasswingError(f"App {app.name!r} does not generate (task={app.task!r}).")
    folder = artifacts.require_model_dir(args.models_dir, app)
    model = artifacts.load_model(folder / artifacts.MODEL_FILE)
    generator = app.generator(model, folder)
    # What a generator offers decides what is shown (Generative.load's protocol).
    if hasattr(generator, "sample"):
        from PIL import Image

        _refuse_given(args, ("prompt", "length", "temperature", "top_k"), f"{app.name!r} generates images")
        if args.out is None:
            raise GlasswingError("Image generators need --out FILE.png for the sample grid.")
        images = generator.sample(_given_or(args.n, 16), seed=args.seed)
        Image.fromarray(generator.grid(np.asarray(images))).save(args.out)
        print(f"Wrote {len(images)} samples to {args.out}")
        return 0
    _refuse_given(args, ("n", "out"), f"{app.name!r} generates text")
    if args.prompt is None:
        raise GlasswingError("Text generators need --prompt TEXT.")
    length, temperature, top_k = (
        _given_or(args.length, 300),
        _given_or(args.temperature, 1.0),
        _given_or(args.top_k, 0),
    )
    print(generator.generate(args.prompt, length, temperature, top_k, args.seed))
    return 0


def _given_or(value, default):
    return default if value is None else value


def _refuse_given(args, names: tuple[str, ...], why: str) -> None:
    """One clear line naming options that were given but do not apply (their default is None)."""
    given = ["--" + name.replace("_", "-") for name in names if getattr(args, name) is not None]
    if given:
        verb = "does" if len(given) == 1 else "do"
        raise GlasswingError(f"{', '.join(given)} {verb} not apply here: {why}.")


def _cmd_data(args) -> int:
    from apps import get_app

    app = get_app(args.app)
    print(app.prepare(_config(app, args)))
    return 0


def _cmd_dashboard(args) -> int:
    from apps.dashboard import MAX_UPLOAD_MB

    if not 1 <= args.port <= 65535:
        raise GlasswingError(f"--port must be from 1 to 65535, got {args.port}.")
    models_dir = Path(args.models_dir)
    if not models_dir.is_dir():
        what = "is a file" if models_dir.exists() else "does not exist"
        raise GlasswingError(
            f"--models-dir {models_dir} {what}; give the folder that holds the trained models."
        )
    script = Path(__file__).parent / "dashboard" / "streamlit_app.py"
    env = dict(os.environ, GLASSWING_MODELS_DIR=str(Path(args.models_dir).resolve()))
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.port",
        str(args.port),
        "--server.address",
        args.address,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.maxUploadSize",
        str(MAX_UPLOAD_MB),
    ]
    print(f"Dashboard: http://{args.address}:{args.port}", flush=True)
    return subprocess.call(command, env=env)


COMMANDS = {
    "list": _cmd_list,
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "export": _cmd_export,
    "pack": _cmd_pack,
    "unpack": _cmd_unpack,
    "predict": _cmd_predict,
    "explain": _cmd_explain,
    "generate": _cmd_generate,
    "optimize": _cmd_optimize,
    "data": _cmd_data,
    "dashboard": _cmd_dashboard,
}


def main(argv: list[str] | None = None) -> int:
    """Runs one ``glasswing`` command; returns the exit status."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ chatter out of the way
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.verb](args)
    except GlasswingError as err:
        print(f"glasswing: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("glasswing: interrupted; a rerun of the same command resumes training.", file=sys.stderr)
        return 130
    except OSError as err:
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # Every artifact is written to a temp name and renamed, so what was published before stays.
        print(
            f"glasswing: error: the disk is full ({err.filename or 'writing'}): {err.strerror}. "
            "Nothing half-written was published; free some space and rerun.",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
