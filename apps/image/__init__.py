"""Image classification on Fashion-MNIST."""

import functools

from apps import labelled
from apps.app import App, OwnData
from apps.image import config, data, model

APP = App(
    name="image",
    modality="image",
    task="classify",
    Config=config.Config,
    dataset=data.dataset,
    preprocess=data.preprocess,
    build=model.build,
    labels=data.labels,
    fake_batch=data.fake_batch,
    prepare=data.prepare,
    description="Fashion-MNIST clothing classifier (CNN, 10 classes)",
    load_preprocess=data.load_preprocess,
    labelled=functools.partial(labelled.read_folder, extensions=data.IMAGE_EXTENSIONS),
    own_data=OwnData(
        kind="image",
        layout="folder",
        extensions=data.IMAGE_EXTENSIONS,
        read=data.read_own,
        feature=data.own_feature,
        configure=data.configure_own,
        check=data.check_own,
        backbones={name: {"arch": name, **model.BACKBONE_PRESET} for name in model.BACKBONES},
        scratch={"backbone_weights": "none"},
    ),
    validation_config=config.validation_config,
)
