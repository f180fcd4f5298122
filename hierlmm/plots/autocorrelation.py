"""Empirical autocorrelation of within-series residuals, without and with the AR term."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hierlmm.plots._common import ACCENT, message_figure, new_figure, require_columns


def plot_residual_acf(table: pd.DataFrame, n_obs: int | None = None) -> Figure:
    """Bars of the residual ACF by lag: ``y - eta`` (grey) and AR innovations (accent).

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`hierlmm.report.autocorrelation.residual_acf` (index ``lag``; columns
        ``without_ar``, ``with_ar``).
    n_obs : int, optional
        Number of observations; draws the approximate 95% band ``+-1.96 / sqrt(n)`` of
        an uncorrelated series.

    Returns
    -------
    matplotlib.figure.Figure
        One panel with two bars per lag; a message figure for an empty table.
    """
    require_columns(table, ("without_ar", "with_ar"),
                    "hierlmm.report.autocorrelation.residual_acf")
    if table.empty:
        return message_figure("Independent residuals: no autocorrelation term in this model.")
    fig, (ax,) = new_figure(1, panel_size=(5.5, 3.2))
    lags = np.asarray(table.index, dtype=float)
    ax.bar(lags - 0.18, table["without_ar"], width=0.36, color="#aab7b8",
           label="residuals y - fitted (without the AR term)")
    ax.bar(lags + 0.18, table["with_ar"], width=0.36, color=ACCENT,
           label="innovations (with the AR term)")
    ax.axhline(0.0, color="black", linewidth=0.8)
    if n_obs:
        band = 1.96 / np.sqrt(n_obs)
        ax.axhspan(-band, band, color="black", alpha=0.08, linewidth=0)
    ax.set_xticks(lags)
    ax.set_xlabel("lag (observations apart within a series)")
    ax.set_ylabel("autocorrelation")
    ax.set_title("Within-series residual autocorrelation by lag")
    ax.legend(loc="upper right", fontsize=8)
    return fig
