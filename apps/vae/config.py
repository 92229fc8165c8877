"""VAE app configuration: defaults are the committed Fashion-MNIST run."""

import dataclasses
from typing import ClassVar

from apps.app import TrainConfig
from apps.errors import GlasswingError


@dataclasses.dataclass
class Config(TrainConfig):
    """Convolutional VAE on Fashion-MNIST. ``Config()`` is the committed model's run."""

    # tiny(): a few-thousand-parameter VAE on 64 examples.
    TINY: ClassVar[dict] = {
        "latent_dim": 2,
        "filters": 4,
        "dense_units": 8,
        "score_samples": 64,
    }

    epochs: int = 10
    batch_size: int = 128
    learning_rate: float = 2e-3
    patience: int = 3
    # Augmentation would teach the decoder to draw shifted/flipped garments that the
    # test split never shows; the ELBO is measured on the data as it is.
    augment: bool = False
    # Read by the image app's pipeline when augment is on (same meaning there).
    shift: float = 0.06
    latent_dim: int = 16
    # Filters of the two stride-2 conv layers (the decoder mirrors them).
    filters: int = 32
    dense_units: int = 128
    # Weight of the KL term: 1 is the true ELBO; < 1 sharpens reconstructions, > 1
    # gives a smoother, more disentangled latent space (beta-VAE).
    beta: float = 1.0
    # Samples from the prior scored by the image classifier in metrics.json.
    score_samples: int = 5000
    # The classifier behind the sample-quality score; "" = the committed models/image.
    classifier_dir: str = ""

    def __post_init__(self):
        if self.latent_dim < 1 or self.filters < 1 or self.dense_units < 1:
            raise GlasswingError(
                f"latent_dim, filters and dense_units must be >= 1, got "
                f"{self.latent_dim}, {self.filters}, {self.dense_units}."
            )
        if self.beta < 0:
            raise GlasswingError(f"beta must be >= 0, got {self.beta}.")
