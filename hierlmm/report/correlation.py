"""Correlations and covariances of correlated random effects, with a plain reading.

For every factor fitted with an LKJ-correlated covariance (lme4 ``|``, q > 1) and every
pair of its terms, :func:`random_correlations` tabulates the correlation and covariance
posteriors, ``P(corr > 0)`` and one sentence saying what the sign means;
:func:`correlation_densities` gives boundary-corrected density curves for plotting.

Reference: Lewandowski, Kurowicka & Joe (2009), generating random correlation matrices
(the LKJ prior).
"""

from __future__ import annotations

import re
from itertools import combinations

import numpy as np
import pandas as pd

from hierlmm.errors import SpecError
from hierlmm.inference.summary import draw_stats, quantile_labels
from hierlmm.model import names
from hierlmm.model.covariance import covariance_from_sd_corr
from hierlmm.report.variance import (
    check_prob,
    factor_corr_draws,
    factor_sd_draws,
    tidy_table,
)
from hierlmm.spec.schema import INTERCEPT

_STAT_KEYS = ("mean", "median")
_KDE_CELLS = 2_000_000  # kernel evaluations held in memory at once


def prob_positive(values: np.ndarray) -> float:
    """Posterior probability that a scalar is > 0; ``values`` any shape (e.g. chain, draw)."""
    return float(np.mean(values > 0))


