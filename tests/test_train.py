"""Shared training: artifacts, atomic publishing, resuming a killed run."""

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import types

import pytest

from apps import artifacts
from apps.errors import GlasswingError
from apps.image import APP
from apps.train import cosine_schedule, train
from tests.conftest import ROOT

EXPECTED_FILES = {"model.keras", "config.json", "labels.txt", "metrics.json", "history.csv", "MODEL_CARD.md"}


def _history_epochs(path):
    """The epochs logged in a ``history.csv``.

    The kill test polls the file while CSVLogger writes it, so a header or row still being
    written (no ``epoch`` value yet) counts as no epoch rather than failing the read.
    """
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f) if (row.get("epoch") or "").isdigit()]


def test_train_writes_every_artifact(image_cfg, tmp_path):
    cfg = dataclasses.replace(image_cfg, epochs=2, patience=5)
    folder = train(APP, cfg, tmp_path / "models", command="pytest")
    assert folder == tmp_path / "models" / "image"
    assert EXPECTED_FILES <= {p.name for p in folder.iterdir()}
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["split_sizes"] == {"train": 64, "validation": 200, "test": 200}
    assert metrics["n_examples"] == 200 and metrics["command"] == "pytest"
    cm = metrics["confusion_matrix"]
    assert sum(map(sum, cm)) == 200
    assert metrics["accuracy"] == pytest.approx(sum(cm[i][i] for i in range(10)) / 200)
    assert set(metrics["per_class"]) == set(APP.labels(cfg))
    assert _history_epochs(folder / "history.csv") == [0, 1]
    assert (folder / "labels.txt").read_text().splitlines() == APP.labels(cfg)
    assert json.loads((folder / "config.json").read_text())["epochs"] == 2
    # The resumable work folder is gone once the artifact is published.
    assert not any((tmp_path / "models" / ".partial").iterdir())


def test_saved_model_drops_optimizer_state_but_stays_trainable(image_cfg, tmp_path):
    import warnings

    x, y = APP.fake_batch(image_cfg, 32)
    model = APP.build(image_cfg)
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "with_optimizer.keras")
    artifacts.save_model(model, tmp_path / "model.keras")
    full, lean = (tmp_path / "with_optimizer.keras").stat().st_size, (tmp_path / "model.keras").stat().st_size
    assert lean < 0.8 * full
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reloaded = artifacts.load_model(tmp_path / "model.keras")
    assert reloaded.compiled
    reloaded.fit(x, y, epochs=1, verbose=0)  # fine-tuning works from the artifact


def test_a_failed_run_leaves_the_previous_model_untouched(image_cfg, tmp_path, monkeypatch):
    models = tmp_path / "models"
    good = train(APP, image_cfg, models)
    before = {p.name: p.read_bytes() for p in good.iterdir() if p.is_file()}

    def broken_evaluate(*args, **kwargs):
        raise RuntimeError("disk full while evaluating")

    monkeypatch.setattr("apps.train.evaluate", broken_evaluate)
    with pytest.raises(RuntimeError, match="disk full"):
        train(APP, dataclasses.replace(image_cfg, epochs=2), models)
    after = {p.name: p.read_bytes() for p in good.iterdir() if p.is_file()}
    assert after == before
    assert sorted(p.name for p in models.iterdir()) == [".partial", "image"]


def test_a_run_refused_before_it_writes_anything_leaves_no_work_folder(image_cfg, tmp_path):
    models = tmp_path / "models"

    def refused(cfg):
        raise GlasswingError("this Config cannot be built")

    with pytest.raises(GlasswingError, match="cannot be built"):
        train(APP, image_cfg, models, build=refused)
    assert list(models.iterdir()) == []


def test_publish_dir_swaps_whole_folders(tmp_path):
    final, staged = tmp_path / "image", tmp_path / "staged"
    final.mkdir()
    (final / "old.txt").write_text("old")
    staged.mkdir()
    (staged / "new.txt").write_text("new")
    artifacts.publish_dir(staged, final)
    assert [p.name for p in final.iterdir()] == ["new.txt"]
    assert not staged.exists() and len(list(tmp_path.iterdir())) == 1


