"""Figures of shrinkage, trajectories, predictive checks and LOO comparison (Agg, no pyplot)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.patches import Ellipse, FancyArrowPatch
from numpy.testing import assert_allclose
from scipy.stats import chi2, norm

import hierlmm
from hierlmm.plots._common import figure_is_blank
from hierlmm.plots.checks import binned_kde, plot_compare, plot_ppc_density, plot_ppc_groups
from hierlmm.plots.shrinkage import (
    ellipse_patch,
    plot_shrinkage,
    plot_shrinkage_2d,
    spread_ties,
)
from hierlmm.plots.trajectories import plot_trajectories
from hierlmm.report.checks import compare, posterior_predictive, ppc_group_stats
from hierlmm.report.shrinkage import population_distribution, shrinkage
from hierlmm.report.trajectories import observed_points, trajectories


@pytest.fixture(scope="module")
def slopes_fit(sleep_fit) -> hierlmm.Fit:
    return sleep_fit


@pytest.fixture(scope="module")
def intercept_fit(sleep_intercept_fit) -> hierlmm.Fit:
    return sleep_intercept_fit


def _patches(ax, kind):
    return [p for p in ax.patches if isinstance(p, kind)]


def test_shrinkage_arrows_one_per_group(intercept_fit):
    table = shrinkage(intercept_fit)
    fig = plot_shrinkage(table)
    (ax,) = fig.axes
    assert len(_patches(ax, FancyArrowPatch)) == 18
    assert sum(isinstance(c, PathCollection) for c in ax.collections) == 2
    (line,) = ax.lines  # the population value
    assert_allclose(line.get_ydata(), table["population"].iloc[0])
    assert not figure_is_blank(fig)
    # a group without a no-pooling estimate gets no arrow
    table.loc[3, "no_pool"] = np.nan
    assert len(_patches(plot_shrinkage(table).axes[0], FancyArrowPatch)) == 17


def test_shrinkage_slope_term_and_bad_term(slopes_fit):
    table = shrinkage(slopes_fit)
    fig = plot_shrinkage(table, term="Days")
    assert fig.axes[0].get_ylabel() == "Subject slopes on Days"  # issue 11: human label
    with pytest.raises(hierlmm.SpecError, match="term 'x'"):
        plot_shrinkage(table, term="x")
    with pytest.raises(hierlmm.SpecError, match="lacks column"):
        plot_shrinkage(table.drop(columns="no_pool"))


def test_shrinkage_2d_arrows_and_ellipse(slopes_fit):
    table = shrinkage(slopes_fit)
    pop = population_distribution(slopes_fit)
    fig = plot_shrinkage_2d(table, pop, prob=0.9)
    (ax,) = fig.axes
    assert len(_patches(ax, FancyArrowPatch)) == 18
    (ellipse,) = _patches(ax, Ellipse)
    assert_allclose(ellipse.center, pop.mean, rtol=1e-12)
    # issue 11: human labels
    assert ax.get_xlabel() == "Subject intercepts" and ax.get_ylabel() == "Subject slopes on Days"
    assert not figure_is_blank(fig)


def _many_groups_table(n_groups: int) -> pd.DataFrame:
    """A shrinkage table of ``n_groups`` groups of varying size, two terms."""
    rng = np.random.default_rng(8)
    levels = [f"s{j:03d}" for j in range(n_groups)]
    n = rng.integers(2, 12, n_groups)
    rows = [pd.DataFrame({"factor": "Subject", "level": levels, "term": term, "n": n,
                          "no_pool": rng.normal(centre, 2.0, n_groups),
                          "partial": rng.normal(centre, 1.0, n_groups),
                          "population": centre})
            for term, centre in (("Intercept", 10.0), ("Days", 1.0))]
    return pd.concat(rows, ignore_index=True)


def test_shrinkage_of_many_groups_draws_one_line_collection():
    """Above MAX_ARROWS groups the moves are plain segments in one LineCollection, each
    from the group's no-pooling to its partial-pooling value (a group without a
    no-pooling value has none); the 2-D figure likewise."""
    from hierlmm.plots.shrinkage import MAX_ARROWS
    from hierlmm.report.shrinkage import PopulationDistribution

    table = _many_groups_table(MAX_ARROWS + 50)
    table.loc[7, "no_pool"] = np.nan
    (ax,) = plot_shrinkage(table).axes
    assert not _patches(ax, FancyArrowPatch)
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    segments = lines.get_segments()
    rows = table[table["term"] == "Intercept"].drop(index=7)
    assert len(segments) == MAX_ARROWS + 49
    assert_allclose([seg[0, 1] for seg in segments], rows["no_pool"])
    assert_allclose([seg[1, 1] for seg in segments], rows["partial"])
    assert all(seg[0, 0] == seg[1, 0] for seg in segments)  # vertical: same group size
    population = PopulationDistribution("Subject", ("Intercept", "Days"),
                                        np.array([10.0, 1.0]), np.diag([1.0, 0.25]))
    (ax,) = plot_shrinkage_2d(table, population).axes
    assert not _patches(ax, FancyArrowPatch) and len(_patches(ax, Ellipse)) == 1
    (lines,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    first = table[table["level"] == "s000"].set_index("term")
    assert_allclose(lines.get_segments()[0],
                    [first.loc[["Intercept", "Days"], "no_pool"],
                     first.loc[["Intercept", "Days"], "partial"]])


def test_ellipse_geometry():
    e = ellipse_patch(np.array([1.0, 2.0]), np.diag([4.0, 1.0]), 0.9)
    c = chi2.ppf(0.9, 2)
    assert_allclose([e.width, e.height], [2 * np.sqrt(4 * c), 2 * np.sqrt(c)], rtol=1e-12)
    assert_allclose(e.angle % 180, 0.0, atol=1e-9)
    rotated = ellipse_patch(np.zeros(2), np.array([[1.0, 0.0], [0.0, 9.0]]), 0.5)
    assert_allclose(rotated.angle % 180, 90.0, atol=1e-9)


def test_spread_ties():
    x = spread_ties(np.array([10, 10, 10, 12]))
    assert_allclose(x, [9.4, 10.0, 10.6, 12.0])


def test_trajectories_one_panel_per_subject(slopes_fit):
    groups = ["308", "309", "310", "330", "331"]
    table = trajectories(slopes_fit, "Days", groups=groups, seed=1)
    points = observed_points(slopes_fit, "Days", groups)
    fig = plot_trajectories(table, points, ncols=3)
    assert len(fig.axes) == 5
    for ax, label in zip(fig.axes, groups, strict=True):
        assert ax.get_title() == label
        assert len(ax.lines) == 2  # group mean, dashed population line
        assert ax.lines[1].get_linestyle() == "--"
        assert sum(isinstance(c, PolyCollection) for c in ax.collections) == 2  # two bands
        (scatter,) = [c for c in ax.collections if isinstance(c, PathCollection)]
        assert scatter.get_offsets().shape == (10, 2)
    assert not figure_is_blank(fig)


def test_ppc_density_lines(slopes_fit):
    y_rep = posterior_predictive(slopes_fit, n_draws=30, seed=1)
    fig = plot_ppc_density(slopes_fit.design.y, y_rep, n_lines=20)
    (ax,) = fig.axes
    assert len(ax.lines) == 21
    assert ax.lines[-1].get_linewidth() == 2
    assert not figure_is_blank(fig)
    with pytest.raises(hierlmm.DataError, match="y_rep must have shape"):
        plot_ppc_density(slopes_fit.design.y, y_rep[:, :5])


def test_binned_kde_matches_normal_density():
    rng = np.random.default_rng(0)
    grid = np.linspace(-5, 5, 401)
    dens = binned_kde(rng.standard_normal((2, 20000)), grid)
    assert dens.shape == (2, 401)
    assert_allclose(dens.sum(axis=1) * (grid[1] - grid[0]), 1.0, atol=1e-3)
    assert np.max(np.abs(dens - norm.pdf(grid))) < 0.02


def test_ppc_groups_intervals(slopes_fit):
    table = ppc_group_stats(slopes_fit, "mean", seed=1)
    fig = plot_ppc_groups(table)
    (ax,) = fig.axes
    (segments,) = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(segments.get_segments()) == 18
    (scatter,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    observed = np.sort(table["observed"].to_numpy())
    assert_allclose(scatter.get_offsets()[:, 1], observed, rtol=1e-12)
    assert len(ax.get_xticks()) == 18
    assert not figure_is_blank(fig)


def test_compare_dot_plot(slopes_fit, intercept_fit):
    table = compare({"intercepts": intercept_fit, "slopes": slopes_fit})
    fig = plot_compare(table)
    (ax,) = fig.axes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    ticks = ax.get_yticks()
    assert [labels[i] for i in np.argsort(-ticks)] == ["slopes", "intercepts"]
    (best,) = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert_allclose(best.get_xdata(), table["elpd"].iloc[0])
    assert not figure_is_blank(fig)
