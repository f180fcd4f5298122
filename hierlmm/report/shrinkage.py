"""Shrinkage of group-level coefficients: no pooling, complete pooling, partial pooling.

For every level j of a grouping factor and every effect term (``"Intercept"``, slopes)
the table puts side by side

- the **no-pooling** estimate: least squares of the group's own responses ``y_j`` on its
  own random-effect columns ``Z_j`` (intercept and slopes of this factor only; other
  fixed covariates and factors are ignored unless ``adjust=True`` first removes their
  posterior-mean contribution), NaN when ``rank(Z_j) < q``;
- the **complete-pooling** estimate: least squares of all ``y`` on the same ``Z`` columns;
- the **partial-pooling** estimate: posterior mean (and central interval) of the group's
  coefficient ``beta_term + b_j,term`` (``beta_term = 0`` when the term has no fixed
  effect);
- the **population** value: posterior mean of ``beta_term``.

How far the posterior moved from the group's own data towards the population
(Gelman & Hill 2007, sec. 12.2) is reported twice, as ``weight_own_data`` and
``shrinkage = 1 - weight_own_data``:

- intercept-only factor of a Gaussian model (``weight_method = "analytic"``): the
  weight the posterior mean
  puts on the group's own mean, ``tau^2 / (tau^2 + sigma^2 / n_j)``, averaged over the
  posterior draws of ``tau`` and ``sigma`` (exact for a one-factor random-intercept model
  given ``tau``, ``sigma`` and ``beta``);
- another intercept-only factor (``weight_method = "empirical"``): the fraction of the
  distance from the population value to the no-pooling estimate that the posterior mean
  kept, ``(partial - population) / (no_pool - population)``; NaN where the no-pooling
  estimate is not estimable;
- a factor with slopes (``weight_method = "mahalanobis"``): one fraction per level, the
  same on each of its terms, measured along the distance in the metric of the population
  covariance ``Sigma`` (posterior mean): ``w_j = d' Sigma^-1 m / d' Sigma^-1 d`` with
  ``d = no_pool - population`` and ``m = partial - population``.

Why not a fraction per term when there are slopes: the posterior mean shrinks the vector of
a group's coefficients with a matrix, ``m = (Sigma^-1 + P_j)^-1 P_j d`` (``P_j = Z_j' Z_j /
sigma^2``), which mixes the terms through the correlation. A per-term ratio ``m_k / d_k``
is then not a fraction: a group whose own intercept is close to the population's but whose
slope is far is moved on the intercept too, so the ratio leaves [0, 1] (values such as
1.36 or -0.25 on sleepstudy). Along the distance in the ``Sigma^-1`` metric the fraction is
``d' (Sigma^-1 - Sigma^-1 (Sigma^-1 + P_j)^-1 Sigma^-1) d / d' Sigma^-1 d``, a ratio of
two quadratic forms whose matrices satisfy ``0 <= numerator <= denominator``, so it lies in
[0, 1] for that model given its parameters. With posterior averaging, other grouping
factors or fixed covariates outside the factor's terms (``adjust=False``), it may still
stray slightly outside; such values mean the own-data regression is not comparable with
the model's coefficients (use ``adjust=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from hierlmm.design.design import Design, GroupDesign
from hierlmm.errors import SpecError
from hierlmm.families import get_family
from hierlmm.inference.joint import joint_posterior
from hierlmm.inference.result import Fit
from hierlmm.model import names
from hierlmm.model.covariance import factor_covariance_root
from hierlmm.model.linear_predictor import linear_predictor
from hierlmm.report.variance import residual_variance_draws

TABLE_COLUMNS = (
    "factor", "level", "term", "n", "no_pool", "complete_pool", "population", "partial",
    "partial_lower", "partial_upper", "weight_own_data", "shrinkage", "weight_method",
)


def analytic_shrinkage(tau2: np.ndarray, sigma2: np.ndarray, n_j: np.ndarray) -> np.ndarray:
    """Weight on a group's own mean in a random-intercept model, per draw and group.

    Parameters
    ----------
    tau2 : ndarray, shape (draws,)
        Random-intercept variance draws.
    sigma2 : ndarray, shape (draws,)
        Residual variance draws.
    n_j : ndarray, shape (L,)
        Observations per group.

    Returns
    -------
    ndarray, shape (draws, L)
        ``tau^2 / (tau^2 + sigma^2 / n_j)``, in (0, 1) for positive inputs.
    """
    tau2 = np.asarray(tau2, dtype=np.float64)[:, None]  # (S, 1)
    sigma2 = np.asarray(sigma2, dtype=np.float64)[:, None]  # (S, 1)
    n_j = np.asarray(n_j, dtype=np.float64)[None, :]  # (1, L)
    return tau2 / (tau2 + sigma2 / n_j)


def rows_by_level(group: GroupDesign) -> list[np.ndarray]:
    """Row indices of each level, in level order (L arrays)."""
    order = np.argsort(group.codes, kind="stable")
    return np.split(order, np.cumsum(group.counts)[:-1])


def no_pooling(y: np.ndarray, group: GroupDesign) -> np.ndarray:
    """Per-group least squares of ``y_j`` on ``Z_j``.

    Parameters
    ----------
    y : ndarray, shape (n,)
    group : GroupDesign

    Returns
    -------
    ndarray, shape (L, q)
        ``numpy.linalg.lstsq`` coefficients; NaN rows where ``rank(Z_j) < q``.
    """
    out = np.full((group.n_levels, group.q), np.nan)
    for j, rows in enumerate(rows_by_level(group)):
        coef, _, rank, _ = np.linalg.lstsq(group.Z[rows], y[rows], rcond=None)
        if rank == group.q:
            out[j] = coef
    return out


def complete_pooling(y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Pooled least squares of all of ``y`` on ``Z``.

    Parameters
    ----------
    y : ndarray, shape (n,)
    Z : ndarray, shape (n, q)

    Returns
    -------
    ndarray, shape (q,)
    """
    return np.linalg.lstsq(Z, y, rcond=None)[0]


