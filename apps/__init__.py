"""Glasswing apps: the registry of every app behind the App protocol.

``APPS`` is a plain dict ``{name: App}``. It is built on first access (a PEP 562
module ``__getattr__``) because building it imports every app and so TensorFlow
(seconds); ``import apps.artifacts`` or ``glasswing --help`` should not pay that.
"""

import os

# Keep TensorFlow's C++ start-up chatter out of users' terminals; set before TF loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from apps.errors import GlasswingError  # noqa: E402


def _build_registry() -> dict:
    """Imports the apps; a new app is one import and one tuple entry here."""
    from apps.image import APP as image
    from apps.sentiment import APP as sentiment
    from apps.speech import APP as speech
    from apps.textgen import APP as textgen
    from apps.vae import APP as vae

    return {app.name: app for app in (image, sentiment, speech, vae, textgen)}


def __getattr__(name: str):
    if name == "APPS":
        registry = globals()["APPS"] = _build_registry()
        return registry
    raise AttributeError(f"module 'apps' has no attribute {name!r}")


def get_app(name: str, models_dir="models"):
    """Returns the registered app called ``name``, or the app of a model trained on a user's data.

    A user's model ``models_dir/name/`` names the app it was trained with in
    its ``app.json`` (see :mod:`apps.userdata`).

    Raises:
        GlasswingError: Unknown name; the message lists the valid ones.
    """
    registry = globals().get("APPS") or __getattr__("APPS")
    if name in registry:
        return registry[name]
    from apps.userdata import resolve

    app = resolve(name, models_dir) if name and "/" not in name and name not in (".", "..") else None
    if app is None:
        raise GlasswingError(
            f"Unknown app={name!r}. Expected one of {sorted(registry)} or a model trained on your data "
            f"in {models_dir}/ (`glasswing train KIND --data PATH --name NAME`)."
        )
    return app
