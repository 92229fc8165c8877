"""Character-level Shakespeare generator (GRU/LSTM or causal Transformer)."""

from apps.app import App, Generative
from apps.textgen import config, data, generate, model

APP = App(
    name="textgen",
    modality="text",
    task="generate",
    Config=config.Config,
    dataset=data.dataset,
    preprocess=data.preprocess,
    build=model.build,
    labels=data.labels,
    fake_batch=data.fake_batch,
    prepare=data.prepare,
    description="Character-level Shakespeare generator (GRU/LSTM or causal Transformer)",
    artifact_files=data.artifact_files,
    load_preprocess=data.load_preprocess,
    export_variant=model.export_variant,
    generative=Generative(
        load=generate.load,
        metrics=generate.metrics,
        export_quality=generate.export_quality,
        card=generate.card,
        prompt=generate.SAMPLE_PROMPT + "\n",
    ),
)
