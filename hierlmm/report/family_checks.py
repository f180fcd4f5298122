"""Checks fitted to the response family: PPC statistics, calibration, rootogram.

- :func:`ppc_family_stats`: posterior predictive checks of the proportion of zeros and
  of the dispersion ``var(y) / mean(y)`` (counts), and of the proportion of successes
  (binary, binomial), with ``p_value = Pr(T(y_rep) >= T(y))``;
- :func:`calibration_table`: binary outcomes binned by predicted probability (posterior
  mean of ``h(eta_i)`` with the fitted effects): observed proportion per bin against the
  mean prediction, and a band (central interval of the bin's replicated proportion);
- :func:`rootogram_table`: counts ``k = 0..K``: observed frequency and the expected one
  (mean over posterior predictive data sets), with their square roots for a hanging
  rootogram (Kleiber & Zeileis 2016).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hierlmm.families import get_family
from hierlmm.report.checks import _draw_index, conditional_mean, posterior_predictive

if TYPE_CHECKING:
    from hierlmm.inference.result import Fit

COUNT_FAMILIES = ("poisson", "negbinomial")


def _row(stat: str, observed: float, rep: np.ndarray, prob: float) -> dict:
    tail = (1 - prob) / 2
    return {"stat": stat, "observed": observed, "rep_mean": float(rep.mean()),
            "lower": float(np.quantile(rep, tail)), "upper": float(np.quantile(rep, 1 - tail)),
            "p_value": float(np.mean(rep >= observed))}


def ppc_family_stats(fit: Fit, n_draws: int = 200, prob: float = 0.9,
                     seed: int | None = None) -> pd.DataFrame:
    """Family-specific PPC statistics (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        Columns ``stat, observed, rep_mean, lower, upper, p_value``.
    """
    y = fit.design.y
    rep = posterior_predictive(fit, n_draws=n_draws, seed=seed)  # (S, n)
    rows = []
    if fit.spec.family in COUNT_FAMILIES:
        rows.append(_row("proportion of zeros", float(np.mean(y == 0)),
                         (rep == 0).mean(axis=1), prob))
        with np.errstate(invalid="ignore", divide="ignore"):
            disp = rep.var(axis=1, ddof=1) / rep.mean(axis=1)
        rows.append(_row("dispersion var/mean", float(y.var(ddof=1) / y.mean()), disp, prob))
    elif fit.design.trials is not None:
        n = fit.design.trials
        rows.append(_row("proportion of successes", float(y.sum() / n.sum()),
                         rep.sum(axis=1) / n.sum(), prob))
        rows.append(_row("proportion of zeros", float(np.mean(y == 0)),
                         (rep == 0).mean(axis=1), prob))
    else:
        rows.append(_row("proportion of successes", float(y.mean()), rep.mean(axis=1), prob))
    return pd.DataFrame(rows)


def calibration_table(fit: Fit, n_bins: int = 10, n_draws: int = 200, prob: float = 0.9,
                      seed: int | None = None) -> pd.DataFrame:
    """Binned predicted probability against the observed proportion, with a band.

    Bins are quantiles of the predicted probability (equal counts).

    Returns
    -------
    pandas.DataFrame
        One row per bin: ``bin, n, predicted, observed, lower, upper``.
    """
    rng = np.random.default_rng(fit.seed if seed is None else seed)
    index = _draw_index(fit, n_draws, rng)
    family = get_family(fit.spec.family, fit.spec.link)
    mu = family.inverse_link(conditional_mean(fit, index))  # (S, n)
    predicted = mu.mean(axis=0)
    trials = np.ones(fit.design.n) if fit.design.trials is None else fit.design.trials
    rep = rng.binomial(trials.astype(np.int64), mu)  # (S, n)
    edges = np.unique(np.quantile(predicted, np.linspace(0, 1, n_bins + 1)))
    bins = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, len(edges) - 2)
    tail = (1 - prob) / 2
    rows = []
    for b in range(len(edges) - 1):
        mask = bins == b
        if not mask.any():
            continue
        total = trials[mask].sum()
        share = rep[:, mask].sum(axis=1) / total
        rows.append({"bin": b, "n": int(mask.sum()),
                     "predicted": float((predicted[mask] * trials[mask]).sum() / total),
                     "observed": float(fit.design.y[mask].sum() / total),
                     "lower": float(np.quantile(share, tail)),
                     "upper": float(np.quantile(share, 1 - tail))})
    return pd.DataFrame(rows)


def rootogram_table(fit: Fit, max_count: int | None = None, n_draws: int = 200,
                    seed: int | None = None) -> pd.DataFrame:
    """Observed and expected frequency of each count ``k = 0..max_count``.

    ``max_count`` defaults to the 99th percentile of the observed counts (at least 5).

    Returns
    -------
    pandas.DataFrame
        Columns ``count, observed, expected, sqrt_observed, sqrt_expected`` and
        ``hanging_bottom = sqrt_expected - sqrt_observed``.
    """
    y = fit.design.y.astype(np.int64)
    if max_count is None:
        max_count = max(5, int(np.quantile(y, 0.99)))
    rep = posterior_predictive(fit, n_draws=n_draws, seed=seed).astype(np.int64)  # (S, n)
    k = np.arange(max_count + 1)
    observed = np.bincount(np.minimum(y, max_count + 1), minlength=max_count + 2)[:-1]
    counts = np.stack([np.bincount(np.minimum(r, max_count + 1), minlength=max_count + 2)[:-1]
                       for r in rep])
    expected = counts.mean(axis=0)
    table = pd.DataFrame({"count": k, "observed": observed, "expected": expected})
    table["sqrt_observed"] = np.sqrt(table["observed"])
    table["sqrt_expected"] = np.sqrt(table["expected"])
    table["hanging_bottom"] = table["sqrt_expected"] - table["sqrt_observed"]
    return table

