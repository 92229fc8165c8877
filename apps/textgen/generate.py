"""What a trained character model does for users: ``generate``; and its metrics.

Sampling runs in Python over the model's next-character logits, with a NumPy
generator seeded per call, so the same prompt, settings and seed always give
the same text.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from apps.errors import GlasswingError
from apps.textgen import data

MAX_LENGTH = 5_000
SAMPLE_PROMPT = "ROMEO:"

# Temperatures below this sample the likeliest character (the T -> 0 limit), exactly.
GREEDY_BELOW = 1e-3


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable log-softmax over the last axis, in float64."""
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class TextGenerator:
    """Continues a prompt one character at a time.

    Args:
        model: The trained language model (ids -> logits at every position).
        vocab: Its vocabulary (``vocab.json``).
        context: How many of the latest characters the model sees per step
            (the training window, ``seq_len``).
    """

    def __init__(self, model, vocab: list[str], context: int):
        import tensorflow as tf

        self.model = model
        self.vocab = list(vocab)
        self.context = int(context)
        spec = tf.TensorSpec((1, None), tf.int32)
        self._last_logits = tf.function(
            lambda ids: model(ids, training=False)[:, -1, :], input_signature=[spec]
        )

    def next_log_probs(self, ids) -> np.ndarray:
        """Log-probabilities of the character after ``ids`` (only the last ``context`` are used)."""
        ids = np.asarray(ids, np.int32)[-self.context :]
        return log_softmax(self._last_logits(ids[None]).numpy()[0])

    def generate(
        self, prompt: str, length: int = 300, temperature: float = 1.0, top_k: int = 0, seed: int = 0
    ) -> str:
        """``prompt`` followed by ``length`` sampled characters.

        Args:
            prompt: Non-empty text made of the vocabulary's characters.
            length: Characters to add, 1..``MAX_LENGTH``.
            temperature: > 0; below 1 is more conservative, above 1 more adventurous;
                below 1e-3 it is greedy (always the likeliest character).
            top_k: Sample only among the ``top_k`` likeliest characters (0 = all).
            seed: The same seed (with the same arguments) gives the same text.

        Raises:
            GlasswingError: A bad argument, named with its valid range.
        """
        ids = list(data.preprocess(prompt, self.vocab))
        if (
            isinstance(length, bool)
            or not isinstance(length, (int, np.integer))
            or not 1 <= length <= MAX_LENGTH
        ):
            raise GlasswingError(f"length must be a whole number from 1 to {MAX_LENGTH}, got {length!r}.")
        try:
            temperature = float(temperature)
        except (TypeError, ValueError):
            raise GlasswingError(f"temperature must be a number > 0, got {temperature!r}.") from None
        if not math.isfinite(temperature) or temperature <= 0:
            raise GlasswingError(f"temperature must be a finite number > 0, got {temperature!r}.")
        if (
            isinstance(top_k, bool)
            or not isinstance(top_k, (int, np.integer))
            or not 0 <= top_k <= len(self.vocab)
        ):
            raise GlasswingError(f"top_k must be from 0 (all) to {len(self.vocab)}, got {top_k!r}.")
        rng = np.random.default_rng(seed)
        start = len(ids)
        for _ in range(int(length)):
            logp = self.next_log_probs(ids)
            logp[data.UNKNOWN_ID] = -np.inf  # never emit the placeholder for unseen characters
            if temperature < GREEDY_BELOW:  # dividing by ~0 overflows: the limit is the argmax
                ids.append(int(np.argmax(logp)))
                continue
            logp = logp / temperature
            if top_k:
                logp[np.argsort(logp)[: len(logp) - top_k]] = -np.inf
            p = np.exp(logp - logp.max())
            ids.append(int(rng.choice(len(p), p=p / p.sum())))
        return prompt + data.decode(ids[start:], self.vocab)


def load(model, folder) -> TextGenerator:
    """The :class:`TextGenerator` of a trained model, with the vocabulary and context in ``folder``."""
    from apps import artifacts
    from apps.textgen import APP

    folder = Path(folder)
    cfg = artifacts.load_config(APP, folder) if (folder / artifacts.CONFIG_FILE).is_file() else APP.Config()
    return TextGenerator(model, data.read_vocab(folder), cfg.seq_len)


