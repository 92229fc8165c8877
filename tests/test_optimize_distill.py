"""Knowledge distillation: the loss on a hand-computed case, student configs, only the student saved."""

import dataclasses
import json
import math

import keras
import numpy as np
import pytest

from apps import artifacts
from apps.errors import GlasswingError
from apps.image import APP
from apps.optimize import distill


def _constant_model(probs, name):
    """A 2-input model whose softmax outputs ``probs`` for every input (zero kernel, log-prob bias)."""
    inputs = keras.Input((2,))
    layer = keras.layers.Dense(len(probs), activation="softmax", name="probs")
    model = keras.Model(inputs, layer(inputs), name=name)
    layer.set_weights([np.zeros((2, len(probs)), np.float32), np.log(np.asarray(probs, np.float32))])
    return model


def test_distillation_loss_matches_the_formula_by_hand():
    teacher, student, y = np.array([[0.5, 0.5]]), np.array([[0.8, 0.2]]), np.array([0])
    # T = 1: alpha * -ln 0.8 + (1 - alpha) * KL([.5, .5] || [.8, .2]).
    kl = 0.5 * math.log(0.5 / 0.8) + 0.5 * math.log(0.5 / 0.2)
    expected = 0.3 * -math.log(0.8) + 0.7 * kl
    got = float(distill.distillation_loss(y, teacher, student, alpha=0.3, temperature=1.0))
    assert got == pytest.approx(expected, rel=1e-4)
    # T = 2 softens the student to sqrt(p) / sum(sqrt(p)) = [2/3, 1/3]; the teacher stays uniform.
    soft = np.array([2 / 3, 1 / 3])
    kl_t2 = float(np.sum(0.5 * np.log(0.5 / soft)))
    got = float(distill.distillation_loss(y, teacher, student, alpha=0.0, temperature=2.0))
    assert got == pytest.approx(4 * kl_t2, rel=1e-4)
    # Identical distributions: only the hard term is left.
    got = float(distill.distillation_loss(y, student, student, alpha=0.5, temperature=3.0))
    assert got == pytest.approx(0.5 * -math.log(0.8), rel=1e-4)


def test_distiller_loss_and_prediction_are_the_students():
    teacher, student = _constant_model([0.5, 0.5], "teacher"), _constant_model([0.8, 0.2], "student")
    model = distill.Distiller(teacher, student, alpha=0.3, temperature=1.0)
    model.compile(optimizer="sgd", metrics=["accuracy"])
    x, y = np.zeros((4, 2), np.float32), np.zeros(4, np.int64)
    np.testing.assert_allclose(model.predict(x, verbose=0), [[0.8, 0.2]] * 4, atol=1e-6)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    expected = 0.3 * -math.log(0.8) + 0.7 * (0.5 * math.log(0.5 / 0.8) + 0.5 * math.log(0.5 / 0.2))
    assert logs["loss"] == pytest.approx(expected, rel=1e-4) and logs["accuracy"] == 1.0
    before = [w.copy() for w in teacher.get_weights()]
    model.fit(x, y, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, teacher.get_weights())), (
        "teacher must stay frozen"
    )
    assert not np.allclose(student.get_weights()[1], np.log([0.8, 0.2]))


def test_default_student_divides_width_fields():
    teacher = APP.Config()
    cfg = distill.student_config(APP, teacher)
    assert (cfg.filters, cfg.dense_units) == (teacher.filters // 4, teacher.dense_units // 4)
    assert cfg.epochs == APP.Config().epochs and cfg.dropout == APP.Config().dropout
    cfg = distill.student_config(APP, APP.Config(), ["filters=4"])
    assert (cfg.filters, cfg.dense_units) == (4, 64)
    with pytest.raises(GlasswingError, match="Unknown config key 'widht'"):
        distill.student_config(APP, APP.Config(), ["widht=3"])


def test_default_student_of_sentiment_is_valid():
    from apps.sentiment import APP as SENTIMENT

    cfg = distill.student_config(SENTIMENT, SENTIMENT.Config())
    assert (cfg.embed_dim, cfg.lstm_units, cfg.ff_dim) == (8, 12, 32)
    cfg = distill.student_config(SENTIMENT, SENTIMENT.Config(arch="transformer"))
    assert cfg.embed_dim % cfg.num_heads == 0


@pytest.mark.slow  # 10-18 s end to end: in `make test-slow`, so the default run stays under 10 min
def test_only_the_student_is_saved_through_the_shared_training_path(image_cfg, tmp_path):
    from apps.train import train

    teacher_cfg = dataclasses.replace(image_cfg, filters=8, dense_units=16)
    teacher_folder = train(APP, teacher_cfg, tmp_path / "models", verbose=0)
    student_cfg = distill.training_config(distill.student_config(APP, teacher_cfg), 1)
    assert (student_cfg.filters, student_cfg.dense_units) == (2, 4)

    def build(cfg):
        student = APP.build(cfg)
        teacher = artifacts.load_model(teacher_folder / artifacts.MODEL_FILE)
        model = distill.Distiller(teacher, student)
        model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), metrics=["accuracy"])
        return model

    folder = train(
        APP, student_cfg, tmp_path / "out", verbose=0, build=build, save=lambda m: m.student, name="d/student"
    )
    assert folder == tmp_path / "out" / "d" / "student"
    saved = artifacts.load_model(folder / artifacts.MODEL_FILE)
    assert not isinstance(saved, distill.Distiller)
    assert saved.count_params() == APP.build(student_cfg).count_params()
    assert saved.count_params() < artifacts.load_model(teacher_folder / artifacts.MODEL_FILE).count_params()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert json.loads((folder / "config.json").read_text())["filters"] == 2
