"""A test-only sixth app: is a bar in a 16x16 image horizontal or vertical?

It exists to prove the App protocol: four files, data it makes itself, and
nothing outside this folder names it. Tests register it with
``GLASSWING_APPS=tests.toyapp:APP`` (see ``apps._build_registry``), which
child processes (TF Lite conversion) inherit.
"""

import functools

from apps import labelled
from apps.app import App
from tests.toyapp import config, data, model

APP = App(
    name="bars",
    modality="image",
    task="classify",
    Config=config.Config,
    dataset=data.dataset,
    preprocess=data.preprocess,
    build=model.build,
    labels=data.labels,
    fake_batch=data.fake_batch,
    prepare=data.prepare,
    description="Toy: horizontal or vertical bar (16x16, test-only)",
    load_preprocess=data.load_preprocess,
    labelled=functools.partial(labelled.read_folder, extensions=data.EXTENSIONS),
)
