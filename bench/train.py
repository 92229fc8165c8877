"""Training step time per GPU switch, measured side by side on the device present.

For every registered app (or the ones named), builds the real model (``Config()``)
four ways and times its training step on one in-memory batch (no input work):

* ``baseline``       float32, no XLA;
* ``mixed_float16``  ``keras.mixed_precision`` policy (outputs stay float32);
* ``jit_compile``    XLA (``model.jit_compile = True``);
* ``mixed+jit``      both.

Utilisation: each app's training FLOPs per example (bench/flops.py: 3x the forward
pass of its convolution and dense layers) x examples per second, against the FLOP/s
of a 2048-cubed float32 matmul measured in the same run.

Variants run interleaved round by round so machine noise hits all alike; each
reports the median ms/step over the rounds (a warm-up call that traces and
compiles is excluded; each timed call's fixed cost, measured by a 1-step call
beside it, is taken off) and the ratio to ``baseline``. Training's ``auto`` turns
the switches on only with a GPU: this prints the numbers behind that choice.

``--configs`` times Configs instead of switches, each ``key=value`` group one
variant, interleaved the same way and compared with the first: a width's cost on
this CPU is not its FLOPs (``--configs filters=16 filters=24 filters=32`` for
the image CNN).

    python bench/train.py [APP ...] [--steps 4] [--rounds 3] [--configs K=V[,K=V] ...]
                          [--markdown PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = {  # name: (mixed precision, XLA)
    "baseline": (False, False),
    "mixed_float16": (True, False),
    "jit_compile": (False, True),
    "mixed+jit": (True, True),
}


def device_name() -> str:
    """The GPUs if there are any, else the CPU model and core count."""
    from apps.sysinfo import device_name

    return device_name()


def _build(app, cfg, mixed: bool, jit: bool):
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    try:
        keras.utils.set_random_seed(cfg.seed)
        model = app.build(cfg)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    model.jit_compile = jit
    return model


def _check_float32_outputs(model, x) -> None:
    """Under mixed precision the output layer must stay float32 (stable softmax/loss)."""
    import keras

    outputs = keras.tree.flatten(model(x[:1], training=False))
    dtypes = [keras.backend.standardize_dtype(o.dtype) for o in outputs]
    bad = [d for d in dtypes if d != "float32"]
    if bad:
        raise ValueError(f"output dtype {bad[0]} under mixed precision, expected float32")


def _fit_seconds(model, ds) -> float:
    start = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0, shuffle=False)
    return time.perf_counter() - start


def _step_seconds(model, ds, batch, n_steps: int) -> float:
    """Seconds per training step from one ``n_steps`` fit call, less a 1-step call's fixed cost.

    Each ``fit`` call pays ~0.2 s on this CPU (callbacks, iterator, the first step's
    dispatch) that a long training run pays once: over 4 steps of a 55 ms step that
    alone read as 30 % of the time. So the step is (T_n - T_1) / (n - 1); a 1-step
    variant (too slow to time more) keeps its whole call.
    """
    whole = _fit_seconds(model, ds)
    if n_steps == 1:
        return whole
    extra = whole - _fit_seconds(model, batch)
    # Noise can make the difference vanish on a fast step: fall back to the plain average.
    return extra / (n_steps - 1) if extra > 0 else whole / n_steps


def switch_variants(app) -> dict[str, tuple]:
    """``name -> (cfg, mixed, jit)``: the app's ``Config()`` under each switch of ``VARIANTS``."""
    return {name: (app.Config(), mixed, jit) for name, (mixed, jit) in VARIANTS.items()}


def config_variants(app, overrides: list[str]) -> dict[str, tuple]:
    """``name -> (cfg, mixed, jit)``: one variant per comma-separated ``key=value`` group, no switches.

    ``"filters=16"`` and ``"filters=24,epochs=3"`` give two Configs; ``""`` is ``Config()`` itself.
    """
    from apps.app import apply_overrides

    variants = {}
    for group in overrides:
        cfg = apply_overrides(app.Config(), [kv for kv in group.split(",") if kv])
        variants[group or "Config()"] = (cfg, False, False)
    return variants


