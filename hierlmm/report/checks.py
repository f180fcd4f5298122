"""Posterior and prior predictive checks, and LOO model comparison.

- :func:`posterior_predictive`: replicated data ``y_rep`` from a random subset of draws
  (Gelman, Meng & Stern 1996);
- :func:`ppc_group_stats`: a per-group statistic (mean or SD) of ``y`` against its
  posterior predictive distribution, with the posterior predictive p-value
  ``Pr(T(y_rep) >= T(y))``;
- :func:`compare`: PSIS-LOO comparison of fits to the same observations
  (Vehtari, Gelman & Gabry 2017) through :func:`arviz_stats.compare`.

Prior predictive draws need the model, so they come from the inference stage
(:func:`hierlmm.inference.prior.prior_predictive`, re-exported by :mod:`hierlmm.report`).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd

from hierlmm.errors import FitError, SpecError
from hierlmm.families import get_family
from hierlmm.families.base import trials_kwargs
from hierlmm.inference.joint import joint_posterior
from hierlmm.inference.loglik import linear_predictor
from hierlmm.inference.result import Fit
from hierlmm.model import names
from hierlmm.options import check_option
from hierlmm.report.shrinkage import resolve_factor
from hierlmm.residuals import get_residual

GroupStat = Literal["mean", "sd"]
CompareMethod = Literal["stacking", "BB-pseudo-BMA", "pseudo-BMA"]
PARETO_K_WARNING = "Estimated shape parameter of Pareto distribution"


def _flat(values: np.ndarray) -> np.ndarray:
    """Merge the leading (chain, draw) axes: (C, D, ...) -> (C * D, ...)."""
    return values.reshape((-1,) + values.shape[2:])


def _draw_index(fit: Fit, n_draws: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``n_draws`` distinct flattened draws of the joint posterior
    (all when None)."""
    posterior = joint_posterior(fit.idata)
    total = posterior.sizes["chain"] * posterior.sizes["draw"]
    if n_draws is None:
        return np.arange(total)
    if isinstance(n_draws, bool) or not isinstance(n_draws, int | np.integer) or n_draws < 1:
        raise SpecError(f"n_draws={n_draws!r} must be a positive integer or None")
    if n_draws > total:
        raise SpecError(
            f"n_draws={n_draws} exceeds the {total} posterior draws of the fit; "
            "ask for fewer or pass n_draws=None for all"
        )
    return np.sort(rng.choice(total, size=n_draws, replace=False))


def conditional_mean(fit: Fit, index: np.ndarray) -> np.ndarray:
    """The linear predictor ``X beta + sum_k Z_k b_k`` at the chosen flattened draws.

    Parameters
    ----------
    fit : Fit
    index : ndarray of int, shape (S,)
        Indices into the flattened (chain * draw) draws.

    Returns
    -------
    ndarray, shape (S, n)
    """
    return linear_predictor(joint_posterior(fit.idata), fit.design, index)


def posterior_predictive(
    fit: Fit, n_draws: int | None = 200, seed: int | np.random.Generator | None = None
) -> np.ndarray:
    """Replicated responses from ``n_draws`` randomly chosen posterior draws.

    Parameters
    ----------
    fit : Fit
    n_draws : int or None
        Number of distinct draws used (all when None).
    seed : int or numpy.random.Generator, optional
        Chooses the draws and the noise; defaults to ``fit.seed``.

    Returns
    -------
    ndarray, shape (n_draws, n)
        Replicated responses drawn from the family (Gaussian: ``N(eta, sigma^2)``) on
        the model's response scale. With AR(1)/CAR(1) residuals the residuals follow the
        fitted process within each series
        (:meth:`~hierlmm.residuals.ResidualStructure.simulate_numpy`).
    """
    rng = np.random.default_rng(fit.seed if seed is None else seed)
    index = _draw_index(fit, n_draws, rng)
    eta = conditional_mean(fit, index)  # (S, n)
    family = get_family(fit.spec.family, fit.spec.link)
    draws = family.param_draws(joint_posterior(fit.idata))
    params = {k: _flat(v)[index] for k, v in draws.items()}
    residual = fit.design.residual
    if residual is not None and not residual.is_iid:  # AR(1)/CAR(1): simulate the series
        phi = joint_posterior(fit.idata)[names.PHI].transpose("chain", "draw").values
        phi = _flat(np.asarray(phi, dtype=np.float64))[index]
        noise = get_residual(residual.kind).simulate_numpy(
            params[names.SIGMA], phi, residual, rng
        )
        return eta + noise
    return family.predictive_draws(eta, params, rng, **trials_kwargs(fit.design.trials))


