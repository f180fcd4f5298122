"""Stacked variance over a random-slope covariate, and the conditional ICC curve."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hierlmm.plots._common import (
    ACCENT,
    COMPONENT_COLORS,
    interval_columns,
    new_figure,
    outside_legend,
    require_columns,
)
from hierlmm.plots.labels import Units, squared_unit, with_unit

# drawn bottom-up; the covariance term goes last because it can be negative
STACK_ORDER = ("residual", "other", "intercept", "slope", "covariance")


def plot_variance_curve(
    table: pd.DataFrame, response: str = "the response", units: Units | None = None
) -> Figure:
    """Stacked areas of the component means of Var(y | t), with the total's interval.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`hierlmm.report.variance_curve.variance_over_covariate`.
    response : str
        Name of the response, for the y axis and the title.
    units : mapping of str to str, optional
        Units of data columns (``Fit.units``): the response's (squared) on the y axis,
        the covariate's on the x axis.

    Returns
    -------
    matplotlib.figure.Figure
        One panel: one filled band per component whose mean is not identically 0 (a
        negative covariance is drawn hatched, downwards from the stack), a grey band
        for the total's interval and a line for its mean.
    """
    require_columns(table, ("t", "total_mean", *STACK_ORDER),
                    "hierlmm.report.variance_curve.variance_over_covariate")
    lo, hi = interval_columns(table, "total_")
    t = table["t"].to_numpy(float)
    fig, (ax,) = new_figure(1, panel_size=(6.0, 4.0))
    ax.fill_between(t, table[lo], table[hi], color="black", alpha=0.08, linewidth=0,
                    label="total, interval")
    base = np.zeros_like(t)
    for name in STACK_ORDER:
        values = table[name].to_numpy(float)
        if np.allclose(values, 0.0):
            continue
        negative = name == "covariance" and values.min() < 0
        ax.fill_between(t, base, base + values, color=COMPONENT_COLORS[name],
                        alpha=0.5 if negative else 0.85, hatch="//" if negative else None,
                        linewidth=0, label=name)
        base = base + values
    ax.plot(t, table["total_mean"], color="black", linewidth=1.5, label="total (mean)")
    term = table["term"].iloc[0] if "term" in table and len(table) else "t"
    factor = table["factor"].iloc[0] if "factor" in table and len(table) else ""
    units = units or {}
    ax.set_xlabel(with_unit(str(term), units.get(str(term))))
    ax.set_ylabel(with_unit(f"variance of {response}", squared_unit(units.get(response))))
    ax.set_title(f"Variance of {response} over {term} ({factor})")
    outside_legend(ax)
    return fig


def plot_icc_curve(table: pd.DataFrame, units: Units | None = None) -> Figure:
    """Conditional ICC over the covariate: posterior mean line and interval band.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`hierlmm.report.variance_curve.icc_curve`.
    units : mapping of str to str, optional
        Units of data columns: the covariate's goes on the x axis.

    Returns
    -------
    matplotlib.figure.Figure
        One panel with one line and one band.
    """
    require_columns(table, ("t", "mean"), "hierlmm.report.variance_curve.icc_curve")
    lo, hi = interval_columns(table)
    fig, (ax,) = new_figure(1, panel_size=(5.0, 3.5))
    ax.fill_between(table["t"], table[lo], table[hi], color=ACCENT, alpha=0.2, linewidth=0)
    ax.plot(table["t"], table["mean"], color=ACCENT, linewidth=1.8)
    term = table["term"].iloc[0] if "term" in table and len(table) else "t"
    ax.set_xlabel(with_unit(str(term), (units or {}).get(str(term))))
    ax.set_ylabel("conditional ICC")
    ax.set_ylim(0, 1)
    ax.set_title(f"ICC over {term}")
    return fig
