"""Binary sentiment of movie-review sentences (frozen MPNet + head; MiniLM, BiLSTM, Transformer or linear)."""

from apps.app import App, OwnData
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
    description="Sentence sentiment, 2 classes (frozen MPNet + head; MiniLM, BiLSTM, Transformer, linear)",
    artifact_files=data.artifact_files,
    load_preprocess=data.load_preprocess,
    export_variant=model.export_variant,
    example_text=data.example_text,
    baselines=config.baselines,
    int8_float=model.int8_float_layers,
    labelled=data.read_labelled,
    own_data=OwnData(kind="text", layout="csv", read=data.read_own, feature=data.own_feature),
    read_file=data.read_file,
    validation_config=config.validation_config,
)
