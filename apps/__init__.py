"""Glasswing apps: the registry of every app behind the App protocol."""

import os

# Keep TensorFlow's C++ start-up chatter out of users' terminals; set before TF loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from apps.errors import GlasswingError  # noqa: E402
from apps.image import APP as _image  # noqa: E402
from apps.sentiment import APP as _sentiment  # noqa: E402
from apps.textgen import APP as _textgen  # noqa: E402
from apps.vae import APP as _vae  # noqa: E402

APPS = {app.name: app for app in (_image, _sentiment, _vae, _textgen)}


def get_app(name: str):
    """Returns the registered app called ``name``.

    Raises:
        GlasswingError: Unknown name; the message lists the valid ones.
    """
    try:
        return APPS[name]
    except KeyError:
        raise GlasswingError(f"Unknown app={name!r}. Expected one of {sorted(APPS)}.") from None
