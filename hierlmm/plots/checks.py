"""Predictive-check and model-comparison figures.

- :func:`plot_ppc_density`: densities of replicated (posterior or prior predictive) data
  sets overlaid on the observed density;
- :func:`plot_ppc_groups`: each group's observed mean/SD against its predictive interval
  (from :func:`hierlmm.report.checks.ppc_group_stats`);
- :func:`plot_compare`: LOO dot plot (from :func:`hierlmm.report.checks.compare`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hierlmm.errors import DataError
from hierlmm.plots._common import new_figure, outside_legend, require_columns
from hierlmm.plots.labels import Units, with_unit

GRID_POINTS = 256
MAX_TICK_LABELS = 40


def _figure_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, (ax,) = new_figure(1, panel_size=figsize)
    return fig, ax


def binned_kde(samples: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Gaussian KDE of each row on an even grid, by binning and convolution.

    O(n + g log g) per row, so it scales to large data sets. Bandwidth: Silverman's rule
    ``0.9 * min(sd, IQR / 1.34) * n^(-1/5)`` per row (at least one grid step).

    Parameters
    ----------
    samples : ndarray, shape (k, n)
    grid : ndarray, shape (g,)
        Evenly spaced evaluation points.

    Returns
    -------
    ndarray, shape (k, g)
        Densities integrating to about 1 over the grid (mass outside it is lost).
    """
    step = grid[1] - grid[0]
    edges = np.concatenate([grid - step / 2, [grid[-1] + step / 2]])
    out = np.empty((samples.shape[0], grid.size))
    for i, row in enumerate(samples):
        row = row[np.isfinite(row)]
        iqr = np.subtract(*np.quantile(row, [0.75, 0.25]))
        spread = min(row.std(), iqr / 1.34) or row.std() or step
        bw = max(0.9 * spread * row.size ** (-0.2), step)
        counts, _ = np.histogram(row, bins=edges)
        offsets = np.arange(-int(np.ceil(4 * bw / step)), int(np.ceil(4 * bw / step)) + 1)
        kernel = np.exp(-0.5 * (offsets * step / bw) ** 2)
        kernel /= kernel.sum()
        smooth = np.convolve(counts, kernel, mode="full")[offsets.size // 2:][:grid.size]
        out[i] = smooth / (row.size * step)
    return out


def plot_ppc_density(
    y: np.ndarray,
    y_rep: np.ndarray,
    n_lines: int = 50,
    ax: Axes | None = None,
    label: str = "posterior predictive",
    response: str = "response",
    units: Units | None = None,
) -> Figure:
    """Overlay densities of replicated data sets on the observed density.

    Parameters
    ----------
    y : ndarray, shape (n,)
        Observed response (e.g. ``fit.design.y``).
    y_rep : ndarray, shape (S, n)
        From :func:`hierlmm.report.checks.posterior_predictive` or ``prior_predictive``.
    n_lines : int
        Replicates drawn (the first ``min(n_lines, S)`` rows).
    ax : matplotlib Axes, optional
    label : str
        Legend label of the replicates.
    response : str
        Name of the response, for the x axis and the title.
    units : mapping of str to str, optional
        Units of data columns (``Fit.units``); the response's goes on the x axis.

    Returns
    -------
    matplotlib.figure.Figure
        ``min(n_lines, S)`` thin lines and one thick observed line.
    """
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    y_rep = np.asarray(y_rep, dtype=np.float64)
    if y_rep.ndim != 2 or y_rep.shape[1] != y.size:
        raise DataError(f"y_rep must have shape (draws, {y.size}), got {y_rep.shape}")
    shown = y_rep[: max(1, int(n_lines))]
    lo, hi = np.quantile(np.concatenate([y, shown.reshape(-1)]), [0.001, 0.999])
    pad = 0.05 * (hi - lo) if hi > lo else 1.0
    grid = np.linspace(lo - pad, hi + pad, GRID_POINTS)
    fig, ax = _figure_axes(ax, (6.0, 3.8))
    dens = binned_kde(shown, grid)  # (k, g)
    for k, row in enumerate(dens):
        ax.plot(grid, row, color="C0", alpha=0.2, lw=0.7, label=label if k == 0 else None)
    ax.plot(grid, binned_kde(y[None, :], grid)[0], color="k", lw=2, label="observed")
    ax.set_xlabel(with_unit(response, (units or {}).get(response)))
    ax.set_ylabel("density")
    ax.set_title(f"Distribution of {response}: observed and replicated")
    outside_legend(ax)
    return fig


def plot_ppc_groups(
    table: pd.DataFrame, ax: Axes | None = None, *, response: str | None = None,
    units: Units | None = None,
) -> Figure:
    """Each group's observed statistic against its posterior predictive interval.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`hierlmm.report.checks.ppc_group_stats`.
    ax : matplotlib Axes, optional
    response : str, optional
        Name of the response: the y axis reads ``"Subject mean of Reaction"``.
    units : mapping of str to str, optional
        Units of data columns; the response's is added to the y axis.

    Returns
    -------
    matplotlib.figure.Figure
        Groups sorted by observed value; one collection of interval segments and one
        scatter of observed values (red outside the interval).
    """
    require_columns(table, ("factor", "level", "stat", "observed", "lower", "upper"),
                    "hierlmm.report.checks.ppc_group_stats()")
    rows = table[np.isfinite(table["observed"])].sort_values("observed", kind="stable")
    x = np.arange(rows.shape[0])
    observed = rows["observed"].to_numpy()
    outside = (observed < rows["lower"].to_numpy()) | (observed > rows["upper"].to_numpy())
    fig, ax = _figure_axes(ax, (max(5.0, min(14.0, 0.25 * x.size + 3)), 3.8))
    ax.vlines(x, rows["lower"], rows["upper"], color="C0", lw=2, alpha=0.6,
              label="predictive interval")
    ax.scatter(x, observed, c=np.where(outside, "C3", "k"), s=14, zorder=3, label="observed")
    stat = str(rows["stat"].iloc[0]) if not rows.empty else "statistic"
    factor = str(rows["factor"].iloc[0]) if not rows.empty else ""
    of_response = f" of {response}" if response else ""
    unit = (units or {}).get(response) if response else None
    ax.set_ylabel(with_unit(f"{factor} {stat}{of_response}", unit))
    ax.set_xlabel(f"{factor} (sorted by observed {stat})")
    ax.set_title(f"Observed {stat} of each {factor} and its predictive interval")
    if x.size <= MAX_TICK_LABELS:
        ax.set_xticks(x, [str(v) for v in rows["level"]], rotation=90, fontsize="x-small")
    else:
        ax.set_xticks([])
    outside_legend(ax)
    return fig


def plot_compare(table: pd.DataFrame, ax: Axes | None = None) -> Figure:
    """LOO dot plot: ELPD +- SE per model, and the difference from the best +- its SE.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`hierlmm.report.checks.compare` (best model first).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure
        One y tick per model (best on top), ELPD error bars, difference error bars for
        the other models and a dashed line at the best ELPD.
    """
    require_columns(table, ("rank", "elpd", "se", "elpd_diff", "dse"),
                    "hierlmm.report.checks.compare()")
    rows = table.sort_values("rank")
    y = np.arange(rows.shape[0])[::-1].astype(float)
    elpd = rows["elpd"].to_numpy(dtype=np.float64)
    fig, ax = _figure_axes(ax, (6.0, 1.0 + 0.6 * rows.shape[0]))
    ax.errorbar(elpd, y, xerr=rows["se"].to_numpy(dtype=np.float64), fmt="o", color="k",
                mfc="none", capsize=3, label="ELPD (LOO) +- SE")
    if rows.shape[0] > 1:
        diff = elpd[0] + rows["elpd_diff"].to_numpy(dtype=np.float64)[1:]
        ax.errorbar(diff, y[1:] - 0.2, xerr=rows["dse"].to_numpy(dtype=np.float64)[1:],
                    fmt="^", color="0.5", capsize=3, label="difference from best +- SE")
    ax.axvline(elpd[0], color="0.5", ls="--", lw=1)
    ax.set_yticks(y, [str(name) for name in rows.index])
    ax.set_ylim(y.min() - 0.6, y.max() + 0.6)
    ax.set_xlabel("ELPD (LOO), higher is better")
    ax.legend(frameon=False, fontsize="small")
    return fig
