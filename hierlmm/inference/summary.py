"""The tidy parameter summary behind ``Fit.summary()`` and ``summary.json``."""

from __future__ import annotations

import numpy as np
import pandas as pd
from arviz_stats.base import array_stats

from hierlmm.families import get_family
from hierlmm.inference.draws import ScalarDraws, scalar_draws
from hierlmm.inference.summary_text import TEXT_COLUMNS, format_summary, summary_html

STAT_COLUMNS = ("mean", "median", "sd", "q05", "q95", "rhat", "ess_bulk")


def _percent_label(percent: float) -> str:
    """``"q05"``, ``"q95"``, ``"q2.5"``, ``"q97.5"``, ``"q0.5"``: whole percents padded."""
    percent = round(percent, 6)
    return f"q{percent:02.0f}" if percent == int(percent) else f"q{percent:g}"


def quantile_labels(prob: float) -> tuple[str, str]:
    """Column names of the central interval's bounds.

    Examples
    --------
    >>> quantile_labels(0.9), quantile_labels(0.95), quantile_labels(0.5)
    (('q05', 'q95'), ('q2.5', 'q97.5'), ('q25', 'q75'))
    """
    lo = (1 - prob) / 2 * 100
    return _percent_label(lo), _percent_label(100 - lo)


class Summary(pd.DataFrame):
    """The summary table: a :class:`pandas.DataFrame` that prints as rounded text.

    ``print(fit.summary())`` and its ``repr`` give :func:`format_summary`'s aligned table
    (80 columns wide for a model with correlated slopes); indexing, ``.loc`` and every
    other DataFrame operation work as usual. The interval's mass is kept in
    ``attrs["prob"]``; tables without the columns the text needs print as DataFrames.
    """

    @property
    def _constructor(self):
        return Summary

    def _interval(self) -> tuple[float, str, str] | None:
        """``(prob, lo, hi)`` when the table has every column the rounded views need."""
        prob = self.attrs.get("prob")
        if prob is None:
            return None
        lo, hi = quantile_labels(prob)
        return (prob, lo, hi) if set(TEXT_COLUMNS) | {lo, hi} <= set(self.columns) else None

    def to_text(self) -> str:
        """The rounded, aligned text; the plain DataFrame text when columns are missing."""
        interval = self._interval()
        return pd.DataFrame.__repr__(self) if interval is None else format_summary(
            self, *interval)

    def to_rounded_html(self) -> str:
        """The rounded table as HTML; the DataFrame's own HTML when columns are missing."""
        interval = self._interval()
        return self.to_html() if interval is None else summary_html(
            self, *interval)

    def _repr_html_(self) -> str:
        return self.to_rounded_html()

    def __repr__(self) -> str:
        return self.to_text()

    def __str__(self) -> str:
        return self.to_text()


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


def summary_table(fit, prob: float = 0.9) -> Summary:
    """Fixed effects, random-effect SDs and correlations and the residual SD.

    Returns
    -------
    Summary
        A DataFrame with index ``parameter``; columns ``kind, factor, term, mean,
        median, sd, q05, q95, rhat, ess_bulk`` (interval columns named after ``prob``:
        ``q2.5, q97.5`` for 0.95). It prints as a rounded table.

    Examples
    --------
    >>> table = summary_table(fit, prob=0.95)
    >>> table.columns[6:8].tolist()
    ['q2.5', 'q97.5']
    """
    parameters = get_family(fit.spec.family, fit.spec.link).parameters
    rows = [_row(item, prob) for item in scalar_draws(fit.posterior, fit.design, parameters)]
    table = pd.DataFrame(rows).set_index("parameter")
    for column in ("factor", "term"):
        table[column] = table[column].astype(object).where(table[column].notna(), None)
    table = Summary(table)
    table.attrs["prob"] = prob
    return table