def test_unwritable_models_dir_is_a_clear_error(image_cfg, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(GlasswingError, match="Cannot write to"):
        train(APP, image_cfg, blocker / "models")


def test_cosine_schedule_warms_up_then_decays():
    cfg = dataclasses.replace(APP.Config(), epochs=10, warmup_fraction=0.2, learning_rate=1.0)
    rates = [cosine_schedule(cfg)(e) for e in range(10)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(rates[2:], rates[3:])) and rates[-1] > 0


# Kills and restarts training processes (~45 s): with the slow tests, which CI runs too.
@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped(image_data_dir, tmp_path):
    """SIGKILL a real training process mid-run; the same command resumes, not restarts."""
    models = tmp_path / "models"
    command = [
        sys.executable,
        "-m",
        "apps.train",
        "image",
        "--tiny",
        "--models-dir",
        str(models),
        "--set",
        f"data_dir={image_data_dir}",
        "--set",
        "epochs=12",
        "--set",
        "patience=50",
        "--set",
        "max_train_examples=1600",
        "--set",
        "batch_size=8",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    history = None
    while time.time() < deadline and proc.poll() is None:
        found = list(models.glob(".partial/image-*/history.csv"))
        if found and len(_history_epochs(found[0])) >= 2:
            history = found[0]
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert history is not None, "training never logged two epochs"
    done_before_kill = len(_history_epochs(history))
    assert 2 <= done_before_kill < 12, "the run finished before it could be killed"
    assert not (models / "image").exists(), "a killed run must not publish an artifact"

    resumed = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Resuming interrupted run at epoch" in resumed.stdout
    resumed_at = int(resumed.stdout.split("Resuming interrupted run at epoch ")[1].split(".")[0])
    assert 2 < resumed_at <= done_before_kill + 1
    final_epochs = _history_epochs(models / "image" / "history.csv")
    assert final_epochs == list(range(12))


def test_weight_averaging_publishes_the_averaged_weights(image_cfg, tmp_path):
    """With ``ema`` on, validation, the best checkpoint and the artifact all use the average."""
    import keras
    import numpy as np

    seen = []  # per epoch: (weights the epoch-end callbacks see, the raw weights kept aside)

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(
                (
                    [v.numpy().copy() for v in self.model.trainable_variables],
                    [v.numpy().copy() for v in self.model.optimizer._model_variables_moving_average],
                )
            )

    cfg = dataclasses.replace(image_cfg, epochs=3, patience=5, ema=0.5)
    folder = train(APP, cfg, tmp_path / "models", callbacks=[Record()])
    assert len(seen) == 3
    # The swap happened: the weights callbacks saw are not the ones training goes on with
    # (after the last epoch both are the average, which fit() then keeps).
    assert any(not np.allclose(a, b) for a, b in zip(*seen[-2]))
    history = list(csv.DictReader(open(folder / "history.csv", newline="")))
    best = int(np.argmin([float(row["val_loss"]) for row in history]))
    published = artifacts.load_model(folder / "model.keras").trainable_variables
    for saved, averaged in zip(published, seen[best][0]):
        np.testing.assert_allclose(saved.numpy(), averaged, rtol=1e-6, atol=1e-7)


def test_fit_validates_two_views_and_publishes_every_view_with_the_trained_weights(image_cfg, tmp_path):
    """The image CNN fits and validates its 2 mirror views; the published model averages all 10."""
    import keras
    import numpy as np

    seen = []  # per epoch: (views validated, the weights validated, val_loss)

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            weights = [v.numpy().copy() for v in self.model.trainable_variables]
            seen.append((self.model.get_layer("mean_of_views").views, weights, logs["val_loss"]))

    cfg = dataclasses.replace(image_cfg, epochs=3, patience=5, tta_shift=1)
    folder = train(APP, cfg, tmp_path, callbacks=[Record()], verbose=0)
    assert [views for views, _, _ in seen] == [2, 2, 2]
    published = artifacts.load_model(folder / "model.keras")
    assert published.get_layer("mean_of_views").views == 10
    best = int(np.argmin([loss for _, _, loss in seen]))
    for saved, validated in zip(published.trainable_variables, seen[best][1]):
        np.testing.assert_allclose(saved.numpy(), validated, rtol=1e-6, atol=1e-7)
    assert "with `tta_shift=0`" in (folder / "MODEL_CARD.md").read_text()
    # The test metrics are the published 10-view model's.
    x, y = (np.concatenate(part) for part in zip(*APP.dataset(cfg, "test")))
    accuracy = np.mean(published.predict(x, verbose=0).argmax(-1) == y)
    assert json.loads((folder / "metrics.json").read_text())["accuracy"] == pytest.approx(accuracy, abs=1e-6)


def test_fit_validates_the_whole_validation_split_every_epoch(image_cfg, tmp_path):
    """Early stopping and the best checkpoint are chosen on val_loss: it must cover every example.

    Under OneDeviceStrategy about 1 run in 10 under CPU load validated 2-4 of these 13 batches
    in every epoch (a cancelled peek finalised the validation cache short; see choose_strategy).
    """
    import keras

    cfg = dataclasses.replace(image_cfg, epochs=3, patience=5, batch_size=16)
    batches = list(APP.dataset(cfg, "validation"))
    n_val = sum(int(y.shape[0]) for _, y in batches)
    seen = []

    class CountValidation(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            self.batches = 0

        def on_test_batch_end(self, batch, logs=None):
            self.batches += 1

        def on_epoch_end(self, epoch, logs=None):
            seen.append((self.batches, logs["val_accuracy"]))

    train(APP, cfg, tmp_path, callbacks=[CountValidation()], verbose=0)
    assert len(seen) == 3 and n_val > 16
    for count, accuracy in seen:
        assert count == len(batches), seen
        # An accuracy over n_val examples is a multiple of 1 / n_val.
        assert abs(accuracy * n_val - round(accuracy * n_val)) < 1e-3, (accuracy, n_val, seen)


def test_training_on_one_device_uses_no_distribution_strategy(image_cfg):
    """A distributed dataset is what let a cancelled peek truncate the validation cache."""
    import tensorflow as tf

    from apps.train import choose_strategy, strategy_name

    strategy = choose_strategy(image_cfg)
    assert strategy is tf.distribute.get_strategy() and strategy_name(strategy) == "one device"


def test_a_pass_over_part_of_a_split_stops_training():
    from apps.errors import GlasswingError
    from apps.train import SplitCoverage

    guard = SplitCoverage(train=5, validation=13)
    guard.set_model(types.SimpleNamespace(stop_training=False))
    guard.on_epoch_begin(0)
    for step in range(5):
        guard.on_train_batch_end(step)
    for passes in (13, 3):
        guard.on_test_begin()
        for step in range(passes):
            guard.on_test_batch_end(step)
        if passes == 13:
            guard.on_test_end()
            guard.on_epoch_end(0)
    with pytest.raises(GlasswingError, match="validation pass covered only 3 of the split's 13 batches"):
        guard.on_test_end()
    guard.on_epoch_begin(1)
    guard.on_train_batch_end(0)
    with pytest.raises(GlasswingError, match="training pass covered only 1 of the split's 5 batches"):
        guard.on_epoch_end(1)
    guard.model.stop_training = True  # a callback stopped the epoch on purpose (TerminateOnNaN)
    guard.on_epoch_end(1)
    unknown = SplitCoverage(None, None)
    unknown.set_model(types.SimpleNamespace(stop_training=False))
    unknown.on_epoch_begin(0)
    unknown.on_test_begin()
    unknown.on_test_end()  # unknown sizes check nothing
    unknown.on_epoch_end(0)


def test_early_stopping_waits_for_the_schedules_midpoint(tmp_path, image_cfg):
    import keras

    from apps.train import _callbacks

    cfg = dataclasses.replace(image_cfg, epochs=20, patience=2)
    (stopper,) = [c for c in _callbacks(cfg, tmp_path, False) if isinstance(c, keras.callbacks.EarlyStopping)]
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.stop_training = False  # what fit() sets before the callbacks run
    stopper.set_model(model)
    stopper.on_train_begin()
    stopped = None
    # Validation loss gets worse every epoch: only the second half's first value is the best.
    for epoch in range(cfg.epochs):
        stopper.on_epoch_end(epoch, {"val_loss": 1.0 + epoch})
        if stopper.model.stop_training:
            stopped = epoch
            break
    assert stopped == 10 + 2


def test_training_reads_one_repeated_split_with_a_fresh_shuffle_each_pass():
    import tensorflow as tf

    from apps.train import _one_iterator

    split = tf.data.Dataset.range(10).cache().shuffle(10, seed=0, reshuffle_each_iteration=True).batch(4)
    repeated, steps = _one_iterator(split, 3)
    assert steps == 3
    batches = [b.numpy().tolist() for b in repeated.take(6)]
    # Epochs stay aligned with the split (its short last batch included), each a new permutation.
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2]
    first, second = sum(batches[:3], []), sum(batches[3:], [])
    assert sorted(first) == sorted(second) == list(range(10)) and first != second
    # A split of unknown length is left to Keras' own per-epoch iterator.
    assert _one_iterator(split, None) == (split, None)
