"""Pruning, distillation and selective int8 of one classifier, measured side by side in one run.

Prunes the committed model to each sparsity (fine-tuning through the shared
training path), exports sparsity-aware .tflite files and compares size, gzip
size, test accuracy and latency with the unpruned model; trains a distilled
and a from-scratch student beside the teacher; and runs the int8 debugger
with the worst layers kept in float. Everything goes to a temporary folder,
so the committed models stay as they are. Needs ``models/APP/model.keras``.

    python bench/optimize.py [APP] [--sparsities 0.5,0.8,0.9] [--markdown bench/optimize.md]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("app", nargs="?", default="image")
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--sparsities", default="0.5,0.8,0.9")
    parser.add_argument("--prune-epochs", type=int, default=2)
    parser.add_argument("--distill-epochs", type=int, default=None, help="default: the app's own")
    parser.add_argument(
        "--max-train-examples",
        type=int,
        default=20000,
        help="training examples per epoch for fine-tuning and students (0 = all; default 20000)",
    )
    parser.add_argument("--keep-float", type=int, default=2, help="int8 debugger: layers kept in float")
    parser.add_argument("--skip", action="append", default=[], choices=("prune", "distill", "int8"))
    parser.add_argument("--markdown", default=None, help="also write the tables as Markdown to this file")
    args = parser.parse_args()

    from apps import artifacts, get_app
    from apps.optimize import common, distill, int8_debug, prune

    app = get_app(args.app)
    artifacts.require_model_dir(args.models_dir, app)
    overrides = [f"max_train_examples={args.max_train_examples}"]
    tables, start = [], time.time()
    with tempfile.TemporaryDirectory(prefix="glasswing-bench-optimize-") as out:
        if "prune" not in args.skip:
            result = prune.prune(
                app,
                args.models_dir,
                prune.parse_sparsities(args.sparsities),
                epochs=args.prune_epochs,
                overrides=overrides,
                out_dir=Path(out) / "prune",
                verbose=2,
            )
            tables.append(prune.table(result))
            print(tables[-1].text(), flush=True)
        if "distill" not in args.skip:
            report = distill.distill(
                app,
                args.models_dir,
                epochs=args.distill_epochs,
                overrides=overrides,
                out_dir=Path(out) / "distill",
                verbose=2,
            )
            tables.append(distill.table(report))
            print(tables[-1].text(), flush=True)
        if "int8" not in args.skip:
            report = int8_debug.int8_debug(
                app, args.models_dir, keep_float=args.keep_float, out_dir=Path(out) / "int8"
            )
            tables += [int8_debug.layer_table(report, limit=10), int8_debug.tradeoff_table(report)]
            print(tables[-2].text(), tables[-1].text(), sep="\n", flush=True)

    import keras
    import tensorflow as tf

    header = (
        f"### Optimization: `{app.name}` (bench/optimize.py)\n\n"
        f"Measured in one run of `python bench/optimize.py {app.name} --sparsities {args.sparsities} "
        f"--prune-epochs {args.prune_epochs} --distill-epochs {args.distill_epochs} "
        f"--max-train-examples {args.max_train_examples}` on {common.machine()} (no GPU), "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}; {time.time() - start:.0f} s in all. "
        "Baseline = the committed `models/" + app.name + "/model.keras`.\n"
    )
    if args.markdown:
        # One level below the app's heading: make bench nests this under its own section.
        text = header + "\n" + "\n".join(t.markdown(level=4) for t in tables)
        Path(args.markdown).write_text(text, encoding="utf-8")
        print(f"Wrote {args.markdown}")


if __name__ == "__main__":
    main()
