"""Poisson family: counts with a log link, optionally with an offset (exposure).

``y_i ~ Poisson(exp(eta_i))``; an offset (``offset(log(exposure))``) is part of
``eta_i``. Priors: location ``log(mean(y) + 0.1)`` and scale 1 on the log scale
(``docs/priors.md``); the location ignores any offset.

Latent residual variance, the observation-level (lognormal) approximation of Nakagawa,
Johnson & Schielzeth (2017): ``sigma_e^2 = log(1 + 1 / lambda)``, where ``lambda`` is
the mean count (per draw, the population-average mean over the rows).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import gammaln

from hierlmm.families.base import Family, ParamDraws


class Poisson(Family):
    """``y ~ Poisson(exp(eta))``."""

    name = "poisson"
    link = "log"
    parameters = ()
    residual_labels = ("var(observation-level)", "sd(observation-level)")
    scales_response = False
    residual_needs_mean = True

    def eta_location_scale(self, y: np.ndarray) -> tuple[float, float]:
        return float(np.log(np.mean(y) + 0.1)), 1.0

    def add_likelihood(self, *, name, eta, params, observed, trials=None) -> None:
        pm.Poisson(name, mu=pt.exp(eta), observed=observed)

    def log_likelihood(self, y, eta, params, trials=None) -> np.ndarray:
        return y * eta - np.exp(eta) - gammaln(y + 1.0)

    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        return np.exp(eta)

    def predictive_draws(self, eta, params, rng, trials=None) -> np.ndarray:
        return rng.poisson(np.exp(eta)).astype(np.float64)

    def latent_residual_variance(self, params: ParamDraws, mean=None) -> np.ndarray:
        """``log(1 + 1 / lambda)`` with ``lambda`` = ``mean`` (...) (1 if not given)."""
        lam = np.asarray(1.0 if mean is None else mean, dtype=np.float64)
        return np.log1p(1.0 / lam)
