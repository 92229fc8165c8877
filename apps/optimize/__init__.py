"""Making trained classifiers smaller, measured: pruning, distillation, selective int8.

``glasswing optimize APP --prune 0.8 | --distill | --int8-debug [--keep-float N]``
works on the committed ``models/APP/`` of any classifier app through the App
protocol. Each mode writes an artifact folder under ``models/APP/optimized/``
(atomically) and prints what it measured next to the unoptimized baseline.

- :mod:`apps.optimize.prune`: polynomial-decay magnitude pruning as a Keras
  callback with weight masks (plain Keras 3 models, no wrapper layers).
- :mod:`apps.optimize.distill`: a :class:`~apps.optimize.distill.Distiller`
  that trains a smaller student of the app through the shared training path.
- :mod:`apps.optimize.int8_debug`: per-layer int8 quantization error keyed by
  Keras layer names, and selective quantization of the worst layers.
"""

from apps.errors import GlasswingError

OPTIMIZED_DIR = "optimized"


def require_classifier(app) -> None:
    """Raises a clear error for apps these methods do not apply to (generators)."""
    if app.task != "classify":
        raise GlasswingError(
            f"glasswing optimize works on classifiers only; {app.name!r} is a {app.task} app "
            "(its accuracy-based reports and soft-label distillation do not apply)."
        )