def group_statistic(values: np.ndarray, codes: np.ndarray, n_levels: int, stat: str) -> np.ndarray:
    """Per-group mean or SD (ddof=1; NaN for single-row groups) of each row of ``values``.

    Parameters
    ----------
    values : ndarray, shape (S, n)
    codes : ndarray of int, shape (n,)
        Level of each column, every level in ``[0, n_levels)`` present.
    n_levels : int
    stat : {"mean", "sd"}

    Returns
    -------
    ndarray, shape (S, n_levels)
    """
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=n_levels)  # (L,)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sorted_values = values[:, order]  # (S, n)
    means = np.add.reduceat(sorted_values, starts, axis=1) / counts  # (S, L)
    if stat == "mean":
        return means
    dev2 = (sorted_values - np.repeat(means, counts, axis=1)) ** 2  # (S, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.add.reduceat(dev2, starts, axis=1) / (counts - 1)
    return np.sqrt(np.where(counts > 1, var, np.nan))


def ppc_group_stats(
    fit: Fit,
    stat: GroupStat = "mean",
    seed: int | np.random.Generator | None = None,
    *,
    factor: str | None = None,
    n_draws: int | None = 200,
    prob: float = 0.9,
) -> pd.DataFrame:
    """Observed per-group statistic against its posterior predictive distribution.

    Parameters
    ----------
    fit : Fit
    stat : {"mean", "sd"}
    seed : int or numpy.random.Generator, optional
        Defaults to ``fit.seed``.
    factor : str, optional
        Grouping factor; the first one when omitted.
    n_draws : int or None
        Replicated data sets (see :func:`posterior_predictive`).
    prob : float
        Mass of the central predictive interval.

    Returns
    -------
    pandas.DataFrame, shape (L, 9)
        Columns ``factor, level, n, stat, observed, rep_mean, lower, upper, p_value`` with
        ``p_value = Pr(T(y_rep) >= T(y))``; NaN statistics for single-row groups and
        ``stat="sd"``.
    """
    check_option("stat", stat, GroupStat)
    if not 0 < prob < 1:
        raise SpecError(f"prob={prob!r} must lie strictly between 0 and 1")
    group = resolve_factor(fit, factor)
    y_rep = posterior_predictive(fit, n_draws=n_draws, seed=seed)  # (S, n)
    observed = group_statistic(fit.design.y[None, :], group.codes, group.n_levels, stat)[0]
    rep = group_statistic(y_rep, group.codes, group.n_levels, stat)  # (S, L)
    valid = np.isfinite(observed)
    with np.errstate(invalid="ignore"):
        lower, upper = np.quantile(rep, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        p_value = np.where(valid, (rep >= observed[None, :]).mean(axis=0), np.nan)
    return pd.DataFrame({
        "factor": group.factor,
        "level": np.asarray(group.levels, dtype=object),
        "n": group.counts,
        "stat": stat,
        "observed": observed,
        "rep_mean": rep.mean(axis=0),
        "lower": lower,
        "upper": upper,
        "p_value": p_value,
    })


def _check_comparable(fits: dict[str, Fit]) -> None:
    if not isinstance(fits, dict) or len(fits) < 2:
        raise SpecError(
            "compare() takes a dict of at least two fits, e.g. {'m1': fit1, 'm2': fit2}"
        )
    first_name, first = next(iter(fits.items()))
    for name, fit in fits.items():
        if not isinstance(fit, Fit):
            raise SpecError(f"compare(): entry {name!r} is a {type(fit).__name__}, not a Fit")
        if "log_likelihood" not in fit.idata.children:
            raise FitError(
                f"fit {name!r} has no log_likelihood group (chain * draw * n exceeded the "
                "memory budget); refit with fewer draws to compare it"
            )
        same = fit.design.n == first.design.n and np.array_equal(fit.design.y, first.design.y)
        if not same:
            raise FitError(
                f"fits {first_name!r} and {name!r} were fitted to different observations; "
                "LOO comparison needs the same rows and response"
            )


def compare(fits: dict[str, Fit], method: CompareMethod = "stacking") -> pd.DataFrame:
    """PSIS-LOO comparison of fits to the same data.

    Parameters
    ----------
    fits : dict of str to Fit
        Model name -> fit (at least two, same observations).
    method : {"stacking", "BB-pseudo-BMA", "pseudo-BMA"}
        How model weights are computed.

    Returns
    -------
    pandas.DataFrame
        :func:`arviz_stats.compare`'s table, unrounded, best model first: columns
        ``rank, elpd, p, elpd_diff, weight, se, dse, ...`` indexed by model name.
        ArviZ's warning about high Pareto k values is not re-emitted: the column
        ``diag_elpd`` says how many observations exceed the threshold in each model.
    """
    from arviz_stats import compare as az_compare

    _check_comparable(fits)
    check_option("method", method, CompareMethod)
    trees = {name: fit.idata for name, fit in fits.items()}
    with warnings.catch_warnings():  # high Pareto k: reported per model in ``diag_elpd``
        warnings.filterwarnings("ignore", message=PARETO_K_WARNING, category=UserWarning)
        return az_compare(trees, method=method, var_name=names.RESPONSE, round_to="none")
