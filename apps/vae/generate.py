"""What a trained VAE does for users: sample, reconstruct, interpolate, encode; and its metrics.

The sample-quality score runs the committed ``image`` classifier on the VAE's
images: its accuracy on reconstructions of test images, and on random samples
from the prior the entropy of its predictions and an Inception-Score-style
number ``exp(E_x KL(p(y|x) || p(y)))`` — with our own Fashion-MNIST classifier
instead of Inception, so it is comparable only between models scored by the
same classifier.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from apps.errors import GlasswingError

REPO_CLASSIFIER_DIR = Path(__file__).resolve().parents[2] / "models" / "image"
MAX_SAMPLES = 1024
MAX_STEPS = 256


def _check_count(name: str, value, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise GlasswingError(f"{name} must be a whole number, got {value!r}.")
    if not 1 <= value <= limit:
        raise GlasswingError(f"{name} must be between 1 and {limit}, got {value}.")
    return int(value)


def _images(x, what: str) -> np.ndarray:
    """One image (28, 28, 1) or a batch -> float32 batch; anything else is a clear error."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1:] != (28, 28, 1):
        raise GlasswingError(
            f"{what}: expected images of shape (28, 28, 1) or (n, 28, 28, 1) in [0, 1] "
            f"(see apps.image.data.preprocess), got shape {x.shape}."
        )
    if not np.isfinite(x).all():
        raise GlasswingError(f"{what}: the image holds NaN or infinite values.")
    return x


class VaeGenerator:
    """The VAE's generation functions for the dashboard, the CLI and scripts.

    Args:
        model: A trained :class:`apps.vae.model.VAE`.
    """

    def __init__(self, model):
        import tensorflow as tf

        self.model = model
        self.latent_dim = int(model.decoder.inputs[0].shape[-1])
        self._decode = tf.function(lambda z: model.decoder(z, training=False), reduce_retracing=True)
        self._encode = tf.function(lambda x: model.encoder(x, training=False), reduce_retracing=True)

    def decode(self, z) -> np.ndarray:
        """Latent vectors ``(n, latent_dim)`` -> images ``(n, 28, 28, 1)`` in [0, 1]."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise GlasswingError(f"Expected latent vectors of shape (n, {self.latent_dim}), got {z.shape}.")
        return self._decode(z).numpy()

    def encode(self, x) -> np.ndarray:
        """Images -> their latent means ``(n, latent_dim)`` (for a latent map of a split)."""
        return self._encode(_images(x, "encode"))[0].numpy()

    def sample(self, n: int = 16, seed: int = 0) -> np.ndarray:
        """``n`` new images decoded from ``z ~ N(0, I)``; the same ``seed`` gives the same images."""
        n = _check_count("n", n, MAX_SAMPLES)
        z = np.random.default_rng(seed).standard_normal((n, self.latent_dim)).astype(np.float32)
        return self.decode(z)

    def reconstruct(self, x) -> np.ndarray:
        """Images -> their reconstructions (decoded latent means)."""
        return self.decode(self.encode(x))

    def interpolate(self, x_a, x_b, steps: int = 8) -> np.ndarray:
        """``steps`` images decoded along the straight line between the latent means of two images."""
        steps = _check_count("steps", steps, MAX_STEPS)
        if steps < 2:
            raise GlasswingError("steps must be >= 2 (the two end points).")
        z_a, z_b = self.encode(x_a), self.encode(x_b)
        if len(z_a) != 1 or len(z_b) != 1:
            raise GlasswingError("interpolate takes one image at each end.")
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        return self.decode((1.0 - t) * z_a + t * z_b)

    @staticmethod
    def grid(images, columns: int | None = None) -> np.ndarray:
        """Tiles images into one uint8 grayscale picture (see :func:`grid`)."""
        return grid(images, columns)


def load(model, folder=None) -> VaeGenerator:
    """The :class:`VaeGenerator` of a trained VAE (the VAE needs no extra artifacts)."""
    return VaeGenerator(model)


def grid(images: np.ndarray, columns: int | None = None) -> np.ndarray:
    """Tiles ``(n, 28, 28, 1)`` images into one uint8 grayscale picture with 2-px gaps."""
    images = np.asarray(images)[..., 0]
    n = len(images)
    columns = columns or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / columns))
    side, gap = images.shape[1], 2
    canvas = np.zeros((rows * (side + gap) - gap, columns * (side + gap) - gap), np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (side + gap) : r * (side + gap) + side, c * (side + gap) : c * (side + gap) + side] = (
            np.clip(image, 0.0, 1.0) * 255
        ).round()
    return canvas


@functools.lru_cache(maxsize=2)
def _classifier(folder: str):
    import tensorflow as tf

    from apps.artifacts import load_model

    model = load_model(Path(folder) / "model.keras")
    return tf.function(lambda x: model(x, training=False), reduce_retracing=True)


def classifier(cfg):
    """``images -> class probabilities`` of the image app's model, or None when there is none."""
    folder = Path(cfg.classifier_dir) if cfg.classifier_dir else REPO_CLASSIFIER_DIR
    if not (folder / "model.keras").is_file():
        return None
    fn = _classifier(str(folder.resolve()))
    return lambda x: np.concatenate([fn(x[i : i + 1000]).numpy() for i in range(0, len(x), 1000)])


