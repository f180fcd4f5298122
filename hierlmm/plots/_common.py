"""Shared figure helpers for every plot module: creation, style, checks, forest rows.

Figures are built with :class:`matplotlib.figure.Figure` and an Agg canvas, never through
``pyplot``: no global figure registry, no GUI backend, nothing to close, safe in tests
and servers. Plot functions take report tables (pandas DataFrames), never a model.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from hierlmm.errors import SpecError

BACKGROUND = "white"
PANEL_SIZE = (4.2, 3.0)  # inches per panel
METHOD_COLORS = {"hierlmm": "#1f4e79", "reml": "#c0392b", "ml": "#e67e22", "ols": "#7f7f7f"}
COMPONENT_COLORS = {
    "residual": "#bdc3c7",
    "other": "#95a5a6",
    "intercept": "#2e86c1",
    "slope": "#28b463",
    "covariance": "#af7ac5",
}
ACCENT = "#1f4e79"
STYLE = {
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "font.size": 9,
    "axes.titlesize": 9,
}


def new_figure(
    n_panels: int = 1, *, ncols: int = 3, panel_size: tuple[float, float] = PANEL_SIZE
) -> tuple[Figure, list[Axes]]:
    """A figure with ``n_panels`` axes on a grid of at most ``ncols`` columns.

    Parameters
    ----------
    n_panels : int
        Number of axes wanted (>= 1); unused grid cells are removed.
    ncols : int
        Maximum columns.
    panel_size : (float, float)
        Width and height of one panel in inches.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Constrained layout, white background, Agg canvas attached.
    axes : list of Axes, length n_panels
        Row-major.
    """
    n_panels = max(int(n_panels), 1)
    ncols = min(max(int(ncols), 1), n_panels)
    nrows = -(-n_panels // ncols)
    size = (panel_size[0] * ncols, panel_size[1] * nrows)
    with _style():
        fig = Figure(figsize=size, layout="constrained", facecolor=BACKGROUND)
        FigureCanvasAgg(fig)
        grid = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in grid[n_panels:]:
        fig.delaxes(ax)
    return fig, list(grid[:n_panels])


def _style():
    import matplotlib as mpl

    return mpl.rc_context(STYLE)


def figure_is_blank(fig: Figure, min_fraction: float = 0.0) -> bool:
    """Whether a rendered figure shows (almost) nothing but its background.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    min_fraction : float
        The figure counts as blank when at most this fraction of pixels differs from the
        background colour (by more than 2 of 255 in some RGBA channel).

    Returns
    -------
    bool
    """
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba(), dtype=np.int16)  # (h, w, 4)
    background = np.round(np.array(to_rgba(fig.get_facecolor())) * 255).astype(np.int16)
    differs = np.abs(pixels - background).max(axis=-1) > 2  # (h, w)
    return bool(differs.mean() <= min_fraction)


def require_columns(table: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    """Raise :class:`SpecError` naming the missing columns and the report that makes them."""
    if not isinstance(table, pd.DataFrame):
        raise SpecError(f"expected a pandas DataFrame from {source}, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise SpecError(
            f"table lacks column(s) {missing}; pass the DataFrame returned by {source}"
        )


def interval_columns(table: pd.DataFrame, prefix: str = "") -> tuple[str, str]:
    """Names of the lower and upper interval columns, e.g. ``("q05", "q95")``.

    Parameters
    ----------
    table : pandas.DataFrame
    prefix : str
        Column prefix, e.g. ``"total_"`` or ``"reml_"``.
    """
    pattern = re.compile(rf"^{re.escape(prefix)}q(\d+(?:\.\d+)?)$")
    found = sorted((float(m.group(1)), c) for c in table.columns if (m := pattern.match(str(c))))
    if len(found) != 2:
        raise SpecError(
            f"expected two interval columns named {prefix}qNN, found {[c for _, c in found]}"
        )
    return found[0][1], found[1][1]


def wrap(text: str, width: int = 60) -> str:
    """Wrap a title or caption onto lines of at most ``width`` characters."""
    return textwrap.fill(str(text), width=width)


def forest(
    ax: Axes, labels: Sequence[str], centre, lo, hi, *, color: str = ACCENT,
    offset: float = 0.0, label: str | None = None, marker: str = "o",
) -> None:
    """Horizontal point-and-interval rows, first label at the top.

    Parameters
    ----------
    ax : Axes
    labels : sequence of str, length k
    centre, lo, hi : array_like, shape (k,)
        Point estimate and interval bounds; NaN bounds draw the point alone. A bound on
        the wrong side of the point (rounding, for a constant quantity) is drawn at it.
    color, marker : str
    offset : float
        Vertical shift of this series (to dodge several methods on one row).
    label : str, optional
        Legend label of the series.
    """
    centre, lo, hi = (np.asarray(v, dtype=float) for v in (centre, lo, hi))
    y = np.arange(len(labels))[::-1] + offset
    err = np.vstack([centre - lo, hi - centre])
    # a constant quantity (the latent residual variance pi^2/3 of a logit model) has a mean
    # that differs from its quantiles in the last bit: never a negative bar length
    err = np.clip(np.where(np.isfinite(err), err, 0.0), 0.0, None)
    ax.errorbar(centre, y, xerr=err, fmt=marker, color=color, ecolor=color, capsize=2,
                markersize=5, linewidth=1.5, label=label)
    ax.set_yticks(np.arange(len(labels))[::-1], labels=list(labels))
    ax.set_ylim(-0.6, len(labels) - 0.4)


def outside_legend(ax: Axes, **kwargs) -> None:
    """The axes' legend to the right of the data, outside the plotting area.

    Constrained layout makes room for it, so it never hides points or bands.
    """
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
              frameon=False, fontsize="small", **kwargs)


def message_figure(text: str) -> Figure:
    """A one-panel figure that states why there is nothing to plot."""
    fig, (ax,) = new_figure(1)
    ax.text(0.5, 0.5, wrap(text, 45), ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    return fig
