"""Is the tf.data pipeline the bottleneck? Step time with the real pipeline vs in-memory tensors.

Runs the same model's training step three ways, interleaved round by round so
machine noise hits all of them alike, and prints each feed's step time and its ratio to in-memory:

* ``pipeline+aug`` — the app's real training pipeline (cache, shuffle, batch,
  augmentation, prefetch), as ``glasswing train`` uses it;
* ``pipeline``     — the same pipeline with augmentation off;
* ``in-memory``    — one batch already materialised as a tensor, repeated
  (no input work at all: the lower bound).

Each feed's figure is its *fastest* round, not the median: on this shared 2-core
VM a whole ``fit`` call sometimes runs at half speed (measured: the in-memory feed
alone alternating 43 and 85 ms/step on the VAE, with no pipeline in the process),
and such noise only ever adds time, while a real stall slows every round. The
median and the spread are printed too, and so is ``input only``: the time to
produce one batch by iterating the pipeline without training, the direct measure
of how much input work there is to hide behind the step.

Goal: pipeline / in-memory <= 1.05.

Works for every app (``app.dataset``); an app whose data is not prepared here is
skipped with the reason.

    python bench/pipeline.py [APP] [--examples 12800 | --steps N] [--rounds 3] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("app", nargs="?", default="image")
    parser.add_argument("--examples", type=int, default=12_800, help="training examples per epoch")
    parser.add_argument("--steps", type=int, default=0, help="steps per epoch instead of --examples")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median is reported)")
    parser.add_argument("--markdown", default=None, help="append this app's table to this file")
    args = parser.parse_args()

    import keras
    import tensorflow as tf
    from report import append, table

    from apps import get_app
    from apps.sysinfo import cpu_name

    app = get_app(args.app)
    # A slice of the training split keeps the run short; every epoch still pays the
    # real costs (shuffle-buffer fill, batching, augmentation, prefetch).
    examples = args.steps * app.Config().batch_size if args.steps else args.examples
    cfg = dataclasses.replace(app.Config(), max_train_examples=examples)
    keras.utils.set_random_seed(cfg.seed)
    model = app.build(cfg)
    try:
        feeds = {}
        if cfg.augment:  # apps that train unaugmented (vae) have only the plain pipeline
            feeds["pipeline+aug"] = app.dataset(cfg, "train")
        feeds["pipeline"] = app.dataset(dataclasses.replace(cfg, augment=False), "train")
        steps = int(sum(1 for _ in feeds["pipeline"]))  # also fills that pipeline's cache
    except Exception as err:  # noqa: BLE001 - missing data is a skip with its reason, not a crash
        reason = f"{type(err).__name__}: {str(err).splitlines()[0][:160]}"
        print(f"{app.name}: skipped, its training data is not available here ({reason})")
        append(args.markdown, f"**{app.name}**: skipped, training data not available here ({reason}).")
        return
    batch = next(iter(feeds["pipeline"]))
    feeds["in-memory"] = tf.data.Dataset.from_tensors(batch).repeat(steps)

    print(f"Warming up {app.name}: {steps} steps per epoch ...", flush=True)
    for ds in feeds.values():  # fills the caches and traces the train step
        model.fit(ds, epochs=1, verbose=0)

    times = {name: [] for name in feeds}
    for _ in range(args.rounds):  # interleaved: machine noise hits every feed alike
        for name, ds in feeds.items():
            start = time.perf_counter()
            model.fit(ds, epochs=1, verbose=0)
            times[name].append((time.perf_counter() - start) / steps)
    produce = {name: _input_only(feeds[name], steps, args.rounds) for name in feeds if name != "in-memory"}

    base = min(times["in-memory"])
    headers = ["feed", "ms/step (best round)", "× in-memory", "median ms", "max/min", "input only ms/batch"]
    rows = []
    for name, values in times.items():
        best = min(values)
        rows.append(
            [
                name,
                f"{best * 1000:.1f}",
                f"{best / base:.3f}",
                f"{statistics.median(values) * 1000:.1f}",
                f"{max(values) / best:.2f}",
                f"{produce[name] * 1000:.2f}" if name in produce else "-",
            ]
        )
    print(f"\n{app.name}: batch {cfg.batch_size}, {steps} steps x {args.rounds} rounds on {cpu_name()}")
    for row in [headers, *rows]:
        print(f"{row[0]:14s}" + "  ".join(f"{c:>{len(h)}}" for c, h in zip(row[1:], headers[1:])))
    ratio = min(times["pipeline"]) / base
    print(f"\npipeline / in-memory = {ratio:.3f} (goal <= 1.05): {'met' if ratio <= 1.05 else 'NOT met'}")
    append(
        args.markdown,
        f"**{app.name}**: batch {cfg.batch_size}, {steps} steps x {args.rounds} rounds\n\n"
        + table(["app", *headers], [[app.name, *row] for row in rows]),
    )


def _input_only(ds, steps: int, rounds: int) -> float:
    """Seconds to produce one batch of ``ds`` with no training step to hide it (best round)."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in ds:
            pass
        best = min(best, (time.perf_counter() - start) / steps)
    return best


if __name__ == "__main__":
    main()
