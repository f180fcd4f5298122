"""Gaussian family: identity link, residual SD ``sigma``.

Priors (see ``docs/priors.md``): ``sigma ~ Exponential(1 / (sigma_scale * s_y))``.
The only family the collapsed engine can integrate out analytically.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from hierlmm.families.base import Family, ParamDraws, expand_params
from hierlmm.model import names
from hierlmm.spec.schema import PriorSpec

LOG_2PI = float(np.log(2.0 * np.pi))


def response_sd(y: np.ndarray) -> float:
    """Sample SD of ``y`` (ddof=1), 1.0 for fewer than two rows or a constant response."""
    sd = float(np.std(y, ddof=1)) if y.size > 1 else 1.0
    return sd if sd > 0 else 1.0


def normal_logpdf(y: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``log N(y | mu, sigma^2)`` elementwise, computed in the buffer of ``mu`` (float64,
    shape of the result), which is overwritten and returned."""
    out = np.subtract(y, mu, out=mu)
    out /= sigma
    np.square(out, out=out)
    out += LOG_2PI
    out *= -0.5
    out -= np.log(sigma)
    return out


class Gaussian(Family):
    """``y ~ Normal(eta, sigma^2)``."""

    name = "gaussian"
    link = "identity"
    parameters = (names.SIGMA,)
    has_residual_sd = True
    collapsible = True
    residual_labels = ("sigma^2", names.SIGMA)
    scales_response = True
    scale_parameters = (names.SIGMA,)

    def eta_location_scale(self, y: np.ndarray) -> tuple[float, float]:
        return float(np.mean(y)), response_sd(y)

    def prior_inputs(self, y: np.ndarray, priors: PriorSpec) -> dict[str, np.ndarray]:
        rate = 1.0 / (priors.sigma_scale * response_sd(y))
        return {names.prior(names.SIGMA, "rate"): np.asarray(rate)}

    def add_parameters(self, inputs: dict[str, pt.TensorVariable]) -> dict[str, pt.TensorVariable]:
        sigma = pm.Exponential(names.SIGMA, lam=inputs[names.prior(names.SIGMA, "rate")])
        return {names.SIGMA: sigma}

    def add_likelihood(self, *, name, eta, params, observed) -> None:
        pm.Normal(name, mu=eta, sigma=params[names.SIGMA], observed=observed)

    def log_likelihood(self, y: np.ndarray, eta: np.ndarray, params: ParamDraws) -> np.ndarray:
        return normal_logpdf(y, eta, expand_params(params)[names.SIGMA])

    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        return eta

    def predictive_draws(self, eta, params, rng) -> np.ndarray:
        sigma = expand_params(params)[names.SIGMA]
        return eta + sigma * rng.standard_normal(np.shape(eta))

    def latent_residual_variance(self, params: ParamDraws) -> np.ndarray:
        return np.asarray(params[names.SIGMA], dtype=np.float64) ** 2
