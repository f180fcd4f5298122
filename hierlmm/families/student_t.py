"""Student-t family: identity link, residual scale ``sigma`` and degrees of freedom ``nu``.

A robust linear mixed model: ``y_i = eta_i + sigma * t_nu`` with ``t_nu`` a standard
Student-t variable, so a few gross outliers pull the fixed effects and the random effects
far less than under the Gaussian family (Lange, Little & Taylor 1989; Pinheiro, Liu & Wu
2001). brms offers the same family (``family = student()``).

Priors (see ``docs/priors.md``):

- ``sigma ~ Exponential(1 / (sigma_scale * s_y))``, as in the Gaussian family;
- ``nu ~ Gamma(alpha=2, beta=0.1)`` (shape 2, rate 0.1: mean 20, mode 10, 90% interval
  about (3.6, 47)), brms's default after Juárez & Steel (2010). Unlike brms, ``nu`` is
  not truncated below at 1; the prior puts 0.47% of its mass there.

The degrees of freedom are weakly identified from a few hundred rows: with clean
Gaussian data the posterior of ``nu`` stays wide and large, and the fit behaves like the
Gaussian family; gross outliers pull ``nu`` down and are down-weighted.

The random effects cannot be integrated out in closed form, so the family is not
collapsible and ``engine="auto"`` picks the sampled engine.

References
----------
Juárez, M. A. and Steel, M. F. J. (2010). Model-based clustering of non-Gaussian panel
data based on skew-t distributions. *Journal of Business & Economic Statistics* 28(1).
Lange, K. L., Little, R. J. A. and Taylor, J. M. G. (1989). Robust statistical modeling
using the t distribution. *Journal of the American Statistical Association* 84(408).
Pinheiro, J. C., Liu, C. and Wu, Y. N. (2001). Efficient algorithms for robust
estimation in linear mixed-effects models using the multivariate t distribution.
*Journal of Computational and Graphical Statistics* 10(2).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import gammaln

from hierlmm.families.base import Family, ParamDraws, expand_params
from hierlmm.families.gaussian import response_sd
from hierlmm.model import names
from hierlmm.spec.schema import PriorSpec

NU_ALPHA = 2.0  # shape of the Gamma prior of nu (brms default)
NU_BETA = 0.1  # rate of the Gamma prior of nu (brms default): prior mean 20
LOG_PI = float(np.log(np.pi))


def student_t_logpdf(
    y: np.ndarray, mu: np.ndarray, sigma: np.ndarray, nu: np.ndarray
) -> np.ndarray:
    """``log t_nu(y | mu, sigma)`` elementwise, computed in the buffer of ``mu``.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Observations.
    mu : ndarray of float64, shape (..., n)
        Locations; overwritten by the result and returned.
    sigma, nu : ndarray, shape (..., 1)
        Scales and degrees of freedom (> 0), broadcasting against ``mu``.

    Returns
    -------
    ndarray, shape (..., n)
        ``lgamma((nu + 1) / 2) - lgamma(nu / 2) - log(nu pi) / 2 - log(sigma)
        - (nu + 1) / 2 * log1p(((y - mu) / sigma)^2 / nu)``.
    """
    out = np.subtract(y, mu, out=mu)
    out /= sigma
    np.square(out, out=out)
    out /= nu
    np.log1p(out, out=out)
    out *= -0.5 * (nu + 1.0)
    out += gammaln(0.5 * (nu + 1.0)) - gammaln(0.5 * nu) - 0.5 * (np.log(nu) + LOG_PI)
    out -= np.log(sigma)
    return out


class StudentT(Family):
    """``y ~ StudentT(nu, eta, sigma)``: location ``eta``, scale ``sigma``, ``nu`` d.o.f.

    ``sigma`` is a scale, not the residual SD: the residual SD is
    ``sigma * sqrt(nu / (nu - 2))`` for ``nu > 2`` and infinite otherwise (see
    :meth:`latent_residual_variance`).
    """

    name = "student_t"
    link = "identity"
    parameters = (names.SIGMA, names.NU)
    has_residual_sd = True
    collapsible = False
    residual_labels = ("var(residual)", "sd(residual)")
    scales_response = True
    scale_parameters = (names.SIGMA,)

    def eta_location_scale(self, y: np.ndarray) -> tuple[float, float]:
        return float(np.mean(y)), response_sd(y)

    def prior_inputs(self, y: np.ndarray, priors: PriorSpec) -> dict[str, np.ndarray]:
        """``prior_sigma_rate`` = 1 / (sigma_scale * s_y), ``prior_nu_alpha`` = 2 and
        ``prior_nu_beta`` = 0.1, each a 0-d array."""
        rate = 1.0 / (priors.sigma_scale * response_sd(y))
        return {
            names.prior(names.SIGMA, "rate"): np.asarray(rate),
            names.prior(names.NU, "alpha"): np.asarray(NU_ALPHA),
            names.prior(names.NU, "beta"): np.asarray(NU_BETA),
        }

    def add_parameters(self, inputs: dict[str, pt.TensorVariable]) -> dict[str, pt.TensorVariable]:
        sigma = pm.Exponential(names.SIGMA, lam=inputs[names.prior(names.SIGMA, "rate")])
        nu = pm.Gamma(
            names.NU,
            alpha=inputs[names.prior(names.NU, "alpha")],
            beta=inputs[names.prior(names.NU, "beta")],
        )
        return {names.SIGMA: sigma, names.NU: nu}

    def add_likelihood(self, *, name, eta, params, observed) -> None:
        pm.StudentT(
            name, nu=params[names.NU], mu=eta, sigma=params[names.SIGMA], observed=observed
        )

    def log_likelihood(self, y: np.ndarray, eta: np.ndarray, params: ParamDraws) -> np.ndarray:
        p = expand_params(params)
        return student_t_logpdf(y, eta, p[names.SIGMA], p[names.NU])

    def inverse_link(self, eta: np.ndarray) -> np.ndarray:
        """The location ``eta``: the mean when ``nu > 1``, the median always."""
        return eta

    def predictive_draws(self, eta, params, rng) -> np.ndarray:
        """``eta + sigma * t_nu``, shape of ``eta`` (..., n)."""
        p = expand_params(params)
        shape = np.shape(eta)
        t = rng.standard_t(np.broadcast_to(p[names.NU], shape))
        return eta + p[names.SIGMA] * t

    def latent_residual_variance(self, params: ParamDraws) -> np.ndarray:
        """``sigma^2 * nu / (nu - 2)`` per draw where ``nu > 2``, ``inf`` elsewhere; (...).

        For ``nu <= 2`` the second moment of the residual about its location diverges
        (``E[e^2] = +inf``; for ``nu <= 1`` the variance is undefined but this moment is
        still infinite), so ``inf`` is its value rather than a missing one (NaN). An ICC
        ``tau^2 / (tau^2 + inf)`` then takes its limit 0 without a warning; a ratio of two
        infinite variances (a residual share) is NaN, and callers that form one must
        handle those draws. With the default prior such draws are rare unless the data
        are very heavy-tailed; many of them say that a variance decomposition is not a
        useful summary for these data.
        """
        sigma = np.asarray(params[names.SIGMA], dtype=np.float64)
        nu = np.asarray(params[names.NU], dtype=np.float64)
        finite = nu > 2.0
        ratio = np.divide(nu, nu - 2.0, out=np.full(np.shape(nu), np.inf), where=finite)
        return sigma**2 * ratio
