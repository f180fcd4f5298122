"""Variance components on the latent scale and R² (Nakagawa & Schielzeth) for any family.

With ``sigma_f^2`` the variance of the fixed part ``X beta`` across the fitted rows,
``sigma_r^2`` the random-effect variance averaged over the rows,
``mean_i sum_k z_ik' Sigma_k z_ik`` (Johnson 2014; the sum of the intercept variances
for random intercepts), and ``sigma_e^2`` the family's latent residual variance
(:meth:`hierlmm.families.base.Family.latent_residual_variance`):

- ``R²_marginal = sigma_f^2 / (sigma_f^2 + sigma_r^2 + sigma_e^2)``,
- ``R²_conditional = (sigma_f^2 + sigma_r^2) / (sigma_f^2 + sigma_r^2 + sigma_e^2)``.

``sigma_e^2`` is ``sigma^2`` (Gaussian), ``sigma^2 nu / (nu - 2)`` (Student-t),
``pi^2 / 3`` (logit) and 1 (probit) on the latent scale, and for counts the
observation-level (lognormal) approximation of Nakagawa, Johnson & Schielzeth (2017):
``log(1 + 1 / lambda)`` (Poisson) and ``log(1 + 1 / lambda + 1 / shape)`` (NB2), where
``lambda`` is, per draw, the population-average mean count averaged over the fitted
rows, ``mean_i exp(x_i' beta + offset_i + v_i / 2)``. Every quantity is computed per
posterior draw and summarised.

References
----------
Nakagawa, S. and Schielzeth, H. (2013). A general and simple method for obtaining R²
from generalized linear mixed-effects models. *Methods Ecol. Evol.* 4, 133-142.
Johnson, P. C. D. (2014). Extension of Nakagawa & Schielzeth's R²_GLMM to random slopes
models. *Methods Ecol. Evol.* 5, 944-946. Nakagawa, S., Johnson, P. C. D. and
Schielzeth, H. (2017). The coefficient of determination R² and intra-class correlation
coefficient from generalized linear mixed-effects models revisited and expanded.
*J. R. Soc. Interface* 14, 20170213.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hierlmm.families import get_family
from hierlmm.inference.summary import draw_stats
from hierlmm.model import names
from hierlmm.model.covariance import factor_covariance_root
from hierlmm.model.marginal_integrals import effect_variance, population_mean


def _per_chain(fit, compute) -> np.ndarray:
    """Stack ``compute(chain_index)`` (draw,) over chains: (chain, draw)."""
    return np.stack([compute(c) for c in range(fit.posterior.sizes["chain"])])


def _rows_variance(fit, chain: int) -> np.ndarray:
    """``v_i = sum_k z_ik' Sigma_k z_ik`` for one chain, shape (draw, n)."""
    design = fit.design
    if not design.groups:
        return np.zeros((fit.posterior.sizes["draw"], design.n))
    roots = [factor_covariance_root(fit.posterior, g)[chain] for g in design.groups]
    return effect_variance([g.Z for g in design.groups], roots)


def _fixed_part(fit, chain: int) -> np.ndarray:
    """``X beta`` for one chain, shape (draw, n)."""
    beta = fit.posterior[names.BETA].transpose("chain", "draw", ...).values[chain]
    return beta @ fit.design.X.T


def fixed_variance_draws(fit) -> np.ndarray:
    """``sigma_f^2``: variance of ``X beta`` across rows (ddof=0), (chain, draw)."""
    return _per_chain(fit, lambda c: _fixed_part(fit, c).var(axis=1))


def random_variance_draws(fit) -> np.ndarray:
    """``sigma_r^2``: random-effect variance averaged over rows, (chain, draw)."""
    return _per_chain(fit, lambda c: _rows_variance(fit, c).mean(axis=1))


def mean_response_draws(fit) -> np.ndarray:
    """``lambda``: population-average mean response averaged over rows, (chain, draw)."""
    offset = 0.0 if fit.design.offset is None else fit.design.offset

    def chain_mean(c: int) -> np.ndarray:
        eta = _fixed_part(fit, c) + offset
        return population_mean(fit.spec.link_name, eta, _rows_variance(fit, c)).mean(axis=1)

    return _per_chain(fit, chain_mean)


def latent_residual_draws(fit) -> np.ndarray:
    """``sigma_e^2`` of the family per draw, (chain, draw)."""
    family = get_family(fit.spec.family, fit.spec.link)
    kwargs = {"mean": mean_response_draws(fit)} if family.residual_needs_mean else {}
    values = family.latent_residual_variance(family.param_draws(fit.posterior), **kwargs)
    shape = (fit.posterior.sizes["chain"], fit.posterior.sizes["draw"])
    return np.broadcast_to(np.asarray(values, dtype=np.float64), shape).copy()


def r_squared(fit, prob: float = 0.9) -> pd.DataFrame:
    """Marginal and conditional R² (Nakagawa & Schielzeth 2013; Johnson 2014).

    Returns
    -------
    pandas.DataFrame
        Index ``["R2_marginal", "R2_conditional", "var_fixed", "var_random",
        "var_residual"]``; columns ``mean, median, sd, q05, q95, rhat, ess_bulk``.

    Examples
    --------
    >>> r2 = r_squared(fit)
    >>> bool(0 < r2.loc["R2_marginal", "mean"] < r2.loc["R2_conditional", "mean"] < 1)
    True
    """
    fixed, random = fixed_variance_draws(fit), random_variance_draws(fit)
    residual = latent_residual_draws(fit)
    total = fixed + random + residual
    with np.errstate(invalid="ignore"):
        values = {
            "R2_marginal": fixed / total,
            "R2_conditional": (fixed + random) / total,
            "var_fixed": fixed,
            "var_random": random,
            "var_residual": residual,
        }
    return pd.DataFrame({k: draw_stats(v, prob) for k, v in values.items()}).T