def cross_entropy(log_probs: np.ndarray, targets: np.ndarray) -> float:
    """Mean negative log-likelihood of ``targets`` in nats (rows renormalised first)."""
    lp = log_softmax(log_probs)
    return float(-lp[np.arange(len(targets)), targets].mean())


def split_metrics(model, cfg, split: str) -> dict:
    """Per-character cross-entropy of the model and of the unigram baseline on ``split``."""
    from apps.evaluate import keras_predictor
    from apps.textgen import APP

    predict = keras_predictor(model)
    total, count, unigram_total = 0.0, 0, 0.0
    unigram = data.unigram_log_probs(cfg)
    for x, y in APP.dataset(dataclasses.replace(cfg, batch_size=256), split):
        lp = log_softmax(predict(x))
        y = np.asarray(y)
        total -= np.take_along_axis(lp, y[..., None], axis=-1).sum()
        unigram_total -= unigram[y].sum()
        count += y.size
    ce, unigram_ce = total / count, unigram_total / count
    return {
        "cross_entropy_per_char": ce,
        "bits_per_char": ce / math.log(2),
        "perplexity": math.exp(ce),
        "unigram_cross_entropy_per_char": unigram_ce,
        "unigram_perplexity": math.exp(unigram_ce),
        "characters": int(count),
    }


def metrics(model, cfg, split: str) -> dict:
    """Cross-entropy/perplexity vs the unigram baseline on ``split`` and on validation; a sample."""
    out = split_metrics(model, cfg, split)
    if split != "validation":
        out["validation"] = split_metrics(model, cfg, "validation")
    out["works"] = data.split_works_of(cfg)
    out["vocabulary_size"] = len(data.vocabulary(cfg))
    gen = TextGenerator(model, data.vocabulary(cfg), cfg.seq_len)
    out["sample"] = {
        "prompt": SAMPLE_PROMPT,
        "temperature": 0.8,
        "seed": cfg.seed,
        "text": gen.generate(SAMPLE_PROMPT, 300, 0.8, 0, cfg.seed),
    }
    return out


def export_quality(cfg, outputs, reference) -> dict:
    """One-step model quality on the test windows: each window's last-character prediction.

    ``perplexity`` = exp(mean NLL of the true next character), with the exported
    log-probabilities renormalised (int8 outputs are not exactly normalised);
    ``top1_agreement`` = same likeliest character as the float Keras model.
    """
    outputs = np.asarray(outputs, np.float64)
    targets = np.asarray(reference["y_true"])[:, -1]
    ce = cross_entropy(outputs, targets)
    return {
        "cross_entropy": ce,
        "perplexity": math.exp(ce),
        "top1_agreement": float((outputs.argmax(-1) == np.asarray(reference["outputs"]).argmax(-1)).mean()),
        "predictions": int(len(targets)),
    }


def card(cfg, metrics: dict) -> str:
    """The model card's metrics section."""
    lines = ["## Language-model metrics (held-out works)", ""]
    for name, m in (("test", metrics), ("validation", metrics.get("validation"))):
        if m and "perplexity" in m:
            lines.append(
                f"- {name}: {m['cross_entropy_per_char']:.4f} nats/char ({m['bits_per_char']:.3f} bits), "
                f"perplexity {m['perplexity']:.3f} vs {m['unigram_perplexity']:.3f} for the unigram "
                f"baseline (training-split character frequencies), over {m['characters']:,} characters."
            )
    works = metrics.get("works", {})
    if works:
        lines.append(f"- Held-out works: validation {works.get('validation')}, test {works.get('test')}.")
    sample = metrics.get("sample")
    if sample:
        lines += [
            "",
            f"Sample (prompt {sample['prompt']!r}, temperature {sample['temperature']}):",
            "",
            "```",
        ]
        lines += [sample["text"], "```"]
    return "\n".join(lines) + "\n"
