"""Time per explanation and faithfulness per explainer, side by side, on trained apps.

For each trained classifier app (or the one named), on up to ``--examples`` test
examples per method (a slow method stops at ``--budget`` seconds and says how many
it did): median seconds per explanation (after one warm-up call that traces the
graphs), deletion and insertion AUC of the map and of random orderings as mean ±
95 % interval (deletion: lower is better; insertion: higher is better), the
paired gain over random with its interval (a method "beats random" when the
whole interval is above 0), IG's completeness error, the parameter-randomization
check for every method (mean rank correlation, over 8 examples, of the map with
the map of the model with all weights re-initialized: near 1 means the map does
not depend on what the model learned), and the float-vs-.tflite comparison.

    python bench/xai.py [APP] [--models-dir models] [--examples 200] [--budget 120]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Python puts this script's folder first on sys.path, where this file would
# shadow the ``xai`` package it benchmarks; the repository root goes there instead.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
sys.path.append(str(_HERE))  # last, for bench/report.py only


def _examples(app, cfg, n):
    """``n`` test examples, or fake_batch when the data is not prepared here."""
    import numpy as np

    try:
        xs, ys = [], []
        for x, y in app.dataset(cfg, "test"):
            xs.append(np.asarray(x))
            ys.append(np.asarray(y))
            if sum(len(b) for b in xs) >= n:
                break
        return np.concatenate(xs)[:n], np.concatenate(ys)[:n], "test split"
    except Exception as err:  # noqa: BLE001 - any data problem falls back to synthetic input
        x, y = app.fake_batch(cfg, n)
        return x, y, f"fake_batch ({type(err).__name__})"


SANITY_EXAMPLES = 8


def interval(values) -> str:
    """``mean ± half-width`` of a normal 95 % interval of the mean."""
    from xai.comparison import mean_interval

    mean, half = mean_interval(values)
    return f"{mean:.3f} ± {half:.3f}"


def bench_app(app, folder, n: int, markdown=None, budget: float = 120.0) -> None:
    import numpy as np
    from report import append, table

    import xai
    from apps import artifacts
    from apps.litert import LiteRTModel
    from xai.faithfulness import deletion_insertion, gain, randomization_check, verdict

    cfg, model = artifacts.load_trained(app, folder)
    xs, ys, source = _examples(app, cfg, n)
    print(
        f"\n== {app.name} ({app.modality}): up to {len(xs)} examples from {source}, {budget:.0f} s per method"
    )
    print(
        f"{'method':22s} {'n':>4s} {'s/expl':>7s} "
        f"{'deletion':>15s} {'random':>15s} {'insertion':>15s} {'random':>15s}"
    )
    table_rows, notes = [], []
    for name, explainer in xai.available(app).items():
        explainer.explain(app, model, xs[0], int(ys[0]))  # warm-up: traces graphs, JIT
        times, rows, extras, gains = [], [], [], []
        began = time.perf_counter()
        for x, y in zip(xs, ys):
            start = time.perf_counter()
            result = explainer.explain(app, model, x, int(y))
            times.append(time.perf_counter() - start)
            f = deletion_insertion(model, x, result.values, result.target, app.modality, random_runs=3)
            rows.append((f.deletion, f.random_deletion, f.insertion, f.random_insertion))
            gains.append(gain(f))
            extras.append(result.extra.get("completeness_error"))
            if time.perf_counter() - began > budget:
                break
        rows = np.asarray(rows)
        # Over a few examples: one map's correlation with its random-model twin is noisy.
        sanity = np.nanmean(
            [
                randomization_check(explainer, app, model, x, int(y), cascade=False)["fully_random"]
                for x, y in zip(xs[:SANITY_EXAMPLES], ys[:SANITY_EXAMPLES])
            ]
        )
        note = f"completeness error max {max(extras):.2e}" if extras[0] is not None else ""
        figures = [interval(rows[:, k]) for k in range(4)]
        print(
            f"{name:22s} {len(rows):4d} {statistics.median(times):7.3f} "
            + " ".join(f"{v:>15s}" for v in figures)
        )
        table_rows.append(
            [name, len(rows), f"{statistics.median(times):.3f}", *figures, interval(gains),
             verdict(gains),
             f"{sanity:.2f}", note]
        )  # fmt: skip
    tflite_dir = folder / artifacts.TFLITE_DIR
    if app.raw is not None:
        # Occlusion perturbs the model input (log-mel patches); this app's .tflite takes the raw signal.
        line = (
            "float vs .tflite: not comparable (the .tflite takes the raw signal, occlusion perturbs log-mel)"
        )
        print(line)
        notes.append(line)
    for quant in ("float32", "int8") if app.raw is None else ():
        path = tflite_dir / f"{quant}.tflite"
        if not path.is_file():
            continue
        lite = LiteRTModel(path)
        rhos, overlaps = [], []
        for x in xs:
            cmp = xai.compare(model, lite, x, app, method="occlusion")
            rhos.append(cmp["rank_correlation"])
            overlaps.append(cmp["top_overlap"])
        line = (
            f"float vs {quant}.tflite (occlusion): rank corr {np.nanmean(rhos):.3f}, "
            f"top-10% overlap {np.mean(overlaps):.2f}"
        )
        print(line)
        notes.append(line)
    append(
        markdown,
        f"**{app.name}** (up to {len(xs)} examples from {source} per method, {budget:.0f} s each; "
        "deletion AUC: lower is better, insertion: higher)\n\n"
        + table(
            [
                "method",
                "n",
                "s/expl",
                "deletion AUC",
                "random",
                "insertion AUC",
                "random",
                "gain over random",
                "beats random",
                "rank corr vs random model",
                "note",
            ],
            table_rows,
        )  # fmt: skip
        + "\n\n"
        + "\n".join(f"- {line}" for line in notes),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("app", nargs="?", default=None, help="one app (default: every trained classifier)")
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds per method (default: 120)")
    parser.add_argument("--markdown", default=None, help="append the tables to this file")
    args = parser.parse_args()

    from apps import APPS, artifacts, get_app
    from apps.sysinfo import cpu_name

    names = [args.app] if args.app else artifacts.list_trained(args.models_dir)
    print(f"xai benchmark on {cpu_name()}")
    for name in names:
        app = get_app(name) if args.app else APPS.get(name)
        if app is None or app.task != "classify":
            continue
        bench_app(
            app, artifacts.require_model_dir(args.models_dir, app), args.examples, args.markdown, args.budget
        )


if __name__ == "__main__":
    main()
