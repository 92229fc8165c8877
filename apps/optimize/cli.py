"""``glasswing optimize APP``: the verb's options and handler (wired into :mod:`apps.cli`)."""

from __future__ import annotations

import argparse
import shlex
import sys

from apps.errors import GlasswingError

HELP = "make a trained classifier smaller: prune, distill, or debug its int8 quantization"


def add_parser(verbs) -> argparse.ArgumentParser:
    """Adds the ``optimize`` verb to the ``glasswing`` sub-parsers."""
    p = verbs.add_parser(
        "optimize",
        help=HELP,
        description=HELP + ". Results go to MODELS_DIR/APP/optimized/ and are printed beside the baseline.",
    )
    p.add_argument("app", help="app name (a classifier; see `glasswing list`)")
    p.add_argument("--models-dir", default="models", help="artifact root (default: models)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--prune",
        metavar="S[,S...]",
        help="magnitude-prune to sparsity S in 0.5..0.9 (a comma list runs each), fine-tune, export "
        "sparsity-aware float32/int8 .tflite files and compare with the unpruned model",
    )
    mode.add_argument(
        "--distill",
        action="store_true",
        help="train a smaller student from the trained model (teacher) and the same student from scratch",
    )
    mode.add_argument(
        "--int8-debug",
        action="store_true",
        help="per-layer int8 quantization error keyed by Keras layer names",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="training epochs (default: 2 for --prune fine-tuning; the app's own for --distill, 3 or more)",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a training Config field for --prune/--distill, e.g. --set max_train_examples=20000",
    )
    p.add_argument(
        "--student",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="--distill: the student's Config field (default: width fields / 4), e.g. --student filters=8",
    )
    p.add_argument("--alpha", type=float, default=None, help="--distill: weight of the hard-label loss (0.1)")
    p.add_argument("--temperature", type=float, default=None, help="--distill: softening temperature (4)")
    p.add_argument(
        "--keep-float",
        type=int,
        default=0,
        metavar="N",
        help="--int8-debug: also convert with the N worst Keras layers kept in float and compare",
    )
    p.add_argument("--out", default=None, help="output folder (default: MODELS_DIR/APP/optimized)")
    p.add_argument("--markdown", default=None, help="also write the tables as Markdown to this file")
    return p


def cmd_optimize(args) -> int:
    """Runs one optimization and prints its tables."""
    from apps import get_app
    from apps.optimize import require_classifier

    app = get_app(args.app, args.models_dir)
    require_classifier(app)
    if args.epochs is not None and args.epochs < 1:
        raise GlasswingError(f"--epochs must be >= 1, got {args.epochs}.")
    if not args.int8_debug and args.keep_float:
        raise GlasswingError("--keep-float applies to --int8-debug.")
    if not args.distill and (args.student or args.alpha is not None or args.temperature is not None):
        raise GlasswingError("--student, --alpha and --temperature apply to --distill.")
    if args.prune is not None:
        from apps.optimize import prune

        sparsities = prune.parse_sparsities(args.prune)
        result = prune.prune(
            app,
            args.models_dir,
            sparsities,
            epochs=args.epochs or prune.DEFAULT_EPOCHS,
            overrides=args.overrides,
            out_dir=args.out,
        )
        tables = [prune.table(result)]
    elif args.distill:
        from apps.optimize import distill

        alpha = distill.DEFAULT_ALPHA if args.alpha is None else args.alpha
        temperature = distill.DEFAULT_TEMPERATURE if args.temperature is None else args.temperature
        distill.check_settings(alpha, temperature)  # before the data is read (minutes on a fresh clone)
        report = distill.distill(
            app,
            args.models_dir,
            student=args.student,
            epochs=args.epochs,
            overrides=args.overrides,
            alpha=alpha,
            temperature=temperature,
            out_dir=args.out,
        )
        tables = [distill.table(report)]
    else:
        from apps.optimize import int8_debug

        if args.overrides:
            raise GlasswingError("--set applies to --prune and --distill (training settings).")
        report = int8_debug.int8_debug(app, args.models_dir, keep_float=args.keep_float, out_dir=args.out)
        tables = [int8_debug.layer_table(report), int8_debug.tradeoff_table(report)]
    for table in tables:
        print()
        print(table.text())
    if args.markdown:
        from pathlib import Path

        from apps import artifacts

        command = shlex.join(["glasswing", *sys.argv[1:]])
        text = f"Command: `{command}`\n\n" + "\n".join(t.markdown() for t in tables)
        artifacts.write_text_atomic(Path(args.markdown), text)
        print(f"\nWrote {args.markdown}")
    return 0
