"""AR(1) residuals on the order of the time column, CAR(1) residuals on real times.

Priors (``docs/priors.md``): AR(1) ``(phi + 1) / 2 ~ Beta(phi_alpha, phi_beta)`` on
(-1, 1); CAR(1) ``phi ~ Beta(phi_alpha, phi_beta)`` on (0, 1), ``phi`` being the
correlation per unit of the time column. Defaults ``phi_alpha = phi_beta = 2``.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from hierlmm.model import names
from hierlmm.residuals.base import ResidualStructure


def _beta(inputs, name: str):
    return pm.Beta(
        name, alpha=inputs[names.prior(names.PHI, "alpha")],
        beta=inputs[names.prior(names.PHI, "beta")],
    )


class AR1(ResidualStructure):
    """``corr(e_t, e_{t+k}) = phi ** k``, k counted in observations of the series."""

    kind = "ar1"

    def add_parameters(self, inputs):
        unit = _beta(inputs, names.PHI_UNIT)
        return {names.PHI: pm.Deterministic(names.PHI, 2.0 * unit - 1.0)}

    def row_phi(self, phi, lag, has_prev):
        return phi * has_prev

    def row_phi_numpy(self, phi, lag, has_prev):
        return np.asarray(phi, dtype=np.float64)[..., None] * has_prev

    def correlation(self, phi, lags):
        return np.asarray(phi, dtype=np.float64)[..., None] ** np.asarray(lags, dtype=np.float64)


class CAR1(ResidualStructure):
    """``corr(e_t, e_s) = phi ** |t - s|`` for real-valued times, ``0 <= phi < 1``."""

    kind = "car1"

    def add_parameters(self, inputs):
        return {names.PHI: _beta(inputs, names.PHI)}

    def row_phi(self, phi, lag, has_prev):
        return has_prev * pt.exp(lag * pt.log(phi))

    def row_phi_numpy(self, phi, lag, has_prev):
        log_phi = np.log(np.asarray(phi, dtype=np.float64))[..., None]
        return has_prev * np.exp(lag * log_phi)

    def correlation(self, phi, lags):
        return np.asarray(phi, dtype=np.float64)[..., None] ** np.abs(np.asarray(lags, float))
