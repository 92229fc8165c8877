"""Time per explanation and faithfulness per explainer, side by side, on trained apps.

For each trained classifier app (or the one named), on ``--examples`` test
examples: median seconds per explanation (after one warm-up call that traces
the graphs), deletion and insertion AUC of the map vs a random ordering
(deletion: lower is better; insertion: higher is better), IG's completeness
error, the parameter-randomization check, and the float-vs-.tflite comparison.

    python bench/xai.py [APP] [--models-dir models] [--examples 5]
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


def bench_app(app, folder, n: int, markdown=None) -> None:
    import numpy as np
    from report import append, table

    import xai
    from apps import artifacts
    from apps.litert import LiteRTModel
    from xai.faithfulness import deletion_insertion, randomization_check

    model = artifacts.load_model(folder / artifacts.MODEL_FILE)
    cfg = artifacts.load_config(app, folder)
    xs, ys, source = _examples(app, cfg, n)
    print(f"\n== {app.name} ({app.modality}): {len(xs)} examples from {source}")
    print(f"{'method':22s} {'s/expl':>8s} {'del AUC':>8s} {'rand del':>8s} {'ins AUC':>8s} {'rand ins':>8s}")
    table_rows, notes = [], []
    for name, explainer in xai.available(app).items():
        explainer.explain(app, model, xs[0], int(ys[0]))  # warm-up: traces graphs, JIT
        times, rows, extras = [], [], []
        for x, y in zip(xs, ys):
            start = time.perf_counter()
            result = explainer.explain(app, model, x, int(y))
            times.append(time.perf_counter() - start)
            f = deletion_insertion(model, x, result.values, result.target, app.modality)
            rows.append((f.deletion, f.random_deletion, f.insertion, f.random_insertion))
            extras.append(result.extra.get("completeness_error"))
        d, rd, i, ri = np.mean(rows, axis=0)
        note = ""
        if extras[0] is not None:
            note = f"  completeness error max {max(extras):.2e}"
        print(f"{name:22s} {statistics.median(times):8.3f} {d:8.3f} {rd:8.3f} {i:8.3f} {ri:8.3f}{note}")
        figures = [f"{v:.3f}" for v in (statistics.median(times), d, rd, i, ri)]
        table_rows.append([name, *figures, note.strip()])

    report = randomization_check(xai.EXPLAINERS["saliency"], app, model, xs[0], int(ys[0]))
    sanity = (
        f"sanity (saliency): rank corr trained vs output-layer randomized {report['cascade'][0][1]:.2f}, "
        f"vs fully randomized {report['fully_random']:.2f}"
    )
    print(sanity)
    notes.append(sanity)
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
        f"**{app.name}** ({len(xs)} examples from {source}; "
        "deletion AUC: lower is better, insertion: higher)\n\n"
        + table(["method", "s/expl", "del AUC", "rand del", "ins AUC", "rand ins", "note"], table_rows)
        + "\n\n"
        + "\n".join(f"- {line}" for line in notes),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("app", nargs="?", default=None, help="one app (default: every trained classifier)")
    parser.add_argument("--models-dir", default="models")
    parser.add_argument("--examples", type=int, default=5)
    parser.add_argument("--markdown", default=None, help="append the tables to this file")
    args = parser.parse_args()

    from apps import APPS, artifacts, get_app
    from apps.train import cpu_name

    names = [args.app] if args.app else artifacts.list_trained(args.models_dir)
    print(f"xai benchmark on {cpu_name()}")
    for name in names:
        app = get_app(name) if args.app else APPS.get(name)
        if app is None or app.task != "classify":
            continue
        bench_app(app, artifacts.require_model_dir(args.models_dir, app), args.examples, args.markdown)


if __name__ == "__main__":
    main()
