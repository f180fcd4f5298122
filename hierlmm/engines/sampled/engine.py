"""Sampled engine: every random effect is a parameter; the family's likelihood per row.

Works for every family. Memory grows with draws x levels x q (the effects are stored).
With AR(1)/CAR(1) residuals (Gaussian family) the likelihood is the exact product of the
one-step-ahead conditionals given the effects (:mod:`hierlmm.residuals.base`).
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from hierlmm.engines.base import Engine
from hierlmm.families.base import trials_kwargs
from hierlmm.model import names
from hierlmm.residuals import series_inputs


class SampledEngine(Engine):
    """``y_i ~ family(eta_i)``, ``eta = X beta + sum_k Z_k b_k[codes_k]``."""

    name = "sampled"
    packs_inputs = True  # every input has a static shape

    def likelihood_inputs(self) -> dict[str, np.ndarray]:
        out = {names.DATA_X: self.design.X, names.DATA_Y: self.design.y}
        if self.residual is not None:
            out |= series_inputs(self.design.residual)
        if self.design.offset is not None:
            out[names.DATA_OFFSET] = self.design.offset
        if self.design.trials is not None:
            out[names.DATA_TRIALS] = self.design.trials
        return out

    def add_likelihood(self, *, data, beta_c, beta, chols, params, offset) -> None:
        eta = pt.dot(data[names.DATA_X], beta)  # (n, p) @ (p,) -> (n,); X beta = Xc beta_c
        if offset is not None:
            eta = eta + offset
        if names.DATA_OFFSET in data:
            eta = eta + data[names.DATA_OFFSET]
        if self.residual is not None:
            self.residual.add_gaussian_likelihood(
                name=names.RESPONSE, eta=eta, sigma=params[names.SIGMA], phi=params[names.PHI],
                data=data, observed=data[names.DATA_Y],
            )
            return
        self.family.add_likelihood(
            name=names.RESPONSE, eta=eta, params=params, observed=data[names.DATA_Y],
            **trials_kwargs(data.get(names.DATA_TRIALS)),
        )
