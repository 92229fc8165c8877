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

    registry = {app.name: app for app in (image, sentiment, speech, vae, textgen)}
    for app in _plugin_apps(os.environ.get("GLASSWING_APPS", "")):
        registry[app.name] = app
    return registry


def _plugin_apps(spec: str) -> list:
    """Apps outside this package, named ``module:ATTRIBUTE[,...]`` in ``GLASSWING_APPS``.

    An environment variable rather than a call, so that the child processes
    Glasswing starts (TF Lite conversion) see the same apps as their parent.
    """
    import importlib

    from apps.app import App

    found = []
    for ref in filter(None, (part.strip() for part in spec.split(","))):
        module, _, attribute = ref.partition(":")
        try:
            app = getattr(importlib.import_module(module), attribute or "APP")
        except (ImportError, AttributeError) as err:
            raise GlasswingError(f"GLASSWING_APPS: cannot load {ref!r} ({err}).") from None
        if not isinstance(app, App):
            raise GlasswingError(f"GLASSWING_APPS: {ref!r} is a {type(app).__name__}, not an apps.app.App.")
        found.append(app)
    return found


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
