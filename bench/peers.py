"""Peers side by side: what a sceptic would run instead, and Glasswing, in one run.

- **image**: keras-io's "Simple MNIST convnet" (examples/vision/mnist_convnet.py: model,
  optimizer, batch 128, 15 epochs and ``validation_split=0.1`` exactly as published) on
  Fashion-MNIST's 60,000 training images, against ``glasswing train image``. The runs
  alternate peer, ours, peer, ours ... over ``--seeds``. Both record test accuracy after
  the same batches, ``--per-epoch`` times an epoch (the evaluation time is not counted),
  so the table gives each side's time to the peer's final accuracy.
- **sentiment**: scikit-learn TF-IDF (word 1-2-grams + char 2-5-grams) + logistic
  regression with C picked on validation (bench/sentiment.py) against the committed
  Glasswing model, on the movie test split and the NYT editorial snippets.
- **speech**: TensorFlow's "Simple audio recognition" tutorial model (STFT magnitude
  resized to 32x32, two convolutions, dense 128, Adam, early stopping) trained on the
  app's synthetic training split, against the committed DS-CNN, on the held-out
  synthetic voices and, with ``--speech-dev DIR``, a folder of real recordings.

    python bench/peers.py [--only image,sentiment,speech] [--seeds 1] [--set KEY=VALUE ...]
                          [--per-epoch 4] [--speech-dev DIR] [--markdown F]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(HERE))  # last, for bench/report.py only

import keras  # noqa: E402
import report  # noqa: E402
from flops import train_flops  # noqa: E402

from apps import artifacts  # noqa: E402
from apps.sysinfo import cpu_name  # noqa: E402
from apps.train import with_weights_of  # noqa: E402

PARTS = ("image", "sentiment", "speech")


class TestCurve(keras.callbacks.Callback):
    """Test accuracy ``per_epoch`` times an epoch against training seconds so far.

    Both sides of a pair train on 54,000 images in batches of 128, so scoring after the
    same batches of each epoch scores them after the same number of examples. Scoring only
    at epoch ends would round each side's time to the peer's accuracy up to its next epoch
    end, which penalises the side with the longer epochs.

    A model whose optimizer averages its weights (``use_ema``) is scored with the average
    mid-epoch too, as it would be published if training stopped there; at an epoch end
    ``SwapEMAWeights`` has already put the average in. The time spent scoring is
    subtracted, so ``points`` holds ``(seconds of fit, test accuracy, epochs done)`` as if
    nobody had looked, and ``paused`` the seconds spent scoring.

    ``until``: the accuracy whose crossing is wanted (the peer's). Once a point reaches it,
    scoring goes on at epoch ends only, and once an epoch end reaches it, stops: the rest
    of the curve is not read, and a model that averages many test-time views spends ~10 s
    a scoring.

    ``published``: ``model -> keras.Model``, the model training would publish from the one it
    fits, when they differ (``App.validation_config``: the image CNN fits 2 test-time views and
    publishes 10); what is scored.
    """

    def __init__(self, x, y, per_epoch: int = 1, until: float | None = None, published=None):
        super().__init__()
        self.x, self.y, self.per_epoch, self.until = x, y, per_epoch, until
        self.published = published
        self.points: list[tuple[float, float, float]] = []
        self.paused = 0.0

    def _reached(self, epoch_ends_only: bool) -> bool:
        points = epoch_ends(self.points) if epoch_ends_only else self.points
        return self.until is not None and time_to(points, self.until) is not None

    def on_train_begin(self, logs=None):
        self._start, self.paused = time.perf_counter(), 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        steps = self.params.get("steps") or 0
        # Batch indices after which to score mid-epoch (the epoch end scores the last).
        self._marks = {round(k * steps / self.per_epoch) - 1 for k in range(1, self.per_epoch)}

    def on_train_batch_end(self, batch, logs=None):
        if batch in self._marks and not self._reached(epoch_ends_only=False):
            with _averaged_weights(self.model.optimizer):
                self._score(self._epoch + (batch + 1) / self.params["steps"])

    def on_epoch_end(self, epoch, logs=None):
        if not self._reached(epoch_ends_only=True):
            self._score(epoch + 1)

    def _score(self, epochs: float) -> None:
        now = time.perf_counter()
        model = self.published(self.model) if self.published else self.model
        probs = model.predict(self.x, batch_size=1024, verbose=0)
        seconds, accuracy = now - self._start - self.paused, float(np.mean(probs.argmax(-1) == self.y))
        self.points.append((seconds, accuracy, epochs))
        print(f"  epoch {epochs:.2f}: test accuracy {accuracy:.4f} after {seconds:.0f} s", flush=True)
        self.paused += time.perf_counter() - now


@contextlib.contextmanager
def _averaged_weights(optimizer):
    """Within the block the model holds its optimizer's moving average of the weights, if it keeps one."""
    if not getattr(optimizer, "use_ema", False):
        yield
        return
    # Not keras.callbacks.SwapEMAWeights around predict: in Keras 3.15 its on_predict_end
    # does not swap back, so training would go on from the average. Keras keeps the average
    # in a list parallel to the trainable variables it updates.
    pairs = list(zip(optimizer._trainable_variables, optimizer._model_variables_moving_average, strict=True))
    raw = [variable.numpy() for variable, _ in pairs]
    for variable, average in pairs:
        variable.assign(average)
    try:
        yield
    finally:
        for (variable, _), value in zip(pairs, raw, strict=True):
            variable.assign(value)


def epoch_ends(points: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """The points scored at the end of an epoch."""
    return [point for point in points if float(point[2]).is_integer()]


def time_to(points: list[tuple[float, float]], target: float) -> float | None:
    """Seconds of training until test accuracy first reached ``target`` (None: never)."""
    return next((point[0] for point in points if point[1] >= target - 1e-9), None)


# --- image ---------------------------------------------------------------------------


def _fashion_arrays() -> dict:
    """Fashion-MNIST as the peer's script prepares it: float32 in [0, 1], (n, 28, 28, 1)."""
    from apps.image import data
    from apps.image.config import Config

    folder = data.find_source_dir(Config())
    out = {}
    for part in ("train", "test"):
        images, targets = data.read_pair(folder, part)
        out[part] = (np.expand_dims(images.astype("float32") / 255, -1), targets.astype("int64"))
    return out


def keras_io_convnet(seed: int, arrays: dict, per_epoch: int = 1) -> dict:
    """keras-io's Simple MNIST convnet, unchanged but for the data (and a seed)."""
    from keras import layers

    keras.utils.set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = arrays["train"], arrays["test"]
    model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    curve = TestCurve(x_test, y_test, per_epoch)
    model.fit(
        x_train, keras.utils.to_categorical(y_train, 10), batch_size=128, epochs=15,
        validation_split=0.1, callbacks=[curve], verbose=0,
    )  # fmt: skip
    return {
        "points": curve.points,
        "epochs": curve.points[-1][2],
        "seconds": curve.points[-1][0],
        "params": model.count_params(),
        "flops": train_flops(model)[0],
    }


def glasswing_image(
    seed: int,
    arrays: dict,
    overrides: list[str],
    keep: str | None = None,
    per_epoch: int = 1,
    until: float | None = None,
) -> dict:
    """``glasswing train image`` (apps.train.train) with ``--set`` overrides, in a scratch folder.

    ``keep``: also copy the published model folder there (its ``wall_time_s`` includes
    the test scoring this bench adds). ``until``: see :class:`TestCurve`.
    """
    from apps.app import apply_overrides
    from apps.image import APP
    from apps.train import train

    cfg = apply_overrides(APP.Config(), [*overrides, f"seed={seed}"])
    published = functools.partial(with_weights_of, APP, cfg)
    curve = TestCurve(*arrays["test"], per_epoch, until, published=published)
    with tempfile.TemporaryDirectory(prefix="glasswing-peer-") as tmp:
        command = "glasswing train image" + "".join(f" --set {o}" for o in overrides)
        folder = train(APP, cfg, models_dir=tmp, callbacks=[curve], verbose=0, command=command)
        if keep:
            shutil.copytree(folder, keep, dirs_exist_ok=True)
        metrics = artifacts.read_json(folder / artifacts.METRICS_FILE)
        model = artifacts.load_model(folder / artifacts.MODEL_FILE)
        return {
            # The same weights with fewer test-time views: one, and the two mirror views.
            "single_view": fewer_views_accuracy(APP, cfg, model, *arrays["test"], flip_tta=False),
            "mirror_views": fewer_views_accuracy(APP, cfg, model, *arrays["test"], tta_shift=0),
            "points": curve.points,
            "params": model.count_params(),
            "flops": train_flops(model)[0],
            "final": metrics["accuracy"],
            "epochs": metrics["epochs_run"],
            # Its whole run, data loading included, less this bench's scoring.
            "seconds": metrics["wall_time_s"] - curve.paused,
        }


def fewer_views_accuracy(app, cfg, model, x, y, **fewer) -> float | None:
    """Test accuracy of ``model``'s weights rebuilt with the Config changes ``fewer`` (fewer test-time
    views: ``flip_tta=False`` for one, ``tta_shift=0`` for the two mirror views).

    None: the model has no test-time views, or ``fewer`` would not drop any.
    """
    if not (cfg.flip and cfg.flip_tta) or all(getattr(cfg, k) == v for k, v in fewer.items()):
        return None
    plain = with_weights_of(app, dataclasses.replace(cfg, **fewer), model)
    return float(np.mean(plain.predict(x, batch_size=1024, verbose=0).argmax(-1) == y))


def image_part(
    seeds: list[int], overrides: list[str], md: str | None, keep: str | None = None, per_epoch: int = 4
) -> None:
    arrays = _fashion_arrays()
    runs = {"peer": [], "ours": []}
    for seed in seeds:  # interleaved: a slow spell on a shared machine hits both sides
        for side in ("peer", "ours"):
            print(f"image seed {seed}: {side} ...", flush=True)
            result = (
                keras_io_convnet(seed, arrays, per_epoch)
                if side == "peer"
                else glasswing_image(
                    seed,
                    arrays,
                    overrides,
                    keep if seed == seeds[0] else None,
                    per_epoch,
                    until=runs["peer"][-1]["final"],
                )
            )
            result["final"] = result.get("final", result["points"][-1][1])
            runs[side].append(result)
            print(f"  test accuracy {result['final']:.4f} in {result['seconds']:.0f} s", flush=True)
    rows, ratios, coarse = [], [], []
    for i, seed in enumerate(seeds):
        target = runs["peer"][i]["final"]
        times = {side: time_to(runs[side][i]["points"], target) for side in runs}
        # The same, scored at epoch ends only (how this bench measured before --per-epoch).
        ends = {side: time_to(epoch_ends(runs[side][i]["points"]), target) for side in runs}
        if times["ours"] is not None:
            ratios.append(times["ours"] / times["peer"])
        if ends["ours"] is not None:
            coarse.append(ends["ours"] / ends["peer"])
        for side in runs:
            r = runs[side][i]
            rows.append(
                [
                    seed, side, f"{r['final']:.4f}", _fmt_acc(r.get("mirror_views")),
                    _fmt_acc(r.get("single_view")), f"{r['seconds']:.0f}",
                    f"{r['epochs']:g}",
                    _fmt_s(times[side]), _fmt_s(ends[side]), f"{r['params']:,}", f"{r['flops'] / 1e6:.1f}",
                ]
            )  # fmt: skip
    summary = {
        side: (_mean_sd([r["final"] for r in runs[side]]), _mean_sd([r["seconds"] for r in runs[side]]))
        for side in runs
    }
    ratio = _mean_sd(ratios) if ratios else "never reached"
    text = report.table(
        ["seed", "model", "test accuracy", "same weights, 2 mirror views", "same weights, 1 view", "train s",
         "epochs",
         "s to the peer's final accuracy", "the same, epoch ends only", "params", "train MFLOP/example"],
        rows,
    )  # fmt: skip
    text += (
        f"\n\nMean over {len(seeds)} seed(s): peer {summary['peer'][0]} in {summary['peer'][1]} s; "
        f"Glasswing {summary['ours'][0]} in {summary['ours'][1]} s. Time to the peer's final accuracy, "
        f"Glasswing / peer: **{ratio}** (scored {per_epoch}x an epoch; at epoch ends only: "
        f"{_mean_sd(coarse) if coarse else 'never reached'})."
    )
    for key, what in (("mirror_views", "with 2 mirror views"), ("single_view", "with 1 view")):
        scores = [r[key] for r in runs["ours"] if r.get(key) is not None]
        if scores:
            text += f" Glasswing's weights {what}: {_mean_sd(scores)}."
    print(text, flush=True)
    settings = (
        "Peer: keras-io `examples/vision/mnist_convnet.py` as published (Conv 32, pool, Conv 64, pool, "
        "dropout 0.5, dense softmax; Adam 1e-3, batch 128, 15 epochs, validation_split=0.1 of the 60,000 "
        "training images). Glasswing: `glasswing train image"
        + "".join(f" --set {o}" for o in overrides)
        + "` (its Config defaults: 54,000 training images, 6,000 validation). Both train on 54,000 images "
        f"in batches of 128 and are scored on the same 10,000 test images {per_epoch}x an epoch, after the "
        "same batches (Glasswing with its averaged weights, as it would publish them); scoring time is not "
        "counted. train s: the peer's fit time; Glasswing's recorded wall time (with data loading) less "
        "the scoring."
    )
    report.append(md, f"### Peers: image (Fashion-MNIST)\n\n{settings}\n\n{text}")


# --- sentiment ---------------------------------------------------------------------------


def sentiment_part(models_dir: str, md: str | None) -> None:
    """TF-IDF + logistic regression trained here vs the committed Glasswing sentiment model."""
    import sentiment as bench_sentiment  # bench/sentiment.py: the sets and the scikit-learn peer

    from apps.sentiment import APP

    folder = Path(models_dir) / "sentiment"
    sets = bench_sentiment.load_sets(APP.Config())
    start = time.perf_counter()
    peer, note = bench_sentiment.tfidf_lr(sets)
    peer_s = time.perf_counter() - start
    model = artifacts.load_model(folder / artifacts.MODEL_FILE)
    metrics = artifacts.read_json(folder / artifacts.METRICS_FILE)
    ours = bench_sentiment.accuracies(
        bench_sentiment.glasswing_predictor(model, APP.preprocessor(folder)), sets
    )
    arch = artifacts.load_config(APP, folder).arch
    rows = [
        ["scikit-learn TF-IDF word 1-2 + char 2-5, logistic regression (" + note + ")",
         f"{peer['test']:.4f}", f"{peer['nyt']:.4f}", f"{peer_s:.0f} (trained here)", "-"],
        [f"Glasswing {arch} ({folder})", f"{ours['test']:.4f}", f"{ours['nyt']:.4f}",
         f"{metrics.get('wall_time_s', 0):.0f} (its metrics.json)", f"{model.count_params():,}"],
    ]  # fmt: skip
    text = report.table(
        ["model", f"movie test ({len(sets.labels['test'])})", f"NYT editorials ({len(sets.labels['nyt'])})",
         "train s", "params"],
        rows,
    )  # fmt: skip
    text += (
        f"\n\nGlasswing - peer: movie test {100 * (ours['test'] - peer['test']):+.1f} pt, NYT "
        f"{100 * (ours['nyt'] - peer['nyt']):+.1f} pt, at {metrics.get('wall_time_s', 0) / peer_s:.0f}x "
        "the training time (bench/sentiment.py has more baselines and seeds)."
    )
    print(text, flush=True)
    report.append(md, f"### Peers: sentiment\n\n{text}")


# --- speech ------------------------------------------------------------------------------


def tutorial_spectrogram(waveform):
    """The tutorial's features: |STFT| with 255-sample frames every 128 samples, one channel."""
    import tensorflow as tf

    return tf.abs(tf.signal.stft(waveform, frame_length=255, frame_step=128))[..., None]


def simple_audio_model(train_ds, val_ds, n_labels: int, seed: int):
    """TensorFlow's "Simple audio recognition" tutorial model, trained as the tutorial does."""
    from keras import layers

    keras.utils.set_random_seed(seed)
    norm = layers.Normalization()
    norm.adapt(train_ds.map(lambda x, _: x))
    model = keras.Sequential(
        [
            keras.Input(train_ds.element_spec[0].shape[1:]),
            layers.Resizing(32, 32),
            norm,
            layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Dropout(0.25),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.5),
            layers.Dense(n_labels),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(
        train_ds, validation_data=val_ds, epochs=10, verbose=2,
        callbacks=[keras.callbacks.EarlyStopping(verbose=1, patience=2)],
    )  # fmt: skip
    return model


def _speech_split(cfg, split: str, batch: int):
    from apps.speech import data

    ds = data.waveforms(cfg, split).map(lambda x, y: (tutorial_spectrogram(data._to_float(x)), y))
    return ds.cache().batch(batch).prefetch(2)


def _real_recordings(folder: str, cfg):
    """Waveforms and label ids of a folder of recordings, read as `glasswing evaluate --data` reads it."""
    from apps.speech import APP

    labels = APP.labels(cfg)
    data = APP.labelled(folder, labels)
    waves = np.stack([APP.raw.load(path, cfg)[0] for path in data.inputs])
    return waves, np.array([labels.index(label) for label in data.labels])


def speech_part(models_dir: str, speech_dev: str | None, md: str | None, seeds=(42,)) -> None:
    """The tutorial model trained on the synthetic training split (once per seed) vs the committed DS-CNN."""
    import tensorflow as tf

    from apps.evaluate import keras_predictor
    from apps.speech import APP, data

    folder = Path(models_dir) / "speech"
    cfg = artifacts.load_config(APP, folder)
    train_ds, val_ds = _speech_split(cfg, "train", 64), _speech_split(cfg, "validation", 64)
    ours = artifacts.load_model(folder / artifacts.MODEL_FILE)
    ours_run, frontend = keras_predictor(ours), APP.raw.frontend(cfg)
    test = [(x / 32768.0, y) for x, y in data.waveforms(cfg, "test").as_numpy_iterator()]
    sets = {f"held-out synthetic voices ({len(test)})": (
        np.stack([x for x, _ in test]).astype("float32"), np.array([y for _, y in test])
    )}  # fmt: skip
    if speech_dev:
        waves, y = _real_recordings(speech_dev, cfg)
        sets[f"real recordings ({len(y)}, {Path(speech_dev).name})"] = (waves, y)

    def accuracy(predict, waves, y) -> float:
        return float(
            np.mean(np.concatenate([predict(waves[i : i + 256]) for i in range(0, len(waves), 256)]) == y)
        )

    def ours_predict(waves):
        return ours_run(np.asarray(frontend(tf.constant(waves)))).argmax(-1)

    rows, peer_scores = [], []
    for seed in seeds:
        start = time.perf_counter()
        peer = simple_audio_model(train_ds, val_ds, len(APP.labels(cfg)), seed)
        peer_s = time.perf_counter() - start

        def peer_predict(waves, peer=peer):
            return peer.predict(tutorial_spectrogram(tf.constant(waves)), verbose=0).argmax(-1)

        peer_scores.append([accuracy(peer_predict, *xy) for xy in sets.values()])
        rows.append(
            [
                f"TensorFlow tutorial 'Simple audio recognition' (trained here, seed {seed})",
                *(f"{a:.4f}" for a in peer_scores[-1]),
                f"{peer_s:.0f}",
                f"{peer.count_params():,}",
            ]
        )
    if len(seeds) > 1:
        rows.append(
            [
                f"**tutorial model, mean ± sd of {len(seeds)} seeds**",
                *(f"{np.mean(c):.4f} ± {np.std(c, ddof=1):.4f}" for c in zip(*peer_scores)),
                "",
                "",
            ]
        )
    metrics = artifacts.read_json(folder / artifacts.METRICS_FILE)
    rows.append(
        [
            f"Glasswing DS-CNN ({folder})",
            *(f"{accuracy(ours_predict, *xy):.4f}" for xy in sets.values()),
            f"{metrics.get('wall_time_s', 0):.0f} (its metrics.json)",
            f"{ours.count_params():,}",
        ]
    )
    text = report.table(["model", *sets, "train s", "params"], rows)
    settings = (
        "Peer: the tutorial's model and training as published (|STFT| 255/128 resized to 32x32, "
        "Normalization adapted on the training set, Conv 32, Conv 64, pool, dropout 0.25, dense 128, dropout "
        "0.5; Adam, batch 64, 10 epochs, early stopping patience 2) on the app's synthetic training split, "
        "no augmentation."
    )
    print(text, flush=True)
    report.append(md, f"### Peers: speech\n\n{settings}\n\n{text}")


def _fmt_acc(accuracy: float | None) -> str:
    return "-" if accuracy is None else f"{accuracy:.4f}"


def _fmt_s(seconds: float | None) -> str:
    return "never" if seconds is None else f"{seconds:.0f}"


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default=",".join(PARTS))
    parser.add_argument(
        "--seeds", type=int, default=1, help="image runs per side, speech peer runs (seeds 42, 1, 2, ...)"
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="Glasswing image Config")
    parser.add_argument("--models-dir", default="models", help="the committed sentiment and speech models")
    parser.add_argument("--speech-dev", help="a folder of real labelled recordings to score speech on")
    parser.add_argument("--keep", help="copy Glasswing's first image model folder here")
    parser.add_argument(
        "--per-epoch", type=int, default=4, help="image: score test accuracy this many times an epoch"
    )
    parser.add_argument("--markdown")
    args = parser.parse_args()
    print(f"Machine: {cpu_name()}", flush=True)
    seeds = [42, 1, 2, 3, 4][: args.seeds]
    only = [p.strip() for p in args.only.split(",") if p.strip()]
    if "image" in only:
        image_part(seeds, args.overrides, args.markdown, args.keep, args.per_epoch)
    if "sentiment" in only:
        sentiment_part(args.models_dir, args.markdown)
    if "speech" in only:
        speech_part(args.models_dir, args.speech_dev, args.markdown, seeds)


if __name__ == "__main__":
    main()
