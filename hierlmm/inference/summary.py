"""The tidy parameter summary behind ``Fit.summary()`` and ``summary.json``."""

from __future__ import annotations

import numpy as np
import pandas as pd
from arviz_stats.base import array_stats

from hierlmm.families import get_family
from hierlmm.inference.draws import ScalarDraws, scalar_draws

STAT_COLUMNS = ("mean", "median", "sd", "q05", "q95", "rhat", "ess_bulk")


def quantile_labels(prob: float) -> tuple[str, str]:
    """Column names of the central interval, ``("q05", "q95")`` for ``prob=0.9``."""
    lo = (1 - prob) / 2 * 100
    return f"q{lo:02.0f}" if lo >= 1 else f"q{lo:g}", f"q{100 - lo:02.0f}"


def draw_stats(values: np.ndarray, prob: float = 0.9) -> dict[str, float]:
    """Posterior summary of one scalar's draws.

    Parameters
    ----------
    values : ndarray, shape (chain, draw)
    prob : float
        Mass of the central (equal-tailed) interval.

    Infinite draws (e.g. a Student-t residual variance where ``nu <= 2``) give infinite
    or NaN statistics, silently; R-hat and ESS are NaN unless every draw is finite.
    """
    flat = values.reshape(-1)
    lo_name, hi_name = quantile_labels(prob)
    finite = bool(np.all(np.isfinite(values))) and np.ptp(flat) > 0
    nan = float("nan")
    with np.errstate(invalid="ignore", over="ignore"):  # infinite draws give inf / NaN
        lo, hi = np.quantile(flat, [(1 - prob) / 2, (1 + prob) / 2])
        location = {"mean": float(flat.mean()), "median": float(np.median(flat)),
                    "sd": float(flat.std(ddof=1)) if flat.size > 1 else nan}
    return {
        **location,
        lo_name: float(lo),
        hi_name: float(hi),
        "rhat": float(array_stats.rhat(values, chain_axis=0, draw_axis=1)) if finite else nan,
        "ess_bulk": float(array_stats.ess(values, chain_axis=0, draw_axis=1, method="bulk"))
        if finite
        else nan,
    }


def _row(item: ScalarDraws, prob: float) -> dict[str, object]:
    return {
        "parameter": item.parameter,
        "kind": item.kind,
        "factor": item.factor,
        "term": item.term,
        **draw_stats(item.values, prob),
    }


def summary_table(fit, prob: float = 0.9) -> pd.DataFrame:
    """Fixed effects, random-effect SDs and correlations and the residual SD.

    Returns
    -------
    pandas.DataFrame
        Index ``parameter``; columns ``kind, factor, term, mean, median, sd, q05, q95,
        rhat, ess_bulk`` (interval columns named after ``prob``).
    """
    parameters = get_family(fit.spec.family).parameters
    rows = [_row(item, prob) for item in scalar_draws(fit.posterior, fit.design, parameters)]
    table = pd.DataFrame(rows).set_index("parameter")
    for column in ("factor", "term"):
        table[column] = table[column].astype(object).where(table[column].notna(), None)
    return table
