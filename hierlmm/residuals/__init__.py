"""Residual structures (the Residual seam): AR(1) and CAR(1) Gaussian residuals.

``get_residual(kind)`` gives the structure both engines ask for ``phi``, its prior, the
per-row prewhitening (sampled engine, pointwise log-likelihood) and the tridiagonal
precision pieces (:mod:`hierlmm.residuals.precision`, collapsed engine); ``None`` for
independent residuals.
"""

from __future__ import annotations

from hierlmm.residuals.autoregressive import AR1, CAR1
from hierlmm.residuals.base import ResidualStructure, series_inputs

RESIDUALS: dict[str, type[ResidualStructure]] = {AR1.kind: AR1, CAR1.kind: CAR1}


def get_residual(kind: str) -> ResidualStructure | None:
    """The structure of ``kind``; ``None`` for ``"iid"``."""
    return None if kind == "iid" else RESIDUALS[kind]()


__all__ = ["AR1", "CAR1", "RESIDUALS", "ResidualStructure", "get_residual", "series_inputs"]
