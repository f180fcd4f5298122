"""Residual autocorrelation of AR(1)/CAR(1) fits: implied correlation and empirical ACF.

- :func:`residual_correlation`: the correlation the fitted residual process implies
  between two residuals of one series, ``phi ** k`` at lags ``k = 1..5`` observations
  (AR(1)), or ``phi ** gap`` at chosen time gaps (CAR(1); by default 1 to 5 times the
  median gap between consecutive observations), summarised over the posterior draws.
- :func:`residual_acf`: the empirical autocorrelation, at lags of 1..max_lag
  observations within series, of the residuals ``y - eta`` at the posterior mean
  ("without the AR term") and of the prewhitened innovations
  ``(e_t - phi_t e_{t-1}) / sqrt(1 - phi_t^2)`` ("with the AR term"); a good AR fit
  leaves innovations with an ACF near 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hierlmm.inference.joint import joint_posterior
from hierlmm.inference.loglik import linear_predictor
from hierlmm.inference.summary import draw_stats
from hierlmm.model import names
from hierlmm.residuals import get_residual, series_inputs


def _phi_draws(fit) -> np.ndarray:
    return np.asarray(fit.posterior[names.PHI].transpose("chain", "draw").values, float)


def default_lags(fit) -> np.ndarray:
    """Lags 1..5 (AR(1)), or 1..5 times the median gap in time units (CAR(1)), (5,)."""
    residual = fit.design.residual
    if residual.kind == "ar1":
        return np.arange(1.0, 6.0)
    gaps = residual.gaps
    step = float(np.nanmedian(gaps)) if np.isfinite(gaps).any() else 1.0
    return np.array([float(f"{step * k:.3g}") for k in range(1, 6)])


def residual_correlation(
    fit, lags: Sequence[float] | None = None, prob: float = 0.9
) -> pd.DataFrame:
    """Posterior of the implied residual correlation at ``lags``.

    Parameters
    ----------
    fit : Fit
        With an AR(1)/CAR(1) residual.
    lags : sequence of float, optional
        Observations apart (AR(1)) or time apart (CAR(1)); :func:`default_lags` if omitted.
    prob : float

    Returns
    -------
    pandas.DataFrame
        Index ``lag``; columns of :func:`hierlmm.inference.summary.draw_stats` (mean,
        median, sd, interval, rhat, ess_bulk). Empty for iid residuals.
    """
    structure = get_residual(fit.design.residual.kind)
    if structure is None:
        return pd.DataFrame(index=pd.Index([], name="lag"))
    lags = default_lags(fit) if lags is None else np.asarray(lags, dtype=np.float64)
    corr = structure.correlation(_phi_draws(fit), lags)  # (chain, draw, k)
    rows = [{"lag": float(lag), **draw_stats(corr[..., k], prob)} for k, lag in enumerate(lags)]
    return pd.DataFrame(rows).set_index("lag")


def _acf(values: np.ndarray, series_sorted: np.ndarray, max_lag: int) -> np.ndarray:
    """Within-series autocorrelation at lags 1..max_lag of rows sorted by series/time."""
    centred = values - values.mean()
    denom = float(centred @ centred)
    out = np.full(max_lag, np.nan)
    for k in range(1, max_lag + 1):
        same = series_sorted[k:] == series_sorted[:-k]
        if same.any() and denom > 0:
            out[k - 1] = float(centred[k:][same] @ centred[:-k][same]) / denom * (
                values.size / same.sum()
            )
    return out


def residual_acf(fit, max_lag: int = 5) -> pd.DataFrame:
    """Empirical ACF of within-series residuals without and with the AR term.

    Returns
    -------
    pandas.DataFrame
        Index ``lag`` (1..max_lag observations apart); columns ``without_ar`` (residuals
        ``y - eta``) and ``with_ar`` (innovations). Empty for iid residuals.
    """
    residual = fit.design.residual
    structure = get_residual(residual.kind)
    if structure is None:
        return pd.DataFrame(index=pd.Index([], name="lag"))
    posterior = joint_posterior(fit.idata)
    eta = linear_predictor(posterior, fit.design).mean(axis=(0, 1))  # (n,)
    phi = float(posterior[names.PHI].mean())
    inputs = series_inputs(residual)
    phi_t = structure.row_phi_numpy(np.float64(phi), inputs[names.DATA_LAG],
                                    inputs[names.DATA_HAS_PREVIOUS])
    e = fit.design.y - eta
    innovation = (e - phi_t * e[inputs[names.DATA_PREVIOUS]]) / np.sqrt(1.0 - phi_t**2)
    order = residual.order
    series = residual.series[order]
    return pd.DataFrame(
        {"without_ar": _acf(e[order], series, max_lag),
         "with_ar": _acf(innovation[order], series, max_lag)},
        index=pd.Index(np.arange(1, max_lag + 1), name="lag"),
    )
