"""Global explanations (Insights): per-class aggregation checked on models with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from xai_models import (
    AUDIO_APP,
    SEQ_LEN,
    TEXT_APP,
    VOCAB,
    additive_text_model,
    quadrant_model,
    quadrant_region,
)

from xai import insights
from xai.render import class_maps_png, insights_html, token_bars_png


def names_of(ids):
    return ["" if int(i) == 0 else f"w{int(i)}" for i in np.ravel(ids)]


def test_sample_per_class_takes_up_to_n_of_each_class_in_order():
    y = np.array([0] * 10 + [1] * 3 + [2] * 7)
    chosen = insights.sample_per_class(y, 4)
    assert np.all(np.diff(chosen) > 0)
    assert np.bincount(y[chosen]).tolist() == [4, 3, 4]


def test_text_insights_find_the_words_that_push_each_class():
    weights = np.zeros(VOCAB, np.float32)
    weights[[5, 6]] = [2.0, 1.0]  # push "positive" (class 1)
    weights[[7]] = -2.0  # pushes "negative" (class 0)
    model = additive_text_model(weights)
    rng = np.random.default_rng(0)
    xs = np.zeros((40, SEQ_LEN), np.int32)
    for row in xs:
        n = rng.integers(4, SEQ_LEN)
        row[:n] = rng.integers(1, VOCAB, n)
        row[0] = rng.choice([5, 6, 7])  # every sentence holds one weighted word
    ys = (np.asarray(model(xs))[:, 1] > 0.5).astype(int)
    result = insights.insights(
        TEXT_APP, model, xs, ys, ["negative", "positive"], "integrated_gradients", "toy", names_of
    )
    negative, positive = result.classes
    assert [p.token for p in positive.pushes_for[:2]] == ["w5", "w6"]
    assert positive.pushes_against[0].token == "w7"
    assert negative.pushes_for[0].token == "w7"
    assert all(abs(p.mean) < 1e-6 for p in positive.pushes_for[2:])  # unweighted words push nothing
    top = positive.pushes_for[0]
    assert top.count >= insights.MIN_COUNT and "w5" in top.example.split()
    assert [insights.min_count(n) for n in (3, 15, 25, 40)] == [1, 1, 2, 3]
    assert result.examples == 40 and positive.accuracy == 1.0
    assert token_bars_png(positive).startswith(b"\x89PNG")
    with pytest.raises(Exception, match="vocabulary"):
        insights.summarize(TEXT_APP, xs, ys, np.eye(2)[ys], np.zeros(xs.shape), ["n", "p"])


def test_region_insights_average_maps_where_the_model_looks():
    shape = (24, 16, 1)
    model = quadrant_model(shape, classes=3)
    xs = np.random.default_rng(1).uniform(0, 1, (12,) + shape).astype(np.float32)
    ys = np.arange(12) % 3
    result = insights.insights(AUDIO_APP, model, xs, ys, ["a", "b", "c"], "gradient_input", "toy")
    region = quadrant_region(shape)[..., 0]
    for c in result.classes:
        assert c.mean_map.shape == shape[:2] and c.count == 4
        mass = np.abs(c.mean_map)
        assert mass[region].sum() >= 0.99 * mass.sum()
        np.testing.assert_allclose(c.mean_input, xs[ys == ["a", "b", "c"].index(c.label)].mean(0), atol=1e-6)
    html = insights_html(result, time_major=True)
    assert html.count("<img") == 1 and "Class-average" in html and "<td>b</td>" in html
    assert class_maps_png(result.classes).startswith(b"\x89PNG")
    with pytest.raises(Exception, match="No examples"):
        insights.insights(AUDIO_APP, model, xs[:0], ys[:0], ["a"], "gradient_input", "toy")