def population_draws(posterior: xr.Dataset, design: Design, group: GroupDesign) -> np.ndarray:
    """Fixed effect of each of the factor's terms, 0 for a term without one.

    Returns
    -------
    ndarray, shape (chain, draw, q)
    """
    beta = posterior[names.BETA]
    fixed = list(design.fixed_names)
    C, D = beta.shape[:2]
    out = np.zeros((C, D, group.q))
    for k, term in enumerate(group.terms):
        if term in fixed:
            out[:, :, k] = beta.sel({names.FIXED_DIM: term}).values
    return out


def coefficient_draws(posterior: xr.Dataset, design: Design, group: GroupDesign) -> np.ndarray:
    """Group-level coefficients ``beta_term + b_j,term``.

    Returns
    -------
    ndarray, shape (chain, draw, L, q)
    """
    b = posterior[names.effects(group.factor)].values  # (C, D, L, q)
    return population_draws(posterior, design, group)[:, :, None, :] + b


def resolve_factor(fit: Fit, factor: str | None) -> GroupDesign:
    """The factor's :class:`GroupDesign`; the first factor when ``factor`` is None."""
    if not fit.design.groups:
        raise SpecError("the model has no grouping factor; shrinkage needs random effects")
    if factor is None:
        return fit.design.groups[0]
    fit.spec.group(factor)  # raises SpecError naming the available factors
    return fit.design.group(factor)


def is_intercept_only(group: GroupDesign) -> bool:
    """Whether the factor has a random intercept and nothing else."""
    return group.terms == (names.INTERCEPT,)


def has_analytic_weight(fit: Fit, group: GroupDesign) -> bool:
    """Whether the closed-form weight applies: an intercept-only factor, Gaussian response."""
    return is_intercept_only(group) and get_family(fit.spec.family, fit.spec.link).collapsible


def weight_method(fit: Fit, group: GroupDesign) -> str:
    """``"analytic"``, ``"empirical"`` or ``"mahalanobis"`` (see the module docstring)."""
    if has_analytic_weight(fit, group):
        return "analytic"
    return "empirical" if is_intercept_only(group) else "mahalanobis"


