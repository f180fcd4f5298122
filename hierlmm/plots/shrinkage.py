"""Shrinkage figures from :func:`hierlmm.report.shrinkage.shrinkage` tables.

- :func:`plot_shrinkage`: one arrow per group (a plain segment when there are more than
  :data:`MAX_ARROWS`) from its no-pooling to its partial-pooling
  estimate, against the group size, with the population value as a horizontal line;
- :func:`plot_shrinkage_2d`: for two effects (intercept and slope), no-pooling and
  partial-pooling points joined by arrows, over the population ellipse.

Figures are built by :func:`hierlmm.plots._common.new_figure` (no pyplot state).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Ellipse, FancyArrowPatch
from matplotlib.ticker import MaxNLocator
from scipy.stats import chi2

from hierlmm.errors import SpecError
from hierlmm.plots._common import new_figure, outside_legend, require_columns
from hierlmm.plots.labels import Units, effect_label, effect_unit, with_unit
from hierlmm.report.shrinkage import PopulationDistribution

NO_POOL_STYLE = {"facecolors": "none", "edgecolors": "C0", "s": 28, "label": "no pooling"}
PARTIAL_STYLE = {"color": "C1", "s": 22, "label": "partial pooling", "zorder": 3}
ARROW_STYLE = {"arrowstyle": "-|>", "mutation_scale": 8, "color": "0.45", "lw": 0.8}
#: Above this many groups the moves are drawn as one LineCollection of plain segments
#: (hollow no-pooling to filled partial-pooling marker shows the direction): one arrow
#: patch per group cost 3.6 s of a report on 500 groups (1,500 patches in all)
MAX_ARROWS = 200
SEGMENT_STYLE = {"colors": "0.45", "linewidths": 0.6}


def _add_moves(ax: Axes, starts: np.ndarray, ends: np.ndarray) -> None:
    """From ``starts`` to ``ends`` (G, 2): one arrow patch each, or for more than
    :data:`MAX_ARROWS` one :class:`~matplotlib.collections.LineCollection`."""
    if len(starts) > MAX_ARROWS:
        ax.add_collection(LineCollection(np.stack([starts, ends], axis=1), **SEGMENT_STYLE))
        return
    for start, end in zip(starts, ends, strict=True):
        ax.add_patch(FancyArrowPatch(tuple(start), tuple(end), **ARROW_STYLE))


def _figure_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, (ax,) = new_figure(1, panel_size=figsize)
    return fig, ax


SOURCE = "hierlmm.report.shrinkage.shrinkage()"
COLUMNS = ("factor", "level", "term", "n", "no_pool", "partial", "population")


def _term_rows(table: pd.DataFrame, term: str | None) -> pd.DataFrame:
    require_columns(table, COLUMNS, SOURCE)
    terms = list(dict.fromkeys(table["term"]))
    term = terms[0] if term is None else term
    if term not in terms:
        raise SpecError(f"term {term!r} is not in the shrinkage table; terms: {terms}")
    return table[table["term"] == term].reset_index(drop=True)


def spread_ties(n: np.ndarray, width: float = 0.6) -> np.ndarray:
    """Spread equal group sizes evenly over ``width`` times the smallest gap, shape (L,)."""
    n = np.asarray(n, dtype=np.float64)
    unique = np.unique(n)
    gap = float(np.diff(unique).min()) if unique.size > 1 else 1.0
    x = n.copy()
    for value in unique:
        idx = np.flatnonzero(n == value)
        if idx.size > 1:
            x[idx] = value + np.linspace(-0.5, 0.5, idx.size) * width * gap
    return x


def plot_shrinkage(
    table: pd.DataFrame, term: str | None = None, ax: Axes | None = None, *,
    response: str | None = None, units: Units | None = None,
) -> Figure:
    """Arrows from no-pooling to partial-pooling estimates, against group size.

    When every group has the same number of observations the x axis would carry no
    information, so the groups are laid out in the order of their partial-pooling
    estimates instead (a caterpillar plot).

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`hierlmm.report.shrinkage.shrinkage`.
    term : str, optional
        Effect to show; the table's first term when omitted.
    ax : matplotlib Axes, optional
    response, units : str and mapping of str to str, optional
        The response's name and the units of data columns (``Fit.units``): the y axis
        gets the effect's unit (``"ms"`` for intercepts, ``"ms/days"`` for slopes).

    Returns
    -------
    matplotlib.figure.Figure
        One arrow patch per group with an estimable no-pooling value (above
        :data:`MAX_ARROWS` such groups, one LineCollection of their segments), two
        scatter collections (no pooling, partial pooling) and one horizontal population
        line.
    """
    rows = _term_rows(table, term)
    fig, ax = _figure_axes(ax, (6.5, 4.0))
    n = rows["n"].to_numpy()
    by_size = np.unique(n).size > 1
    x = spread_ties(n) if by_size else np.argsort(np.argsort(rows["partial"].to_numpy(),
                                                             kind="stable"))
    no_pool = rows["no_pool"].to_numpy(dtype=np.float64)
    partial = rows["partial"].to_numpy(dtype=np.float64)
    ok = np.isfinite(no_pool)
    _add_moves(ax, np.column_stack([x[ok], no_pool[ok]]), np.column_stack([x[ok], partial[ok]]))
    ax.scatter(x[ok], no_pool[ok], **NO_POOL_STYLE)
    ax.scatter(x, partial, **PARTIAL_STYLE)
    ax.axhline(float(rows["population"].iloc[0]), color="k", ls="--", lw=1, label="population")
    term, factor = str(rows["term"].iloc[0]), str(rows["factor"].iloc[0])
    if not by_size:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # ranks, not 2.5
    ax.set_xlabel("observations in group (n_j)" if by_size
                  else f"{factor} (sorted by partial-pooling estimate; {int(n[0])} "
                  "observations each)")
    unit = effect_unit(term, response, units) if response else None
    ax.set_ylabel(with_unit(effect_label(term, factor), unit))
    ax.set_title(f"Shrinkage of {effect_label(term, factor)}")
    outside_legend(ax)
    return fig


def ellipse_patch(mean: np.ndarray, cov: np.ndarray, prob: float, **style) -> Ellipse:
    """The central ``prob`` region of ``N(mean, cov)`` in 2-D as an Ellipse patch.

    Parameters
    ----------
    mean : ndarray, shape (2,)
    cov : ndarray, shape (2, 2)
    prob : float
    """
    eigval, eigvec = np.linalg.eigh(cov)  # ascending
    radius = np.sqrt(chi2.ppf(prob, df=2) * np.clip(eigval, 0.0, None))
    angle = float(np.degrees(np.arctan2(eigvec[1, 1], eigvec[0, 1])))
    return Ellipse(tuple(mean), 2 * radius[1], 2 * radius[0], angle=angle, **style)


def _wide(table: pd.DataFrame, terms: tuple[str, str], column: str) -> np.ndarray:
    """(L, 2) values of ``column`` for the two terms, levels in table order."""
    wide = table.pivot(index="level", columns="term", values=column)
    levels = list(dict.fromkeys(table["level"]))
    return wide.loc[levels, list(terms)].to_numpy(dtype=np.float64)


def plot_shrinkage_2d(
    table: pd.DataFrame,
    population: PopulationDistribution,
    prob: float = 0.9,
    terms: tuple[str, str] | None = None,
    ax: Axes | None = None,
    *,
    response: str | None = None,
    units: Units | None = None,
) -> Figure:
    """Intercept/slope plane: no-pooling and partial-pooling points, arrows, population ellipse.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`hierlmm.report.shrinkage.shrinkage` for a factor with >= 2 terms.
    population : PopulationDistribution
        From :func:`hierlmm.report.shrinkage.population_distribution` (same factor).
    prob : float
        Mass of the population ellipse.
    terms : pair of str, optional
        Effects on the x and y axes; the first two when omitted.
    ax : matplotlib Axes, optional
    response, units : str and mapping of str to str, optional
        The response's name and the units of data columns: each axis gets its effect's
        unit.

    Returns
    -------
    matplotlib.figure.Figure
        One arrow patch per group with estimable no-pooling values (above
        :data:`MAX_ARROWS` such groups, one LineCollection of their segments) plus one
        ellipse patch.
    """
    require_columns(table, COLUMNS, SOURCE)
    available = tuple(dict.fromkeys(table["term"]))
    terms = available[:2] if terms is None else tuple(terms)
    if len(terms) != 2 or not set(terms) <= set(available):
        raise SpecError(
            f"plot_shrinkage_2d needs two of the table's terms {available}, got {terms}"
        )
    idx = [population.terms.index(t) for t in terms]
    no_pool, partial = _wide(table, terms, "no_pool"), _wide(table, terms, "partial")
    fig, ax = _figure_axes(ax, (5.5, 5.0))
    ax.add_patch(ellipse_patch(
        population.mean[idx], population.cov[np.ix_(idx, idx)], prob,
        facecolor="C2", alpha=0.15, edgecolor="C2", label=f"population {prob:.0%}",
    ))
    ok = np.all(np.isfinite(no_pool), axis=1)
    _add_moves(ax, no_pool[ok], partial[ok])
    ax.scatter(no_pool[ok, 0], no_pool[ok, 1], **NO_POOL_STYLE)
    ax.scatter(partial[:, 0], partial[:, 1], **PARTIAL_STYLE)
    ax.plot(*population.mean[idx], marker="X", color="k", ls="none", label="population mean")
    ax.autoscale_view()
    for term, set_label in zip(terms, (ax.set_xlabel, ax.set_ylabel), strict=True):
        unit = effect_unit(term, response, units) if response else None
        set_label(with_unit(effect_label(term, population.factor), unit))
    ax.set_title(f"Shrinkage of {population.factor} effects", fontsize="medium")
    outside_legend(ax)
    return fig
