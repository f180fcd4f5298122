"""Faceted trajectories from :func:`hierlmm.report.trajectories.trajectories` tables.

One panel per group: predictive band (light), credible band of the mean, posterior-mean
line, observed points, and the population-average line dashed.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from hierlmm.plots._common import message_figure, new_figure, require_columns
from hierlmm.plots.labels import Units, with_unit

SOURCE = "hierlmm.report.trajectories.trajectories()"
TABLE_COLUMNS = ("curve", "group", "covariate", "x", "mean", "lower", "upper", "pred_lower",
                 "pred_upper")


def _panel(ax, rows: pd.DataFrame, population: pd.DataFrame, points: pd.DataFrame | None):
    x = rows["x"].to_numpy()
    ax.fill_between(x, rows["pred_lower"], rows["pred_upper"], color="C0", alpha=0.12, lw=0,
                    label="predictive interval")
    ax.fill_between(x, rows["lower"], rows["upper"], color="C0", alpha=0.3, lw=0,
                    label="credible interval")
    ax.plot(x, rows["mean"], color="C0", lw=1.5, label="group mean")
    if not population.empty:
        ax.plot(population["x"], population["mean"], color="k", ls="--", lw=1,
                label="population")
    if points is not None and not points.empty:
        ax.scatter(points["x"], points["y"], color="k", s=10, zorder=3, label="observed")


def plot_trajectories(
    table: pd.DataFrame,
    points: pd.DataFrame | None = None,
    ncols: int = 4,
    panel_size: tuple[float, float] = (2.8, 2.2),
    response: str = "response",
    factor: str | None = None,
    units: Units | None = None,
) -> Figure:
    """One panel per group with bands, fitted line, observed points and population line.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`hierlmm.report.trajectories.trajectories`.
    points : pandas.DataFrame, optional
        Output of :func:`hierlmm.report.trajectories.observed_points`.
    ncols : int
        Panels per row.
    panel_size : pair of float
        Width and height of one panel in inches.
    response : str
        Name of the response: the figure's y label.
    factor : str, optional
        Name of the grouping factor: panel titles read ``"Subject 308"``.
    units : mapping of str to str, optional
        Units of data columns (``Fit.units``), added to the axis labels.

    Returns
    -------
    matplotlib.figure.Figure
        G axes (one per group, shared scales); each holds 2 bands, the group line, the
        dashed population line and, when ``points`` is given, one scatter of the group's
        observations.
    """
    require_columns(table, TABLE_COLUMNS, SOURCE)
    groups = list(dict.fromkeys(table.loc[table["curve"] == "group", "group"]))
    if not groups:
        return message_figure("no group curves in the table: pass groups= to trajectories()")
    population = table[table["curve"] == "population"]
    fig, axes = new_figure(len(groups), ncols=ncols, panel_size=panel_size)
    for ax, label in zip(axes, groups, strict=True):
        if ax is not axes[0]:
            ax.sharex(axes[0])
            ax.sharey(axes[0])
        rows = table[(table["curve"] == "group") & (table["group"] == label)]
        own = None if points is None else points[points["group"] == label]
        _panel(ax, rows, population, own)
        ax.set_title(f"{factor} {label}" if factor else str(label), fontsize="small")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=len(labels), frameon=False,
               fontsize="small")
    units = units or {}
    covariate = str(table["covariate"].iloc[0])
    fig.supxlabel(with_unit(covariate, units.get(covariate)), fontsize="medium")
    fig.supylabel(with_unit(response, units.get(response)), fontsize="medium")
    return fig

