"""Spoken keyword recognition on log-mel features of synthesized 1-s clips."""

import functools

from apps import labelled
from apps.app import App, OwnData, RawInput
from apps.speech import audio, config, data, inference, model

APP = App(
    name="speech",
    modality="audio",
    task="classify",
    Config=config.Config,
    dataset=data.dataset,
    preprocess=inference.preprocess,
    build=model.build,
    labels=data.labels,
    fake_batch=data.fake_batch,
    prepare=data.prepare,
    description=(
        "Spoken keyword spotter (DS-CNN on log-mel, by default beside a frozen pretrained speech "
        "embedding; 20 words + unknown + silence)"
    ),
    load_preprocess=inference.load_preprocess,
    raw=RawInput(
        frontend=data.frontend,
        shape=lambda cfg: (cfg.clip_samples,),
        dataset=data.raw_dataset,
        load=inference.load,
        fake=data.fake_waveforms,
        metadata=inference.metadata,
        windows=inference.windows,
        resynthesize=data.resynthesize,
        bands=data.bands,
    ),
    labelled=functools.partial(labelled.read_folder, extensions=audio.EXTENSIONS),
    own_data=OwnData(
        kind="speech",
        layout="folder",
        extensions=audio.EXTENSIONS,
        read=data.read_own,
        feature=data.own_feature,
        fill=data.fill_own,
    ),
)