def reflected_kde(values: np.ndarray, grid: np.ndarray, bandwidth: float | None = None,
                  bounds: tuple[float, float] = (-1.0, 1.0)) -> np.ndarray:
    """Gaussian kernel density on a bounded interval, reflected at both bounds.

    Parameters
    ----------
    values : ndarray, any shape
        Draws inside ``bounds``; flattened.
    grid : ndarray, shape (m,)
        Points inside ``bounds`` at which to evaluate the density.
    bandwidth : float, optional
        Kernel SD; Silverman's rule ``0.9 * min(sd, iqr / 1.34) * n^(-1/5)`` by default.
    bounds : (float, float)

    Returns
    -------
    ndarray, shape (m,)
        Density that integrates to 1 over ``bounds`` (up to kernel mass beyond one
        reflection, negligible when the bandwidth is small against the interval).
    """
    x = np.asarray(values, dtype=float).reshape(-1)
    lo, hi = bounds
    if bandwidth is None:
        iqr = np.subtract(*np.quantile(x, [0.75, 0.25]))
        spread = min(x.std(ddof=1), iqr / 1.34) if iqr > 0 else x.std(ddof=1)
        bandwidth = 0.9 * max(spread, 1e-3 * (hi - lo)) * x.size ** (-0.2)
    centres = np.concatenate([x, 2 * lo - x, 2 * hi - x])  # (3n,)
    points = np.asarray(grid, dtype=float)
    out = np.empty(points.size)
    step = max(1, _KDE_CELLS // centres.size)  # grid points per chunk, bounds memory
    for start in range(0, points.size, step):
        z = (points[start:start + step, None] - centres[None, :]) / bandwidth  # (chunk, 3n)
        out[start:start + step] = np.exp(-0.5 * z**2).sum(axis=1)
    return out / (x.size * bandwidth * np.sqrt(2 * np.pi))


def _level_noun(factor: str) -> str:
    if re.fullmatch(r"[A-Za-z][A-Za-z_]*", factor) and not factor.endswith("s"):
        noun = f"{factor}s"
        return noun[0].upper() + noun[1:]
    return f"Levels of {factor}"


def _high(term: str) -> str:
    return "a higher intercept" if term == INTERCEPT else f"a larger (more positive) {term} slope"


def _follow(term: str, positive: bool) -> str:
    """The effect that goes with it. Slopes are compared by value, not steepness: with a
    negative average slope, a larger slope is a flatter decline, so "steeper" would
    read wrongly."""
    if term == INTERCEPT:
        return "higher intercepts" if positive else "lower intercepts"
    return (f"larger (more positive) {term} slopes" if positive
            else f"smaller (more negative) {term} slopes")


def correlation_reading(factor: str, term_a: str, term_b: str, lo: float, hi: float,
                        p_positive: float, prob: float) -> str:
    """One plain-language sentence about the correlation of two random effects.

    Parameters
    ----------
    factor : str
        Grouping factor (``"Subject"`` reads as "Subjects").
    term_a, term_b : str
        The pair's terms.
    lo, hi : float
        Bounds of the central posterior interval of the correlation.
    p_positive : float
        ``P(corr > 0)``.
    prob : float
        Mass of the interval, quoted when it covers 0.
    """
    noun = _level_noun(factor)
    tail = f"(P(corr > 0) = {p_positive:.2f})"
    if lo <= 0 <= hi:
        return (
            f"No clear relation between {term_a} and {term_b} across {noun.lower()}: the "
            f"{prob:.0%} interval covers 0 {tail}"
        )
    positive = lo > 0
    return f"{noun} with {_high(term_a)} tend to have {_follow(term_b, positive)} {tail}"


def _pairs(fit):
    """(group, i, j, corr draws (chain, draw), cov draws (chain, draw)) per correlated pair."""
    post = fit.posterior
    for g in fit.design.groups:
        if names.corr(g.factor) not in post or g.q < 2:
            continue
        sd = factor_sd_draws(post, g)  # (chain, draw, q)
        corr = factor_corr_draws(post, g)  # (chain, draw, q, q)
        cov = covariance_from_sd_corr(sd, corr)  # (chain, draw, q, q)
        for i, j in combinations(range(g.q), 2):
            yield g, i, j, corr[..., i, j], cov[..., i, j]


def random_correlations(fit, prob: float = 0.9) -> pd.DataFrame:
    """Correlation and covariance of each pair of correlated random effects.

    Parameters
    ----------
    fit : Fit
    prob : float
        Mass of the central posterior interval.

    Returns
    -------
    pandas.DataFrame
        One row per (factor, pair), in term order; columns ``parameter``
        (``"corr(Intercept,Days|Subject)"``), ``factor, term_a, term_b``,
        ``corr_mean, corr_median, corr_q05, corr_q95, corr_rhat, corr_ess_bulk``,
        ``cov_mean, cov_median, cov_q05, cov_q95``, ``p_positive`` and ``reading``
        (interval columns named after ``prob``). Empty, with these columns, when no factor
        has correlated effects.
    """
    prob = check_prob(prob)
    lo_name, hi_name = quantile_labels(prob)
    keys = (*_STAT_KEYS, lo_name, hi_name)
    rows = []
    for g, i, j, corr, cov in _pairs(fit):
        a, b = g.terms[i], g.terms[j]
        c_stats, v_stats = draw_stats(corr, prob), draw_stats(cov, prob)
        p_pos = prob_positive(corr)
        rows.append({
            "parameter": f"corr({a},{b}|{g.factor})",
            "factor": g.factor,
            "term_a": a,
            "term_b": b,
            **{f"corr_{k}": c_stats[k] for k in (*keys, "rhat", "ess_bulk")},
            **{f"cov_{k}": v_stats[k] for k in keys},
            "p_positive": p_pos,
            "reading": correlation_reading(g.factor, a, b, c_stats[lo_name], c_stats[hi_name],
                                           p_pos, prob),
        })
    columns = ["parameter", "factor", "term_a", "term_b",
               *(f"corr_{k}" for k in (*keys, "rhat", "ess_bulk")),
               *(f"cov_{k}" for k in keys), "p_positive", "reading"]
    return tidy_table(rows)[columns] if rows else pd.DataFrame(columns=columns)


def correlation_densities(fit, points: int = 201) -> pd.DataFrame:
    """Posterior density curves of every random-effect correlation, for plotting.

    Parameters
    ----------
    fit : Fit
    points : int
        Grid points on [-1, 1].

    Returns
    -------
    pandas.DataFrame
        Long table with columns ``parameter`` (as in :func:`random_correlations`), ``x``
        (correlation value) and ``density``; ``points`` rows per pair.
    """
    if isinstance(points, bool) or not isinstance(points, int) or points < 3:
        raise SpecError(f"points={points!r} must be an integer >= 3")
    grid = np.linspace(-1.0, 1.0, points)
    frames = []
    for g, i, j, corr, _ in _pairs(fit):
        parameter = f"corr({g.terms[i]},{g.terms[j]}|{g.factor})"
        density = reflected_kde(corr, grid)
        frames.append(pd.DataFrame({"parameter": parameter, "x": grid, "density": density}))
    if not frames:
        return pd.DataFrame(columns=["parameter", "x", "density"])
    return pd.concat(frames, ignore_index=True)