def mahalanobis_weight(moved: np.ndarray, distance: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Fraction of the distance kept, measured along it in the ``cov^-1`` metric.

    Parameters
    ----------
    moved : ndarray, shape (L, q)
        ``partial - population`` per level.
    distance : ndarray, shape (L, q)
        ``no_pool - population`` per level (NaN rows: not estimable).
    cov : ndarray, shape (q, q)
        Population covariance of the coefficients (positive definite).

    Returns
    -------
    ndarray, shape (L,)
        ``d' cov^-1 m / d' cov^-1 d``; NaN where ``d`` is NaN or zero.

    Examples
    --------
    >>> mahalanobis_weight(np.array([[1.0, 0.5]]), np.array([[2.0, 1.0]]), np.eye(2))
    array([0.5])
    """
    precision = np.linalg.inv(cov)  # (q, q), q <= a handful of terms
    along = np.einsum("li,ij,lj->l", distance, precision, moved)
    norm = np.einsum("li,ij,lj->l", distance, precision, distance)
    ok = np.isfinite(norm) & (norm > 0)
    return np.divide(along, norm, out=np.full(norm.shape, np.nan), where=ok)


def _weights(fit: Fit, group: GroupDesign, partial, population, no_pool) -> np.ndarray:
    """``weight_own_data`` per (level, term), shape (L, q)."""
    method = weight_method(fit, group)
    if method == "analytic":
        tau2 = fit.posterior[names.sd(group.factor)].values[..., 0].reshape(-1) ** 2
        sigma2 = residual_variance_draws(fit).reshape(-1)
        return analytic_shrinkage(tau2, sigma2, group.counts).mean(axis=0)[:, None]
    distance = no_pool - population[None, :]
    moved = partial - population[None, :]
    if method == "mahalanobis":
        cov = population_distribution(fit, group.factor).cov
        return np.repeat(mahalanobis_weight(moved, distance, cov)[:, None], group.q, axis=1)
    ok = np.isfinite(distance) & (np.abs(distance) > 0)
    return np.divide(moved, distance, out=np.full_like(moved, np.nan), where=ok)


def adjusted_response(fit: Fit, group: GroupDesign) -> np.ndarray:
    """``y`` minus the posterior-mean contribution of everything but ``group``'s terms.

    Subtracts ``X_k beta_k`` for fixed columns that are not among the factor's terms and
    ``Z b`` of every other grouping factor, all at their posterior means.

    Returns
    -------
    ndarray, shape (n,)
    """
    design, posterior = fit.design, joint_posterior(fit.idata)
    beta = posterior[names.BETA].values.mean(axis=(0, 1))  # (p,)
    other = np.array([name not in group.terms for name in design.fixed_names], dtype=bool)
    others = [
        (posterior[names.effects(g.factor)].values.mean(axis=(0, 1)), g.codes, g.Z)
        for g in design.groups if g.factor != group.factor
    ]  # posterior-mean effects (L_g, q_g) of every other factor
    return design.y - linear_predictor(beta[other], design.X[:, other], others)  # (n,)


def shrinkage(
    fit: Fit, factor: str | None = None, prob: float = 0.9, *, adjust: bool = False
) -> pd.DataFrame:
    """No-pooling, complete-pooling and partial-pooling estimates per group and term.

    Parameters
    ----------
    fit : Fit
    factor : str, optional
        Grouping factor; the first one when omitted.
    prob : float
        Mass of the central interval of the partial-pooling estimate.
    adjust : bool
        Run the no-pooling and complete-pooling regressions on
        :func:`adjusted_response` rather than ``y``, so that they are comparable with the
        partial-pooling coefficients when the model has other fixed covariates or other
        grouping factors. Without them (e.g. ``y ~ t + (t | g)``) it changes nothing.

    Returns
    -------
    pandas.DataFrame, shape (L * q, 13)
        Columns ``factor, level, term, n, no_pool, complete_pool, population, partial,
        partial_lower, partial_upper, weight_own_data, shrinkage, weight_method``, rows
        level-major in level order (see the module docstring for definitions).
    """
    if not 0 < prob < 1:
        raise SpecError(f"prob={prob!r} must lie strictly between 0 and 1")
    group = resolve_factor(fit, factor)
    y = adjusted_response(fit, group) if adjust else fit.design.y
    coefs = coefficient_draws(joint_posterior(fit.idata), fit.design, group)  # (C, D, L, q)
    flat = coefs.reshape(-1, group.n_levels, group.q)  # (S, L, q)
    partial = flat.mean(axis=0)  # (L, q)
    lower, upper = np.quantile(flat, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    population = population_draws(fit.posterior, fit.design, group).mean(axis=(0, 1))  # (q,)
    no_pool = no_pooling(y, group)  # (L, q)
    weight = _weights(fit, group, partial, population, no_pool)  # (L, q)
    L, q = group.n_levels, group.q
    table = pd.DataFrame({
        "factor": group.factor,
        "level": np.repeat(np.asarray(group.levels, dtype=object), q),
        "term": np.tile(np.asarray(group.terms, dtype=object), L),
        "n": np.repeat(group.counts, q),
        "no_pool": no_pool.reshape(-1),
        "complete_pool": np.tile(complete_pooling(y, group.Z), L),
        "population": np.tile(population, L),
        "partial": partial.reshape(-1),
        "partial_lower": lower.reshape(-1),
        "partial_upper": upper.reshape(-1),
        "weight_own_data": weight.reshape(-1),
        "shrinkage": 1.0 - weight.reshape(-1),
        "weight_method": weight_method(fit, group),
    })
    return table.loc[:, list(TABLE_COLUMNS)]


@dataclass(frozen=True)
class PopulationDistribution:
    """Posterior-mean population distribution of a factor's coefficients.

    Group coefficients ``beta + b_j`` are ``N(mean, cov)`` in the model.

    Attributes
    ----------
    factor : str
    terms : tuple of str, length q
    mean : ndarray, shape (q,)
        Posterior mean of the fixed effects of the terms (0 for a term without one).
    cov : ndarray, shape (q, q)
        Posterior mean of the random-effect covariance ``Sigma``.
    """

    factor: str
    terms: tuple[str, ...]
    mean: np.ndarray
    cov: np.ndarray


def population_distribution(fit: Fit, factor: str | None = None) -> PopulationDistribution:
    """Posterior-mean centre and covariance of a factor's group coefficients."""
    group = resolve_factor(fit, factor)
    L = factor_covariance_root(fit.posterior, group)  # (C, D, q, q)
    cov = np.einsum("cdik,cdjk->ij", L, L) / (L.shape[0] * L.shape[1])  # mean of L L^T
    mean = population_draws(fit.posterior, fit.design, group).mean(axis=(0, 1))
    return PopulationDistribution(group.factor, group.terms, mean, cov)
