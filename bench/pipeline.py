"""Is the tf.data pipeline the bottleneck? Step time with the real pipeline vs in-memory tensors.

Runs the same model's training step three ways, interleaved round by round so
machine noise hits all of them alike, and prints median step times and ratios:

* ``pipeline+aug`` — the app's real training pipeline (cache, shuffle, batch,
  augmentation, prefetch), as ``glasswing train`` uses it;
* ``pipeline``     — the same pipeline with augmentation off;
* ``in-memory``    — one batch already materialised as a tensor, repeated
  (no input work at all: the lower bound).

Goal: pipeline / in-memory <= 1.05.

    python bench/pipeline.py [APP] [--steps 60] [--rounds 3]
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
    parser.add_argument("--steps", type=int, default=60, help="training steps per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median is reported)")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from apps import get_app
    from apps.train import cpu_name

    app = get_app(args.app)
    cfg = app.Config()
    keras.utils.set_random_seed(cfg.seed)
    model = app.build(cfg)
    feeds = {
        "pipeline+aug": app.dataset(cfg, "train").repeat(),
        "pipeline": app.dataset(dataclasses.replace(cfg, augment=False), "train").repeat(),
    }
    batch = next(iter(feeds["pipeline"]))
    feeds["in-memory"] = tf.data.Dataset.from_tensors(batch).repeat()
    iterators = {name: iter(ds) for name, ds in feeds.items()}

    # Fill the pipelines' caches (one pass over the data) and trace the step before timing.
    print(f"Warming up {app.name} (first pass fills the tf.data cache) ...", flush=True)
    steps_per_epoch = int(app.dataset(cfg, "train").cardinality())
    for name in ("pipeline+aug", "pipeline"):
        model.fit(iterators[name], steps_per_epoch=max(steps_per_epoch, 1), epochs=1, verbose=0)
    model.fit(iterators["in-memory"], steps_per_epoch=5, epochs=1, verbose=0)

    times = {name: [] for name in feeds}
    for _ in range(args.rounds):
        for name, iterator in iterators.items():
            start = time.perf_counter()
            model.fit(iterator, steps_per_epoch=args.steps, epochs=1, verbose=0)
            times[name].append((time.perf_counter() - start) / args.steps)

    base = statistics.median(times["in-memory"])
    print(f"\n{app.name}: batch {cfg.batch_size}, {args.steps} steps x {args.rounds} rounds on {cpu_name()}")
    print(f"{'feed':14s} {'ms/step':>9s} {'ratio vs in-memory':>20s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:14s} {median * 1000:9.1f} {median / base:20.3f}")
    ratio = statistics.median(times["pipeline"]) / base
    print(f"\npipeline / in-memory = {ratio:.3f} (goal <= 1.05): {'met' if ratio <= 1.05 else 'NOT met'}")


if __name__ == "__main__":
    main()
