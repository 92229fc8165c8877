"""Convolutional variational autoencoder on Fashion-MNIST (data: the image app's module)."""

from apps.app import App, Generative
from apps.image import data
from apps.vae import config, generate, model

APP = App(
    name="vae",
    modality="image",
    task="generate",
    Config=config.Config,
    dataset=data.dataset,
    preprocess=data.preprocess,
    build=model.build,
    labels=data.labels,
    fake_batch=data.fake_batch,
    prepare=data.prepare,
    description="Fashion-MNIST convolutional VAE (sample, reconstruct, interpolate; decoder exported)",
    export_variant=model.export_variant,
    generative=Generative(
        load=generate.load,
        metrics=generate.metrics,
        export_inputs=generate.export_inputs,
        export_quality=generate.export_quality,
        card=generate.card,
    ),
)
