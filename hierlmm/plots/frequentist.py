"""Coefficient plot: hierlmm posterior next to statsmodels REML, ML and naive OLS."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hierlmm.plots._common import (
    METHOD_COLORS,
    interval_columns,
    new_figure,
    require_columns,
    wrap,
)
from hierlmm.plots.labels import parameter_label

METHODS = (("hierlmm", "hierlmm_mean", "hierlmm"), ("reml", "reml", "REML"),
           ("ml", "ml", "ML"), ("ols", "ols", "OLS"))


def plot_frequentist(table: pd.DataFrame) -> Figure:
    """One panel per parameter, one row per method with its interval.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`hierlmm.report.frequentist.frequentist_comparison`.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(table)`` panels; in each, one error-bar series per method with a finite
        estimate (the posterior interval for hierlmm, Wald intervals for fixed effects of
        the others, points for their variance parameters). The table's note, if any,
        becomes the figure's title.
    """
    require_columns(table, ("parameter", *(c for _, c, _ in METHODS)),
                    "hierlmm.report.frequentist.frequentist_comparison")
    fig, axes = new_figure(len(table), ncols=3, panel_size=(3.6, 2.4))
    labels = [label for _, _, label in METHODS]
    for ax, (_, row) in zip(axes, table.iterrows(), strict=True):
        for k, (key, column, label) in enumerate(METHODS):
            est = float(row[column])
            if not np.isfinite(est):
                continue
            lo_col, hi_col = interval_columns(table, f"{key}_")
            lo, hi = float(row[lo_col]), float(row[hi_col])
            err = [[est - lo], [hi - est]] if np.isfinite(lo) and np.isfinite(hi) else None
            y = len(METHODS) - 1 - k
            ax.errorbar([est], [y], xerr=err, fmt="o", color=METHOD_COLORS[key], capsize=2,
                        markersize=5, label=label)
        ax.set_yticks(np.arange(len(METHODS))[::-1], labels=labels)
        ax.set_ylim(-0.6, len(METHODS) - 0.4)
        ax.set_title(parameter_label(str(row["parameter"])))
    fig.supxlabel("estimate and interval (posterior for hierlmm, Wald for REML)",
                  fontsize="medium")
    fig.supylabel("method", fontsize="medium")
    notes = table["note"].dropna().unique() if "note" in table else []
    if len(notes):
        fig.suptitle(wrap(notes[0], 110), fontsize=8)
    return fig
