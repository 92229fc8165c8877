"""Size and latency of every exported .tflite vs float32 and vs the Keras model, side by side.

Measures all files of one app in the same run, interleaved, single example,
LiteRT interpreter with 1 thread (and the Keras model called directly and as a
``tf.function``), and prints ratios. Needs ``glasswing export APP --quant all``.

    python bench/tflite.py [APP] [--models-dir models] [--runs 300] [--markdown PATH]
        [--against OTHER_MODELS_DIR]   # also that folder's files of APP, interleaved in the same run
"""

from __future__ import annotations

import argparse
import gzip
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("app", nargs="?", default="image")
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--markdown", default=None, help="append this app's table to this file")
    parser.add_argument("--against", default=None, help="another models dir: its APP files run alongside")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    from report import append, table

    from apps import artifacts, get_app
    from apps.conversion import QUANT_MODES, export_inputs, exported_model
    from apps.litert import LiteRTModel, interleaved_latency
    from apps.sysinfo import cpu_name

    app = get_app(args.app)
    folder = artifacts.require_model_dir(args.models_dir, app)
    model = artifacts.load_model(folder / artifacts.MODEL_FILE)
    files = {m: folder / "tflite" / f"{m}.tflite" for m in QUANT_MODES}
    files = {m: p for m, p in files.items() if p.is_file()}
    if "float32" not in files:
        raise SystemExit(f"No {folder}/tflite/float32.tflite: run `glasswing export {app.name} --quant all`.")
    cfg = artifacts.load_config(app, folder)
    x, _ = app.fake_batch(cfg, 1)
    # Time what export converts, on its inputs: e.g. a VAE's decoder on latent vectors,
    # the speech model with its log-mel front-end folded in on a raw waveform.
    x = app.raw.fake(cfg, 1) if app.raw is not None else export_inputs(app, model, cfg, x)
    model = exported_model(app, model, cfg, "float32")
    x = np.asarray(x)
    compiled = tf.function(lambda t: model(t, training=False))
    runners = {"keras direct": lambda t: model(t, training=False), "keras tf.function": compiled}
    runners |= {f"tflite {m}": LiteRTModel(p, num_threads=1) for m, p in files.items()}
    if args.against:  # e.g. the model this one replaces: its files on the same waveform, interleaved
        other = Path(args.against) / app.name / "tflite"
        for m in QUANT_MODES:
            if (other / f"{m}.tflite").is_file():
                files[f"against {m}"] = other / f"{m}.tflite"
                runners[f"tflite against {m}"] = LiteRTModel(files[f"against {m}"], num_threads=1)
    medians = interleaved_latency(runners, x, args.runs)  # interleaved: noise hits every runner alike

    print(f"{app.name}: single-example latency, median of {args.runs} interleaved runs, {cpu_name()}")
    base_ms, base_size = medians["tflite float32"], files["float32"].stat().st_size
    print(f"{'runner':20s} {'ms':>9s} {'x float32':>10s} {'KB':>9s} {'gzip KB':>9s} {'size x f32':>11s}")
    rows = []
    for name, ms in medians.items():
        mode = name.removeprefix("tflite ")
        size = files[mode].stat().st_size if mode in files else None
        gz = len(gzip.compress(Path(files[mode]).read_bytes())) if size else None
        cols = (
            f"{size / 1024:9.1f} {gz / 1024:9.1f} {size / base_size:11.3f}"
            if size
            else f"{'':9s} {'':9s} {'':11s}"
        )
        print(f"{name:20s} {ms:9.3f} {ms / base_ms:10.2f} {cols}")
        sizes = ["", "", ""]
        if size:
            sizes = [f"{size / 1024:.1f}", f"{gz / 1024:.1f}", f"{size / base_size:.3f}"]
        rows.append([app.name, name, f"{ms:.3f}", f"{ms / base_ms:.2f}", *sizes])
    append(
        args.markdown,
        f"**{app.name}** (median of {args.runs} interleaved single-example runs, LiteRT with 1 thread)\n\n"
        + table(["app", "runner", "ms", "× tflite float32", "KB", "gzip KB", "size × float32"], rows),
    )


if __name__ == "__main__":
    main()
