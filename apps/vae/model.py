"""A convolutional VAE whose ``train_step`` minimises reconstruction + beta * KL.

The encoder maps a 28x28 image to ``(z_mean, z_log_var)``; the decoder maps a
latent vector back to pixel probabilities (Conv2DTranspose). Training samples
``z`` with the reparameterization trick inside ``train_step`` (Keras's own
extension point), so the shared ``apps.train`` loop trains it unchanged.
"""

import keras
import tensorflow as tf
from keras import ops

from apps.image.data import SIDE

PACKAGE = "glasswing_vae"


def build_encoder(cfg) -> keras.Model:
    """Image (28, 28, 1) -> ``[z_mean, z_log_var]``, each ``(latent_dim,)``."""
    image = keras.Input((SIDE, SIDE, 1), name="image")
    x = keras.layers.Conv2D(cfg.filters, 3, strides=2, padding="same", activation="relu", name="conv1")(image)
    x = keras.layers.Conv2D(cfg.filters * 2, 3, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(cfg.dense_units, activation="relu", name="fc")(x)
    z_mean = keras.layers.Dense(cfg.latent_dim, name="z_mean")(x)
    # Zero init: training starts at unit variance, the prior's, so KL starts small.
    z_log_var = keras.layers.Dense(cfg.latent_dim, kernel_initializer="zeros", name="z_log_var")(x)
    return keras.Model(image, [z_mean, z_log_var], name="encoder")


def build_decoder(cfg) -> keras.Model:
    """Latent ``(latent_dim,)`` -> pixel probabilities (28, 28, 1) in [0, 1]."""
    quarter = SIDE // 4
    z = keras.Input((cfg.latent_dim,), name="z")
    x = keras.layers.Dense(cfg.dense_units, activation="relu", name="fc")(z)
    x = keras.layers.Dense(quarter * quarter * cfg.filters * 2, activation="relu", name="fc_grid")(x)
    x = keras.layers.Reshape((quarter, quarter, cfg.filters * 2), name="grid")(x)
    x = keras.layers.Conv2DTranspose(
        cfg.filters * 2, 3, strides=2, padding="same", activation="relu", name="deconv1"
    )(x)
    x = keras.layers.Conv2DTranspose(
        cfg.filters, 3, strides=2, padding="same", activation="relu", name="deconv2"
    )(x)
    # float32 output keeps the sigmoid (and the Bernoulli likelihood) stable.
    image = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid", dtype="float32", name="pixels")(x)
    return keras.Model(z, image, name="decoder")


def kl_divergence(z_mean, z_log_var):
    """KL(q(z|x) || N(0, I)) per example, in nats (closed form for diagonal Gaussians)."""
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=-1)


def reconstruction_nll(x, probs):
    """Bernoulli negative log-likelihood of the pixels ``x`` per example, in nats (summed)."""
    eps = 1e-6
    probs = ops.clip(ops.cast(probs, "float32"), eps, 1.0 - eps)
    nll = -(x * ops.log(probs) + (1.0 - x) * ops.log(1.0 - probs))
    return ops.sum(ops.reshape(nll, (ops.shape(nll)[0], -1)), axis=-1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class VAE(keras.Model):
    """Encoder + decoder; ``call`` reconstructs from ``z_mean`` (deterministic).

    Tracks ``loss`` (= reconstruction + beta * KL), ``reconstruction_loss`` and
    ``kl_loss`` as metrics, all per image in nats, so history.csv and
    ``model.evaluate`` report them (and ``val_loss`` drives early stopping).

    Args:
        encoder: Model from :func:`build_encoder`.
        decoder: Model from :func:`build_decoder`.
        beta: Weight of the KL term.
        seed: Seed of the reparameterization noise.
    """

    def __init__(self, encoder, decoder, beta: float = 1.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.beta = float(beta)
        self.seed = int(seed)
        self.noise = keras.random.SeedGenerator(seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def call(self, x, training=False):
        z_mean, _ = self.encoder(x, training=training)
        return self.decoder(z_mean, training=training)

    def losses_of(self, x, training: bool = False):
        """Per-example ``(reconstruction NLL, KL)`` with one reparameterized sample of z."""
        z_mean, z_log_var = self.encoder(x, training=training)
        # Under mixed_float16 the sub-models compute in float16: noise in their dtype,
        # the losses in float32 (log/exp of float16 probabilities under/overflow).
        eps = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.noise)
        z = z_mean + ops.exp(0.5 * z_log_var) * eps
        probs = ops.cast(self.decoder(z, training=training), "float32")
        z_mean, z_log_var = ops.cast(z_mean, "float32"), ops.cast(z_log_var, "float32")
        return reconstruction_nll(ops.cast(x, "float32"), probs), kl_divergence(z_mean, z_log_var)

    def _update(self, reconstruction, kl):
        loss = reconstruction + self.beta * kl
        self.loss_tracker.update_state(loss)
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            reconstruction, kl = self.losses_of(x, training=True)
            loss = ops.mean(reconstruction + self.beta * kl)
            # A LossScaleOptimizer (mixed precision) scales; any other optimizer returns loss as is.
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._update(reconstruction, kl)

    def test_step(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        return self._update(*self.losses_of(x, training=False))

    def get_config(self):
        return {
            "name": self.name,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "beta": self.beta,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder, decoder, **config)


def build(cfg) -> VAE:
    """The VAE of ``cfg``, built on (28, 28, 1) images and compiled with Adam.

    Args:
        cfg: ``apps.vae.config.Config``.

    Returns:
        A compiled :class:`VAE`; its losses live in ``train_step``, not ``compile``.
    """
    model = VAE(build_encoder(cfg), build_decoder(cfg), beta=cfg.beta, seed=cfg.seed, name="conv_vae")
    model(ops.zeros((1, SIDE, SIDE, 1)))  # creates the weights, so summaries and saving work at once
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate))
    return model


def export_variant(model: VAE, cfg, quant: str) -> keras.Model:
    """The decoder: what is exported to TF Lite in every mode (latent -> image)."""
    return model.decoder
