"""Distil the average of several trained models of one app into one model of the same size.

Question (#13): the three seeds of the committed speech recipe, averaged, score 1.2 pt above
their mean on the held-out test voices. Does a single model of the same size keep that gain
when it learns from their average? The teacher is the mean of the members' class
probabilities (each as saved, with its calibration); the student is the first member's
Config with ``--seed``, trained by ``apps.train.train`` through
``apps.optimize.distill.Distiller`` (``--alpha``, ``--temperature``), on the app's own
augmented training pipeline, then calibrated like any run. Score the result with
``bench/speech_voices.py`` beside the members. Not in ``make bench``: it trains (54 min
for speech on 2 cores, 2.2x the recipe: three teacher passes a step).

    python bench/distill_ensemble.py speech OUT_MODELS_DIR DIR42 DIR1 DIR2 [--seed 42]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def ensemble(members, name: str = "ensemble"):
    """One Keras model whose output is the mean of ``members``' outputs (loaded, one input shape)."""
    import keras

    inputs = keras.Input(members[0].input_shape[1:])
    for i, member in enumerate(members):
        member.name = f"member{i}"  # the saved models share one name; a functional model needs unique ones
    return keras.Model(inputs, keras.layers.Average()([m(inputs) for m in members]), name=name)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("app")
    p.add_argument("out", help="models dir for the student (it is published as OUT/APP)")
    p.add_argument("members", nargs="+", help="trained model folders of APP (the teacher is their mean)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--alpha", type=float, default=None, help="hard-label weight (distill's default 0.1)")
    p.add_argument("--temperature", type=float, default=None, help="softening (distill's default 4)")
    args = p.parse_args()

    import keras

    from apps import artifacts, get_app
    from apps.errors import GlasswingError
    from apps.optimize import distill
    from apps.train import train

    app = get_app(args.app)
    alpha = distill.DEFAULT_ALPHA if args.alpha is None else args.alpha
    temperature = distill.DEFAULT_TEMPERATURE if args.temperature is None else args.temperature
    distill.check_settings(alpha, temperature)
    try:  # each member loaded once, checked against APP: one line for a folder that is not a model of it
        cfgs, members = zip(*(artifacts.load_trained(app, folder) for folder in args.members))
    except GlasswingError as err:
        raise SystemExit(f"distill_ensemble: {err}") from None
    cfg = dataclasses.replace(cfgs[0], seed=args.seed)
    teacher = ensemble(members)

    def build(c):
        student = app.build(c)  # first, with the seed just set
        model = distill.Distiller(teacher, student, alpha=alpha, temperature=temperature)
        model.compile(optimizer=keras.optimizers.Adam(c.learning_rate), metrics=["accuracy"])
        return model

    command = " ".join(["python bench/distill_ensemble.py", *sys.argv[1:]])
    train(app, cfg, args.out, command=command, build=build, save=lambda m: m.student)


if __name__ == "__main__":
    main()
