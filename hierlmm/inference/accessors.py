"""lme4/brms-style accessors: ``fixef``, ``ranef``, ``coef`` and ``varcorr`` of a fit.

Each returns a tidy :class:`pandas.DataFrame` of posterior summaries (``mean, sd, lower,
upper``, the bounds of the central interval of mass ``prob``); ``Fit.fixef()`` and its
siblings call these. Effects (``b_<factor>``) are read through
:func:`~hierlmm.inference.joint.joint_posterior`, so a fit whose effects were thinned
gives them on the draws that have them. :func:`coef_draws` exposes the per-draw sums
behind :func:`coef`.

Examples
--------
>>> import hierlmm
>>> fit = hierlmm.fit("Reaction ~ Days + (Days | Subject)",
...                   hierlmm.datasets.load("sleepstudy"), draws=50, tune=50, chains=1,
...                   seed=1, progress=False, warn_convergence=False)
>>> fixef(fit).index.tolist()
['Intercept', 'Days']
>>> ranef(fit).columns.tolist()
['factor', 'level', 'term', 'mean', 'sd', 'lower', 'upper']
>>> coef(fit).shape  # 18 subjects x 2 terms
(36, 7)
>>> varcorr(fit)[["group", "name", "statistic"]].head(3).values.tolist()
[['Subject', 'Intercept', 'sd'], ['Subject', 'Intercept', 'variance'], ['Subject', 'Days', 'sd']]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from hierlmm.families import get_family
from hierlmm.inference.draws import scalar_draws
from hierlmm.inference.joint import joint_posterior
from hierlmm.model import names

if TYPE_CHECKING:
    from hierlmm.inference.result import Fit

STAT_COLUMNS = ("mean", "sd", "lower", "upper")
RESIDUAL_GROUP = "Residual"


def draw_summary(draws: np.ndarray, prob: float = 0.9) -> dict[str, np.ndarray]:
    """Mean, SD and central-interval bounds over the two leading (chain, draw) axes.

    Parameters
    ----------
    draws : ndarray, shape (chain, draw, ...)
    prob : float
        Mass of the equal-tailed interval, in (0, 1).

    Returns
    -------
    dict of str to ndarray, each of shape ``draws.shape[2:]``
        Keys ``mean, sd, lower, upper``.

    Examples
    --------
    >>> round(float(draw_summary(np.arange(10.0).reshape(1, 10), prob=0.8)["lower"]), 6)
    0.9
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob!r}")
    flat = np.asarray(draws, dtype=np.float64).reshape((-1,) + np.shape(draws)[2:])
    lower, upper = np.quantile(flat, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    sd = flat.std(axis=0, ddof=1) if flat.shape[0] > 1 else np.full(flat.shape[1:], np.nan)
    return {"mean": flat.mean(axis=0), "sd": sd, "lower": lower, "upper": upper}


def fixef(fit: Fit, prob: float = 0.9) -> pd.DataFrame:
    """Fixed effects (lme4's ``fixef``) with posterior summaries.

    Parameters
    ----------
    fit : Fit
    prob : float
        Mass of the central interval.

    Returns
    -------
    pandas.DataFrame, shape (p, 4)
        Index ``term`` (the fixed-effect names); columns ``mean, sd, lower, upper``.

    Examples
    --------
    >>> fixef(fit, prob=0.5).columns.tolist()
    ['mean', 'sd', 'lower', 'upper']
    """
    beta = fit.posterior[names.BETA].transpose("chain", "draw", names.FIXED_DIM)
    table = pd.DataFrame(draw_summary(beta.values, prob), columns=list(STAT_COLUMNS))
    table.index = pd.Index(list(fit.design.fixed_names), name="term")
    return table


def _tidy(factor: str, levels: list[str], terms: list[str], draws: np.ndarray,
          prob: float) -> pd.DataFrame:
    """Rows ``factor, level, term`` (levels outer, terms inner) of draws (C, D, L, q)."""
    stats = draw_summary(draws, prob)
    return pd.DataFrame({
        "factor": factor,
        "level": np.repeat(levels, len(terms)),
        "term": np.tile(terms, len(levels)),
        **{key: value.reshape(-1) for key, value in stats.items()},
    })


def _concat(tables: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True)


def ranef(fit: Fit, prob: float = 0.9) -> pd.DataFrame:
    """Random effects (lme4's ``ranef``): deviations of each level from the fixed effects.

    Parameters
    ----------
    fit : Fit
    prob : float
        Mass of the central interval.

    Returns
    -------
    pandas.DataFrame, shape (sum over factors of levels x q, 7)
        Columns ``factor, level, term, mean, sd, lower, upper``; per factor the levels in
        the fit's order, each with its terms.
    """
    posterior = joint_posterior(fit.idata)
    tables = []
    for g in fit.design.groups:
        b = posterior[names.effects(g.factor)].transpose(
            "chain", "draw", names.level_dim(g.factor), names.term_dim(g.factor))
        tables.append(_tidy(g.factor, list(g.levels), list(g.terms), b.values, prob))
    return _concat(tables, ["factor", "level", "term", *STAT_COLUMNS])


def coef_draws(fit: Fit, factor: str) -> xr.DataArray:
    """Per-draw group-level coefficients ``beta[term] + b[level, term]`` of one factor.

    Terms are the fixed-effect names followed by any random-only terms; a term absent
    from the fixed part contributes ``b`` only, a fixed term without a random effect is
    ``beta`` at every level (as lme4's ``coef``).

    Parameters
    ----------
    fit : Fit
    factor : str
        A grouping factor of the fit.

    Returns
    -------
    xarray.DataArray, dims (chain, draw, level, term)
        On the draws of :func:`~hierlmm.inference.joint.joint_posterior`.
    """
    group = fit.design.group(factor)
    posterior = joint_posterior(fit.idata)
    fixed = list(fit.design.fixed_names)
    terms = fixed + [t for t in group.terms if t not in fixed]
    beta = posterior[names.BETA].transpose("chain", "draw", names.FIXED_DIM).values
    b = posterior[names.effects(factor)].transpose(
        "chain", "draw", names.level_dim(factor), names.term_dim(factor)).values
    C, D = beta.shape[:2]
    out = np.zeros((C, D, group.n_levels, len(terms)))
    for k, term in enumerate(terms):
        if term in fixed:
            out[..., k] += beta[..., fixed.index(term), None]
        if term in group.terms:
            out[..., k] += b[..., group.terms.index(term)]
    coords = {"chain": posterior["chain"].values, "draw": posterior["draw"].values,
              "level": list(group.levels), "term": terms}
    return xr.DataArray(out, dims=("chain", "draw", "level", "term"), coords=coords,
                        name=f"coef_{factor}")


def coef(fit: Fit, prob: float = 0.9) -> pd.DataFrame:
    """Group-level coefficients (lme4's ``coef``): fixed plus random effects per level.

    Summarised after summing per draw (so the interval of a coefficient is not the sum
    of two intervals); see :func:`coef_draws`.

    Returns
    -------
    pandas.DataFrame, shape (sum over factors of levels x terms, 7)
        Columns ``factor, level, term, mean, sd, lower, upper``.
    """
    tables = []
    for g in fit.design.groups:
        draws = coef_draws(fit, g.factor)
        tables.append(_tidy(g.factor, list(g.levels), list(draws["term"].values),
                            draws.values, prob))
    return _concat(tables, ["factor", "level", "term", *STAT_COLUMNS])


def varcorr(fit: Fit, prob: float = 0.9) -> pd.DataFrame:
    """Variance components (lme4's ``VarCorr``): SDs, variances and correlations.

    Parameters
    ----------
    fit : Fit
    prob : float
        Mass of the central interval.

    Returns
    -------
    pandas.DataFrame
        Columns ``group, name, statistic, mean, sd, lower, upper``. Per grouping factor
        (``group``) and term (``name``) a ``"sd"`` and a ``"variance"`` row, then one
        ``"corr"`` row per pair (``name`` ``"A,B"``); last the residual (``group``
        ``"Residual"``, ``name`` the family's parameter, e.g. ``"sigma"``) when the
        family has a residual SD. Variances are summarised from the squared draws.
    """
    family = get_family(fit.spec.family, fit.spec.link)
    rows = []
    for item in scalar_draws(fit.posterior, fit.design, family.parameters):
        if item.kind == "sigma" and family.has_residual_sd:
            group, name = RESIDUAL_GROUP, item.parameter
        elif item.kind in ("sd", "corr"):
            group, name = item.factor, item.term
        else:
            continue
        if item.kind == "corr":
            rows.append((group, name, "corr", item.values))
            continue
        rows.append((group, name, "sd", item.values))
        rows.append((group, name, "variance", item.values**2))
    columns = ["group", "name", "statistic", *STAT_COLUMNS]
    records = [
        (group, name, stat, *(float(v) for v in draw_summary(values, prob).values()))
        for group, name, stat, values in rows
    ]
    return pd.DataFrame(records, columns=columns)
