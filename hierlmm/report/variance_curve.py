"""Variance of the response, and the ICC, as functions of a random-slope covariate.

With a random intercept b0 and slope b1 of covariate t for factor f,

    Var(y | t) = var(b0) + 2 t cov(b0, b1) + t^2 var(b1) + other + sigma^2,

where ``other`` sums the random-intercept variances of the model's other factors (their
slope covariates held at 0). The conditional ICC at t is the factor's share,
``(var(b0) + 2 t cov + t^2 var(b1)) / Var(y | t)``.

Reference: Goldstein, H., Browne, W. & Rasbash, J. (2002). Partitioning variation in
multilevel models. *Understanding Statistics* 1, 223-231.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hierlmm.design.design import GroupDesign
from hierlmm.errors import SpecError
from hierlmm.inference.summary import draw_stats, quantile_labels
from hierlmm.model.covariance import covariance_from_sd_corr
from hierlmm.report.variance import (
    check_prob,
    factor_corr_draws,
    factor_sd_draws,
    residual_variance_draws,
    tidy_table,
)
from hierlmm.spec.schema import INTERCEPT

COMPONENTS = ("intercept", "covariance", "slope", "other", "residual")
GRID_POINTS = 25


def variance_components_over_grid(
    var0: np.ndarray, cov01: np.ndarray, var1: np.ndarray, other: np.ndarray,
    sigma2: np.ndarray, grid: np.ndarray,
) -> np.ndarray:
    """Components of Var(y | t) at each grid point, in :data:`COMPONENTS` order.

    Parameters
    ----------
    var0, cov01, var1 : ndarray, shape (chain, draw)
        Intercept variance, intercept-slope covariance and slope variance of the factor.
    other : ndarray, shape (chain, draw)
        Random-intercept variance of the other factors.
    sigma2 : ndarray, shape (chain, draw)
        Residual variance.
    grid : ndarray, shape (T,)
        Covariate values t.

    Returns
    -------
    ndarray, shape (chain, draw, T, 5)
        Intercept, ``2 t cov``, ``t^2 var1``, other, residual; their sum over the last
        axis is the total variance.
    """
    t = np.asarray(grid, dtype=float)[None, None, :]  # (1, 1, T)
    parts = [
        var0[..., None] + 0 * t,
        2 * t * cov01[..., None],
        t**2 * var1[..., None],
        other[..., None] + 0 * t,
        sigma2[..., None] + 0 * t,
    ]
    return np.stack(parts, axis=-1)


def conditional_icc(components: np.ndarray) -> np.ndarray:
    """Share of the factor (intercept + covariance + slope) in the total variance.

    Parameters
    ----------
    components : ndarray, shape (..., 5)
        As returned by :func:`variance_components_over_grid`.

    Returns
    -------
    ndarray, shape (...)
    """
    return components[..., :3].sum(axis=-1) / components.sum(axis=-1)


def _slope_term(g: GroupDesign, term: str | None) -> str:
    slopes = [t for t in g.terms if t != INTERCEPT]
    if term is None:
        if len(slopes) != 1:
            raise SpecError(
                f"factor {g.factor!r} has slopes {slopes}; pass term= naming one of them"
                if slopes else
                f"factor {g.factor!r} has no random slope; variance over a covariate needs "
                "a factor with one, e.g. (Days | Subject)"
            )
        return slopes[0]
    if term not in slopes:
        raise SpecError(
            f"term={term!r} is not a random slope of {g.factor!r}; choose from {slopes}"
        )
    return term


def _group(fit, factor: str) -> GroupDesign:
    try:
        return fit.design.group(factor)
    except KeyError:
        raise SpecError(
            f"factor={factor!r} is not a grouping factor of the model; choose one of "
            f"{[g.factor for g in fit.design.groups]}"
        ) from None


def _grid(g: GroupDesign, term: str, grid) -> np.ndarray:
    if grid is None:
        column = g.Z[:, g.terms.index(term)]
        return np.linspace(column.min(), column.max(), GRID_POINTS)
    try:
        values = np.asarray(grid, dtype=float)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"grid={grid!r} must be a sequence of numbers") from exc
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise SpecError("grid must be a non-empty 1-D sequence of finite numbers")
    return values


def _components(fit, factor: str, term: str | None, grid) -> tuple[str, np.ndarray, np.ndarray]:
    """Resolve inputs; return (term, grid (T,), components (chain, draw, T, 5))."""
    g = _group(fit, factor)
    term = _slope_term(g, term)
    t = _grid(g, term, grid)
    post = fit.posterior
    cov = covariance_from_sd_corr(factor_sd_draws(post, g), factor_corr_draws(post, g))
    j = g.terms.index(term)
    zeros = np.zeros(cov.shape[:2])
    i = g.terms.index(INTERCEPT) if INTERCEPT in g.terms else None
    var0 = zeros if i is None else cov[..., i, i]
    cov01 = zeros if i is None else cov[..., i, j]
    other = zeros.copy()
    for h in fit.design.groups:
        if h.factor != factor and INTERCEPT in h.terms:
            other += factor_sd_draws(post, h)[..., h.terms.index(INTERCEPT)] ** 2
    parts = variance_components_over_grid(var0, cov01, cov[..., j, j], other,
                                          residual_variance_draws(fit), t)
    return term, t, parts


def variance_over_covariate(
    fit, factor: str, term: str | None = None, grid=None, prob: float = 0.9
) -> pd.DataFrame:
    """Decompose Var(y | t) over a grid of the slope covariate t.

    Parameters
    ----------
    fit : Fit
    factor : str
        Grouping factor with a random slope.
    term : str, optional
        The slope term; required when the factor has several.
    grid : sequence of float, shape (T,), optional
        Covariate values; 25 points over the observed range by default.
    prob : float
        Mass of the central posterior interval of the total.

    Returns
    -------
    pandas.DataFrame
        T rows; columns ``factor, term, t``, the posterior means of the components
        ``intercept, covariance, slope, other, residual`` (they sum to ``total_mean``),
        then ``total_mean, total_median, total_q05, total_q95`` (named after ``prob``).
    """
    prob = check_prob(prob)
    term, t, parts = _components(fit, factor, term, grid)
    total = parts.sum(axis=-1).reshape(-1, t.size)  # (chain * draw, T)
    lo_name, hi_name = quantile_labels(prob)
    lo, hi = np.quantile(total, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    means = parts.reshape(-1, t.size, len(COMPONENTS)).mean(axis=0)  # (T, 5)
    table = pd.DataFrame({"factor": factor, "term": term, "t": t})
    for k, name in enumerate(COMPONENTS):
        table[name] = means[:, k]
    table["total_mean"] = total.mean(axis=0)
    table["total_median"] = np.median(total, axis=0)
    table[f"total_{lo_name}"] = lo
    table[f"total_{hi_name}"] = hi
    return table


def icc_curve(
    fit, factor: str, grid=None, term: str | None = None, prob: float = 0.9
) -> pd.DataFrame:
    """Conditional ICC of a random-slope factor over a grid of its covariate.

    ``ICC(t) = Var(b0 + b1 t) / (Var(b0 + b1 t) + other + sigma^2)`` (see the module
    docstring); at t = 0 it equals the ``icc`` row of :func:`hierlmm.report.variance.icc`.

    Parameters
    ----------
    fit : Fit
    factor : str
    grid : sequence of float, shape (T,), optional
        25 points over the observed covariate range by default.
    term : str, optional
        Slope term; required when the factor has several.
    prob : float

    Returns
    -------
    pandas.DataFrame
        T rows; columns ``factor, term, t, mean, median, sd, q05, q95, rhat, ess_bulk``.
    """
    prob = check_prob(prob)
    term, t, parts = _components(fit, factor, term, grid)
    values = conditional_icc(parts)  # (chain, draw, T)
    rows = [{"factor": factor, "term": term, "t": float(tk), **draw_stats(values[..., k], prob)}
            for k, tk in enumerate(t)]
    return tidy_table(rows)