def entropy(p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Shannon entropy in nats (0 log 0 = 0)."""
    p = np.asarray(p, np.float64)
    return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=axis)


def sample_scores(probs: np.ndarray) -> dict:
    """Confidence and diversity of a classifier's predictions on generated images.

    Returns:
        ``inception_style_score`` = ``exp(H(p(y)) - E H(p(y|x)))`` (1 .. n_classes: high when
        each image is clearly one class and all classes occur), the mean per-image
        entropy (low = recognisable), the entropy of the mean prediction (high =
        diverse) and the share of samples per predicted class.
    """
    probs = np.asarray(probs, np.float64)
    marginal = probs.mean(axis=0)
    per_image = float(entropy(probs).mean())
    diversity = float(entropy(marginal))
    counts = np.bincount(probs.argmax(-1), minlength=probs.shape[-1])
    return {
        "inception_style_score": float(np.exp(diversity - per_image)),
        "mean_prediction_entropy": per_image,
        "marginal_entropy": diversity,
        "max_entropy": float(np.log(probs.shape[-1])),
        "predicted_class_share": (counts / counts.sum()).round(4).tolist(),
    }


def metrics(model, cfg, split: str) -> dict:
    """ELBO parts on ``split`` and the classifier-based sample-quality score.

    Reconstruction and KL are per image in nats, averaged over the split with one
    reparameterized sample per image; ``elbo`` = -(reconstruction + KL) is the
    true evidence lower bound whatever ``beta`` was used in training.
    """
    import dataclasses

    from apps.vae import APP

    gen = VaeGenerator(model)
    ds = APP.dataset(dataclasses.replace(cfg, augment=False), split)
    xs, ys, rec, kl = [], [], [], []
    for x, y in ds:
        r, k = model.losses_of(x, training=False)
        rec.append(np.asarray(r))
        kl.append(np.asarray(k))
        xs.append(np.asarray(x))
        ys.append(np.asarray(y))
    rec, kl = np.concatenate(rec), np.concatenate(kl)
    x_all, y_all = np.concatenate(xs), np.concatenate(ys)
    out = {
        "reconstruction_nll": float(rec.mean()),
        "kl": float(kl.mean()),
        "elbo": float(-(rec + kl).mean()),
        "elbo_bits_per_pixel": float((rec + kl).mean() / (np.log(2) * 28 * 28)),
        "beta": cfg.beta,
        "reconstruction_mse": float(np.mean((gen.reconstruct(x_all) - x_all) ** 2)),
        "n_examples": int(len(x_all)),
    }
    clf = classifier(cfg)
    if clf is None:
        out["classifier_score"] = "unavailable: no trained image model (glasswing train image)"
        return out
    recon_pred = clf(gen.reconstruct(x_all)).argmax(-1)
    out["classifier_accuracy_on_originals"] = float((clf(x_all).argmax(-1) == y_all).mean())
    out["classifier_accuracy_on_reconstructions"] = float((recon_pred == y_all).mean())
    out["samples"] = {"n": cfg.score_samples, "seed": cfg.seed}
    out["samples"].update(sample_scores(clf(_prior_samples(gen, cfg.score_samples, cfg.seed))))
    return out


def _prior_samples(gen: VaeGenerator, n: int, seed: int) -> np.ndarray:
    z = np.random.default_rng(seed).standard_normal((n, gen.latent_dim)).astype(np.float32)
    return np.concatenate([gen.decode(z[i : i + 1000]) for i in range(0, n, 1000)])


def export_inputs(model, cfg, x) -> np.ndarray:
    """A batch of images -> the decoder's inputs: their latent means."""
    return np.asarray(model.encoder(x, training=False)[0])


def export_quality(cfg, outputs, reference) -> dict:
    """One decoder export against the float Keras decoder on the same latent vectors.

    ``mse_vs_float`` compares pixels; ``classifier_agreement`` is how often the
    image classifier gives the same class to both images; ``classifier_accuracy``
    is its accuracy on the exported decoder's images against the true labels.
    """
    outputs = np.asarray(outputs, np.float32)
    row = {"mse_vs_float": float(np.mean((outputs - reference["outputs"]) ** 2))}
    clf = classifier(cfg)
    if clf is not None:
        pred = clf(outputs).argmax(-1)
        row["classifier_agreement"] = float((pred == clf(reference["outputs"]).argmax(-1)).mean())
        row["classifier_accuracy"] = float((pred == reference["y_true"]).mean())
    return row


def card(cfg, metrics: dict) -> str:
    """The model card's metrics section."""
    lines = [
        "## Generation metrics (test split)",
        "",
        f"- ELBO {metrics.get('elbo', float('nan')):.2f} nats per image "
        f"({metrics.get('elbo_bits_per_pixel', float('nan')):.4f} bits/pixel): reconstruction NLL "
        f"{metrics.get('reconstruction_nll', float('nan')):.2f} + KL {metrics.get('kl', float('nan')):.2f} "
        f"(beta = {cfg.beta} in training; the ELBO uses beta = 1).",
    ]
    if "classifier_accuracy_on_reconstructions" in metrics:
        s = metrics["samples"]
        lines += [
            f"- The committed `image` classifier is {metrics['classifier_accuracy_on_reconstructions']:.4f} "
            f"accurate on reconstructions (vs {metrics['classifier_accuracy_on_originals']:.4f} on the "
            "originals).",
            f"- On {s['n']} random samples from the prior: Inception-Score-style score "
            f"{s['inception_style_score']:.3f} (1 .. 10), mean prediction entropy "
            f"{s['mean_prediction_entropy']:.3f} nats, marginal entropy {s['marginal_entropy']:.3f} of "
            f"{s['max_entropy']:.3f} nats.",
            "- **This is an Inception-Score-style number computed with our own Fashion-MNIST "
            "classifier (`models/image`), not with Inception**: it is comparable only between "
            "models scored by the same classifier, and not with published Inception Scores.",
        ]
    return "\n".join(lines) + "\n"
