"""What every explainer returns (:class:`Attribution`) and the interface they share."""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclasses.dataclass(frozen=True)
class Attribution:
    """One explanation of one example.

    Attributes:
        values: Importance per input element, same shape as ``x`` (no batch axis).
            For text, one value per token position (attributions to the token
            embeddings are summed over the embedding axis).
        target: Index of the class explained.
        method: Registry name of the explainer that made it.
        base_value: The model's score for ``target`` at the reference input
            (baseline, background mean), when the method has one.
        tokens: For text, the token strings when the caller passed them.
        extra: Method-specific side results, e.g. ``completeness_error`` for
            Integrated Gradients, ``segments`` for LIME, ``layer`` for Grad-CAM.
    """

    values: np.ndarray
    target: int
    method: str
    base_value: float | None = None
    tokens: list[str] | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)


@runtime_checkable
class Explainer(Protocol):
    """An explanation method behind one interface (LIT's ``Interpreter``).

    ``model`` is a ``keras.Model`` for gradient methods; prediction-only methods
    also accept any ``predict(batch) -> probs`` callable (e.g. a LiteRTModel).
    """

    name: str

    def supports(self, app) -> bool:
        """Whether the method applies to this app (modality and task)."""
        ...

    def explain(self, app, model, x, target: int | None = None, **options) -> Attribution:
        """Explains ``model``'s score for ``target`` (default: predicted class) at ``x``."""
        ...