def bench_app(app, steps: int, rounds: int, budget_s: float, variants: dict | None = None) -> dict[str, dict]:
    """Median seconds per step and notes per variant; a variant that fails records why.

    ``variants``: ``name -> (cfg, mixed, jit)``, by default :func:`switch_variants`. All use
    the first one's batch size, so their steps do the same number of examples.

    A variant whose single step is so slow that ``steps x rounds`` would pass
    ``budget_s`` (mixed_float16 without XLA on a CPU) is timed one step per round,
    over as many rounds as fit the budget (at least one); its note says so.
    """
    import tensorflow as tf
    from flops import train_flops

    tf.get_logger().setLevel("ERROR")  # one retracing warning per variant says nothing new
    variants = variants or switch_variants(app)
    # Every variant trains on this one batch, so its size is what a step's FLOPs scale with.
    first = next(iter(variants.values()))[0]
    batch_size = first.batch_size
    x, y = app.fake_batch(first, batch_size)
    batch = tf.data.Dataset.from_tensors((x, y))
    results, models = {}, {}
    for name, (cfg, mixed, jit) in variants.items():
        try:
            model = _build(app, cfg, mixed, jit)
            if mixed:
                _check_float32_outputs(model, x)
            start = time.perf_counter()
            model.fit(
                batch, epochs=1, verbose=0, shuffle=False
            )  # warm-up: traces (and XLA-compiles) the step
            warmup = time.perf_counter() - start
            start = time.perf_counter()
            model.fit(batch, epochs=1, verbose=0, shuffle=False)  # probe: one step, sizes the timed calls
            probe = time.perf_counter() - start
        except Exception as err:  # noqa: BLE001 - a switch that does not apply is reported, not fatal
            results[name] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"}
            continue
        n_steps, n_rounds, note = steps, rounds, ""
        if probe * steps * rounds > budget_s:
            n_steps, n_rounds = 1, max(1, min(rounds, int(budget_s // probe)))
            note = f"slow: {n_rounds} round(s) of 1 step"
        flops, complete = train_flops(model)
        results[name] = {
            "times": [], "warmup_s": warmup, "note": note, "rounds": n_rounds,
            "flops": flops * batch_size, "complete": complete,
        }  # fmt: skip
        models[name] = (model, batch.repeat(n_steps), n_steps)
    for round_index in range(rounds):  # interleaved: noise hits every variant alike
        for name, (model, ds, n_steps) in models.items():
            if round_index >= results[name]["rounds"]:
                continue
            results[name]["times"].append(_step_seconds(model, ds, batch, n_steps))
    for row in results.values():
        if "times" in row:
            row["median_s"] = statistics.median(row["times"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("apps", nargs="*", help="apps to measure (default: every registered app)")
    parser.add_argument("--steps", type=int, default=4, help="training steps per timed call")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median is reported)")
    parser.add_argument(
        "--budget", type=float, default=30.0, help="seconds of timed steps per variant and app, at most"
    )
    parser.add_argument(
        "--configs", nargs="+", default=None, metavar="KEY=VALUE[,KEY=VALUE]",
        help="compare these Configs of each app (no switches), e.g. --configs filters=16 filters=24",
    )  # fmt: skip
    parser.add_argument("--markdown", default=None, help="append a Markdown table to this file")
    args = parser.parse_args()

    from flops import matmul_peak
    from report import append, table

    from apps import APPS, get_app

    names = args.apps or list(APPS)
    device = device_name()
    peak = matmul_peak()
    print(f"Peak: a 2048-cubed float32 matmul runs at {peak / 1e9:.0f} GFLOP/s here")
    first = "first" if args.configs else "baseline"
    print(f"Training step time per variant on {device}: {args.steps} steps x {args.rounds} rounds, median")
    print(
        f"{'app':10s} {'variant':14s} {'ms/step':>9s} {'x ' + first:>11s} {'warm-up s':>10s} "
        f"{'GFLOP/s':>8s} {'% peak':>7s}  note"
    )
    rows = []
    for name in names:
        app = get_app(name)
        variants = config_variants(app, args.configs) if args.configs else None
        results = bench_app(app, args.steps, args.rounds, args.budget, variants)
        base = next(iter(results.values())).get("median_s")
        for variant, row in results.items():
            if "median_s" not in row:
                print(f"{name:10s} {variant:14s} skipped: {row['error']}")
                rows.append([name, variant, "—", "—", "—", "—", "—", f"skipped: {row['error']}"])
                continue
            ratio = f"{row['median_s'] / base:.2f}" if base else "—"
            rate = row["flops"] / row["median_s"]
            # A model with uncounted layers (recurrent, attention) does more work than counted.
            share = f"{100 * rate / peak:.0f}" + ("" if row["complete"] else " (lower bound)")
            print(
                f"{name:10s} {variant:14s} {row['median_s'] * 1000:9.1f} {ratio:>11s} "
                f"{row['warmup_s']:10.1f} {rate / 1e9:8.1f} {share:>7s}  {row['note']}"
            )
            rows.append(
                [
                    name, variant, f"{row['median_s'] * 1000:.1f}", ratio, f"{row['warmup_s']:.1f}",
                    f"{rate / 1e9:.1f}", share, row["note"],
                ]
            )  # fmt: skip
    models = (
        "Each `--configs` model, no switches, at the first one's batch size"
        if args.configs
        else "Real `Config()` model and batch size"
    )
    append(
        args.markdown,
        f"Device: {device}; a 2048-cubed float32 matmul runs at {peak / 1e9:.0f} GFLOP/s (the peak). "
        f"{models}, one in-memory batch; median of {args.rounds} interleaved rounds of {args.steps} "
        "steps, each less a 1-step call's fixed cost; the warm-up call (tracing, XLA compilation) is "
        "reported separately and excluded. GFLOP/s = training "
        "FLOPs per example (3x the forward pass of the convolution and dense layers, bench/flops.py) x "
        "examples per second; % peak is against the matmul.\n\n"
        + table(["app", "variant", "ms/step", f"× {first}", "warm-up s", "GFLOP/s", "% peak", "note"], rows),
    )


if __name__ == "__main__":
    main()
