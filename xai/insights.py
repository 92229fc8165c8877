"""Global explanations: what a model relies on across many labelled examples, per class.

One method explains every example for its *true* class; the maps are then
aggregated in the way the modality's parts allow (``xai.segments``):

- regions (images, log-mels): the class-average map, so a person sees where the
  model looks for a class (for speech: which mel bands and which part of the
  second carry each word);
- tokens (text): the mean attribution of each token id over the examples where it
  occurs, so a person sees the words that push each class most (and least), each
  with the example where it pushed hardest.

The examples come from the test split or from a user's labelled files
(``glasswing explain APP --global --data DIR``), the way to find out why a model
fails on a domain it was not trained on.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from apps.artifacts import NOT_WORDS, is_word
from apps.errors import GlasswingError
from xai import segments

MIN_COUNT = 3  # a token seen fewer times says more about one sentence than about the model


def min_count(examples: int) -> int:
    """How often a word must occur among ``examples`` sentences to be listed: :data:`MIN_COUNT`,
    relaxed for a handful of sentences (a user's small file) so they still show something."""
    return max(1, min(MIN_COUNT, examples // 10))


@dataclasses.dataclass(frozen=True)
class TokenPush:
    """One token's average push toward a class.

    Attributes:
        token: The token's text.
        mean: Mean attribution toward the class over the examples where it occurs.
        count: How many such examples.
        example: The example (as text) where it pushed hardest.
    """

    token: str
    mean: float
    count: int
    example: str


@dataclasses.dataclass(frozen=True)
class ClassInsight:
    """What the model relies on for one class.

    Attributes:
        label: The class name.
        count: Examples of the class explained.
        accuracy: Share of them the model gets right.
        mean_input: Average input of the class (region inputs), else ``None``.
        mean_map: Class-average attribution map, channels summed (region inputs), else ``None``.
        pushes_for: Tokens with the highest mean attribution (text), else ``[]``.
        pushes_against: Tokens with the lowest mean attribution (text), else ``[]``.
    """

    label: str
    count: int
    accuracy: float
    mean_input: np.ndarray | None = None
    mean_map: np.ndarray | None = None
    pushes_for: list = dataclasses.field(default_factory=list)
    pushes_against: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class Insights:
    """Global explanation of one model on one labelled set.

    Attributes:
        method: The explainer used.
        source: Where the examples came from ("test split", a folder).
        classes: One :class:`ClassInsight` per class with at least one example.
        seconds: Time spent explaining.
    """

    method: str
    source: str
    classes: list
    seconds: float

    @property
    def examples(self) -> int:
        return sum(c.count for c in self.classes)


def sample_per_class(y, per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of up to ``per_class`` examples of each class, in order (a split may be sorted by class)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    chosen = [rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, int)


def explain_all(app, model, xs, ys, method, progress=None) -> np.ndarray:
    """Every example's map for its true class; ``progress(done, total)`` after each."""
    import xai

    explainer = xai.get_explainer(method)
    if not explainer.supports(app):
        raise GlasswingError(f"Method {method!r} does not support app {app.name!r}.")
    maps = []
    for i, (x, y) in enumerate(zip(xs, ys)):
        maps.append(np.asarray(explainer.explain(app, model, x, target=int(y)).values, np.float32))
        if progress is not None:
            progress(i + 1, len(xs))
    return np.stack(maps)


def _token_pushes(xs, maps, tokens_of, top: int) -> tuple[list, list]:
    """The ``top`` words with the highest and the lowest mean attribution (seen :func:`min_count` times)."""
    sums, counts, best = {}, {}, {}
    for x, values in zip(xs, maps):
        for position in np.flatnonzero(segments.tokens(x) >= 0):
            token_id, value = int(x[position]), float(values[position])
            sums[token_id] = sums.get(token_id, 0.0) + value
            counts[token_id] = counts.get(token_id, 0) + 1
            if token_id not in best or value > best[token_id][0]:
                best[token_id] = (value, x)
    # Markers ([CLS]) and punctuation carry position and pooling effects, not meaning: words only.
    least = min_count(len(xs))
    frequent = [t for t in sums if counts[t] >= least and is_word(tokens_of(np.array([t]))[0])]
    ranked = sorted(frequent, key=lambda t: -sums[t] / counts[t])

    def push(t):
        words = tokens_of(best[t][1])
        text = " ".join(w for w in words if w not in NOT_WORDS)
        return TokenPush(tokens_of(np.array([t]))[0], sums[t] / counts[t], counts[t], text)

    against = [push(t) for t in ranked[::-1][:top] if sums[t] < 0]
    return [push(t) for t in ranked[:top] if sums[t] > 0], against


def summarize(app, xs, ys, probs, maps, labels, tokens_of=None, top: int = 12) -> list:
    """One :class:`ClassInsight` per class present in ``ys``.

    Args:
        xs, ys, probs: The examples, their true classes and the model's probabilities.
        maps: :func:`explain_all`'s maps (for the true class).
        labels: Class names.
        tokens_of: Token ids -> strings; required for token inputs.
        top: Tokens listed per class and direction.
    """
    tokens = segments.parts_are_tokens(app.modality)
    if tokens and tokens_of is None:
        raise GlasswingError("Token insights need the model's vocabulary to name the tokens.")
    out = []
    for c in np.unique(ys):
        rows = np.flatnonzero(ys == c)
        accuracy = float((probs[rows].argmax(1) == c).mean())
        if tokens:
            pushes, against = _token_pushes(xs[rows], maps[rows], tokens_of, top)
            insight = ClassInsight(labels[c], len(rows), accuracy, pushes_for=pushes, pushes_against=against)
            out.append(insight)
        else:
            mean_map = maps[rows].mean(axis=0)
            mean_map = mean_map.sum(axis=-1) if mean_map.ndim == 3 else mean_map
            mean_input = np.asarray(xs[rows], np.float32).mean(axis=0)
            out.append(ClassInsight(labels[c], len(rows), accuracy, mean_input, mean_map))
    return out


def insights(app, model, xs, ys, labels, method, source, tokens_of=None, progress=None) -> Insights:
    """Explains every example for its true class and aggregates the maps per class.

    Raises:
        GlasswingError: No examples, or the method does not apply to the app.
    """
    import time

    from xai import _model

    xs, ys = np.asarray(xs), np.asarray(ys, int)
    if len(xs) == 0:
        raise GlasswingError("No examples to explain.")
    start = time.perf_counter()
    maps = explain_all(app, model, xs, ys, method, progress)
    seconds = time.perf_counter() - start
    probs = _model.as_predict(model)(xs)
    classes = summarize(app, xs, ys, probs, maps, labels, tokens_of)
    return Insights(method, source, classes, seconds)
