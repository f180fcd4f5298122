"""Bernoulli family: binary outcomes with a logit (default) or probit link.

``y_i ~ Bernoulli(p_i)``, ``g(p_i) = eta_i``. The family has no parameters of its own;
the linear-predictor priors are the rstanarm-style defaults of
:mod:`hierlmm.model.priors` with ``s = 1`` and location 0 (see ``docs/priors.md``).
The latent residual variance behind ICCs is ``pi^2 / 3`` (logit) or 1 (probit): the
variance of the standard logistic / normal threshold (Nakagawa & Schielzeth 2010).
"""

from __future__ import annotations

import numpy as np
import pymc as pm

from hierlmm.families.base import Family, ParamDraws
from hierlmm.families.links import LATENT_VARIANCE, inverse_link, log_prob_pair, logit_p


class Bernoulli(Family):
    """``y ~ Bernoulli(g^-1(eta))`` with ``g`` the logit or probit link."""

    name = "bernoulli"
    link = "logit"
    parameters = ()
    residual_labels = ("var(latent residual)", "sd(latent residual)")
    scales_response = False

    def eta_location_scale(self, y: np.ndarray) -> tuple[float, float]:
        """Location 0 and scale 1 on the link scale (rstanarm's defaults)."""
        return 0.0, 1.0

    def add_likelihood(self, *, name, eta, params, observed, trials=None) -> None:
        pm.Bernoulli(name, logit_p=logit_p(self.link, eta), observed=observed)

    def log_likelihood(self, y, eta, params, trials=None) -> np.ndarray:
        log_p, log_q = log_prob_pair(self.link, eta)
        return np.where(y > 0.5, log_p, log_q)

    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        return inverse_link(self.link, eta)

    def predictive_draws(self, eta, params, rng, trials=None) -> np.ndarray:
        return (rng.random(np.shape(eta)) < self.inverse_link(eta)).astype(np.float64)

    def latent_residual_variance(self, params: ParamDraws, mean=None) -> np.ndarray:
        """``pi^2 / 3`` (logit) or 1 (probit), as a 0-d array broadcasting to (...)."""
        return np.asarray(LATENT_VARIANCE[self.link])
