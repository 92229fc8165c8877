"""Binary sentiment of movie-review sentences (BiLSTM or Transformer over token ids)."""

from apps.app import App
from apps.sentiment import config, data, model

APP = App(
    name="sentiment",
    modality="text",
    task="classify",
    Config=config.Config,
    dataset=data.dataset,
    preprocess=data.preprocess,
    build=model.build,
    labels=data.labels,
    fake_batch=data.fake_batch,
    prepare=data.prepare,
    description="Movie-review sentence sentiment (BiLSTM or Transformer, 2 classes)",
    artifact_files=data.artifact_files,
    load_preprocess=data.load_preprocess,
    export_variant=model.export_variant,
    example_text=data.example_text,
)
