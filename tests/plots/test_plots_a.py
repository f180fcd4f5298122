"""Plots of part A render with Agg, are not blank and have the expected artists."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _fakes import corr_matrix, posterior_fit
from matplotlib.figure import Figure

import hierlmm
from hierlmm.design import build_design
from hierlmm.errors import SpecError
from hierlmm.inference.result import Fit
from hierlmm.model import names
from hierlmm.plots._common import figure_is_blank, forest, interval_columns, new_figure
from hierlmm.plots.correlation import plot_correlations
from hierlmm.plots.frequentist import plot_frequentist
from hierlmm.plots.variance import plot_variance_components
from hierlmm.plots.variance_curve import plot_icc_curve, plot_variance_curve
from hierlmm.report.correlation import correlation_densities, random_correlations
from hierlmm.report.frequentist import CANNOT_FIT, frequentist_comparison
from hierlmm.report.variance import icc, variance_components
from hierlmm.report.variance_curve import icc_curve, variance_over_covariate
from hierlmm.spec.formula import parse_formula

CHAINS, DRAWS = 2, 40


def _fit(formula: str, data: pd.DataFrame, sd: dict, corr: dict, seed: int) -> Fit:
    """A Fit whose posterior holds random draws around the given SDs (no sampling)."""
    design = build_design(parse_formula(formula), data)
    rng = np.random.default_rng(seed)
    beta = rng.normal(size=(CHAINS, DRAWS, design.p))
    sigma = np.abs(rng.normal(sd["sigma"], 0.1, size=(CHAINS, DRAWS)))
    variables = {names.BETA: beta, names.SIGMA: sigma}
    for g in design.groups:
        f, q = g.factor, g.q
        variables[names.sd(f)] = np.abs(rng.normal(sd[f], 0.1, size=(CHAINS, DRAWS, q)))
        if f in corr:
            r = np.tanh(rng.normal(corr[f], 0.1, size=(CHAINS, DRAWS)))
            variables[names.corr(f)] = corr_matrix(r, q)
    return posterior_fit(formula, data, variables, seed=seed)


@pytest.fixture(scope="module")
def sleep_fit():
    return _fit("Reaction ~ Days + (Days | Subject)", hierlmm.datasets.load("sleepstudy"),
                {"Subject": [25.0, 6.0], "sigma": 25.0}, {"Subject": 0.5}, seed=1)


@pytest.fixture(scope="module")
def crossed_fit():
    sim = hierlmm.datasets.simulate_crossed(n_subjects=6, n_items=4, seed=2)
    return _fit(sim.formula, sim.data, {"subject": 1.0, "item": 0.7, "sigma": 1.0}, {}, seed=2)


def _containers(ax):
    return [c for c in ax.containers if c.__class__.__name__ == "ErrorbarContainer"]


def test_figure_is_blank_and_helpers():
    assert figure_is_blank(Figure())
    fig, axes = new_figure(5, ncols=3)
    assert len(axes) == 5 and len(fig.axes) == 5
    axes[0].plot([0, 1], [0, 1])
    assert not figure_is_blank(fig)
    assert interval_columns(pd.DataFrame(columns=["x", "q95", "q05"])) == ("q05", "q95")
    with pytest.raises(SpecError, match="two interval columns"):
        interval_columns(pd.DataFrame(columns=["q05"]))


def test_forest_draws_a_constant_row_whose_mean_is_off_by_rounding():
    """cbpp: the latent residual variance pi^2/3 is constant; its mean differs from its
    quantiles in the last bit, which matplotlib refused as a negative error bar."""
    constant = np.pi**2 / 3
    fig, (ax,) = new_figure(1)
    forest(ax, ["latent residual", "herd"], [constant + 4e-16, 0.5],
           [constant, 0.2], [constant, 0.9])
    (container,) = _containers(ax)
    segments = container.lines[2][0].get_segments()
    assert np.allclose(segments[0], [[constant, 1.0], [constant, 1.0]])
    assert np.allclose(segments[1], [[0.2, 0.0], [0.9, 0.0]])


def test_variance_forest(sleep_fit):
    comps, iccs = variance_components(sleep_fit), icc(sleep_fit)
    fig = plot_variance_components(comps, iccs)
    assert not figure_is_blank(fig)
    assert len(fig.axes) == 2
    left, right = fig.axes
    ticks = {t.get_text(): y for t, y in zip(left.get_yticklabels(), left.get_yticks(),
                                             strict=True)}
    # issue 11: rows carry human labels instead of the internal parameter names
    assert ticks == {"SD of Subject intercepts": 2, "SD of Subject slopes on Days": 1,
                     "Residual SD": 0}
    assert len(_containers(left)) == 1 and len(left.lines) == 3  # markers + two cap lines
    assert [t.get_text() for t in right.get_yticklabels()] == ["Variance share of Subject"]
    only = plot_variance_components(comps, quantity="share")
    assert len(only.axes) == 1 and len(only.axes[0].get_yticklabels()) == 2
    with pytest.raises(SpecError, match="quantity='var'"):
        plot_variance_components(comps, quantity="var")
    with pytest.raises(SpecError, match="lack"):
        plot_variance_components(comps.drop(columns="quantity"))


def test_correlation_densities_plot(sleep_fit, crossed_fit):
    table = random_correlations(sleep_fit)
    fig = plot_correlations(table, correlation_densities(sleep_fit))
    assert not figure_is_blank(fig)
    (ax,) = fig.axes
    assert len(ax.lines) == 2 and len(ax.collections) == 1
    # issue 11: a short human title; the reading is the paragraph printed next to it
    assert ax.get_title() == "Corr. of Subject intercepts and slopes on Days"
    empty = plot_correlations(random_correlations(crossed_fit),
                              correlation_densities(crossed_fit))
    assert not figure_is_blank(empty) and "No correlated" in empty.axes[0].texts[0].get_text()


def test_variance_curve_plots(sleep_fit):
    table = variance_over_covariate(sleep_fit, "Subject")
    fig = plot_variance_curve(table)
    assert not figure_is_blank(fig)
    (ax,) = fig.axes
    # interval band + residual, intercept, slope, covariance ("other" is all zero)
    assert len(ax.collections) == 5 and len(ax.lines) == 1
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["total, interval", "residual", "intercept", "slope", "covariance",
                      "total (mean)"]
    curve = plot_icc_curve(icc_curve(sleep_fit, "Subject"))
    assert not figure_is_blank(curve)
    assert len(curve.axes[0].lines) == 1 and len(curve.axes[0].collections) == 1


def test_frequentist_plot(sleep_fit, crossed_fit):
    table = frequentist_comparison(sleep_fit)
    fig = plot_frequentist(table)
    assert not figure_is_blank(fig)
    assert len(fig.axes) == len(table) == 7
    by_title = {ax.get_title(): ax for ax in fig.axes}
    assert len(_containers(by_title["Days"])) == 4  # hierlmm, REML, ML, OLS
    # issue 11: panels are titled with human labels
    assert len(_containers(by_title["SD of Subject slopes on Days"])) == 3  # no OLS counterpart
    assert len(_containers(by_title["Residual SD"])) == 4
    assert fig.get_suptitle() == ""
    # issue 11: crossed designs are fitted by statsmodels as variance components
    crossed = plot_frequentist(frequentist_comparison(crossed_fit))
    assert not crossed.get_suptitle().startswith(CANNOT_FIT)
    assert len(_containers(crossed.axes[0])) == 4  # hierlmm, REML, ML and OLS
