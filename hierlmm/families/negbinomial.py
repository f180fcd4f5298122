"""Negative binomial family (NB2): overdispersed counts with a log link.

``y_i ~ NB(mu_i, shape)`` with ``mu_i = exp(eta_i)`` and ``Var(y_i) = mu_i + mu_i^2 / shape``
(PyMC's ``NegativeBinomial(mu, alpha=shape)``); small ``shape`` is strong overdispersion,
``shape -> inf`` the Poisson model.

Prior of the dispersion (``docs/priors.md``): ``shape ~ Gamma(alpha=2, beta=0.1)`` (mean
20, mode 10, 90% interval about (3.6, 47)), the weakly informative shape prior brms uses
for Student-t degrees of freedom, applied to a parameter that likewise tends to the
simpler model as it grows. Linear-predictor priors as for :mod:`hierlmm.families.poisson`.

Latent residual variance (observation-level approximation, Nakagawa, Johnson &
Schielzeth 2017): ``sigma_e^2 = log(1 + 1 / lambda + 1 / shape)``.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import gammaln

from hierlmm.families.base import ParamDraws, expand_params
from hierlmm.families.poisson import Poisson
from hierlmm.model import names
from hierlmm.spec.schema import PriorSpec

SHAPE = "shape"
PHI_ALPHA = 2.0
PHI_BETA = 0.1


class NegBinomial(Poisson):
    """``y ~ NegativeBinomial(mu=exp(eta), alpha=shape)`` (NB2)."""

    name = "negbinomial"
    parameters = (SHAPE,)

    def prior_inputs(self, y: np.ndarray, priors: PriorSpec) -> dict[str, np.ndarray]:
        return {
            names.prior(SHAPE, "alpha"): np.asarray(PHI_ALPHA),
            names.prior(SHAPE, "beta"): np.asarray(PHI_BETA),
        }

    def add_parameters(self, inputs):
        shape = pm.Gamma(SHAPE, alpha=inputs[names.prior(SHAPE, "alpha")],
                       beta=inputs[names.prior(SHAPE, "beta")])
        return {SHAPE: shape}

    def add_likelihood(self, *, name, eta, params, observed, trials=None) -> None:
        pm.NegativeBinomial(name, mu=pt.exp(eta), alpha=params[SHAPE], observed=observed)

    def log_likelihood(self, y, eta, params, trials=None) -> np.ndarray:
        shape = expand_params(params)[SHAPE]
        return (
            gammaln(y + shape) - gammaln(shape) - gammaln(y + 1.0)
            + shape * (np.log(shape) - np.logaddexp(np.log(shape), eta))
            + y * (eta - np.logaddexp(np.log(shape), eta))
        )

    def predictive_draws(self, eta, params, rng, trials=None) -> np.ndarray:
        shape = expand_params(params)[SHAPE]
        rate = rng.gamma(np.broadcast_to(shape, np.shape(eta)), np.exp(eta) / shape)
        return rng.poisson(rate).astype(np.float64)

    def latent_residual_variance(self, params: ParamDraws, mean=None) -> np.ndarray:
        """``log(1 + 1 / lambda + 1 / shape)``, shape of the ``shape`` draws (...)."""
        shape = np.asarray(params[SHAPE], dtype=np.float64)
        lam = np.asarray(1.0 if mean is None else mean, dtype=np.float64)
        return np.log1p(1.0 / lam + 1.0 / shape)
