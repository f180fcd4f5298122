"""Posterior densities of random-effect correlations, titled with their plain reading."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hierlmm.plots._common import (
    ACCENT,
    interval_columns,
    message_figure,
    new_figure,
    require_columns,
    wrap,
)
from hierlmm.plots.labels import parameter_label


def plot_correlations(table: pd.DataFrame, densities: pd.DataFrame) -> Figure:
    """One panel per correlated pair: density, shaded interval, zero line, reading.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`hierlmm.report.correlation.random_correlations`.
    densities : pandas.DataFrame
        From :func:`hierlmm.report.correlation.correlation_densities`.

    Returns
    -------
    matplotlib.figure.Figure
        ``len(table)`` panels, each with two lines (density, 0) and one shaded band; a
        one-panel message figure when the model has no correlated random effects.
    """
    require_columns(table, ("parameter", "reading", "corr_mean"),
                    "hierlmm.report.correlation.random_correlations")
    require_columns(densities, ("parameter", "x", "density"),
                    "hierlmm.report.correlation.correlation_densities")
    if table.empty:
        return message_figure("No correlated random effects in this model.")
    lo_col, hi_col = interval_columns(table, "corr_")
    fig, axes = new_figure(len(table), ncols=2, panel_size=(4.8, 3.2))
    for ax, (_, row) in zip(axes, table.iterrows(), strict=True):
        curve = densities[densities["parameter"] == row["parameter"]]
        x, y = curve["x"].to_numpy(float), curve["density"].to_numpy(float)
        ax.plot(x, y, color=ACCENT, linewidth=1.8)
        inside = (x >= row[lo_col]) & (x <= row[hi_col])
        ax.fill_between(x, 0, y, where=inside, color=ACCENT, alpha=0.25, linewidth=0)
        ax.axvline(0.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_xlim(-1, 1)
        ax.set_ylim(bottom=0, top=max(float(np.nanmax(y)) * 1.1, 1e-9) if y.size else 1)
        ax.set_xlabel(f"correlation ({row['parameter']})")
        ax.set_ylabel("posterior density")
        ax.set_title(wrap(parameter_label(str(row["parameter"])), 55))
    return fig
