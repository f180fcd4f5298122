"""Posterior/prior predictive checks and LOO comparison."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from numpy.testing import assert_allclose

import hierlmm
from hierlmm.model import names
from hierlmm.report import prior_predictive
from hierlmm.report.checks import (
    compare,
    group_statistic,
    posterior_predictive,
    ppc_group_stats,
)

FIT_KW = dict(seed=7, progress=False, draws=300, tune=300, chains=2, warn_convergence=False)


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    """Strongly varying slopes: 30 subjects x 8 visits."""
    return hierlmm.datasets.simulate_random_slopes(
        n_groups=30, n_per_group=8, sd=(20.0, 8.0), corr=0.2, sigma=8.0, seed=21
    ).data


@pytest.fixture(scope="module")
def slopes_fit(sim) -> hierlmm.Fit:
    return hierlmm.fit("y ~ time + (time | subject)", sim, **FIT_KW)


@pytest.fixture(scope="module")
def intercept_fit(sim) -> hierlmm.Fit:
    return hierlmm.fit("y ~ time + (1 | subject)", sim, **FIT_KW)


def test_group_statistic_small_example():
    values = np.array([[1.0, 2.0, 3.0, 10.0], [0.0, 0.0, 4.0, 5.0]])
    codes = np.array([1, 0, 1, 2])
    means = group_statistic(values, codes, 3, "mean")
    assert_allclose(means, [[2.0, 2.0, 10.0], [0.0, 2.0, 5.0]], rtol=1e-15)
    sds = group_statistic(values, codes, 3, "sd")
    assert np.isnan(sds[:, 0]).all() and np.isnan(sds[:, 2]).all()
    assert_allclose(sds[:, 1], [np.std([1, 3], ddof=1), np.std([0, 4], ddof=1)], rtol=1e-15)


def test_posterior_predictive_reproduces_its_draws(slopes_fit):
    y_rep = posterior_predictive(slopes_fit, n_draws=50, seed=9)
    assert y_rep.shape == (50, slopes_fit.design.n)
    rng = np.random.default_rng(9)
    idx = np.sort(rng.choice(600, size=50, replace=False))
    post = slopes_fit.posterior
    beta = post[names.BETA].values.reshape(600, 2)[idx]
    b = post[names.effects("subject")].values.reshape(600, 30, 2)[idx]
    g = slopes_fit.design.group("subject")
    mu = beta @ slopes_fit.design.X.T + np.einsum("snq,nq->sn", b[:, g.codes], g.Z)
    sigma = post[names.SIGMA].values.reshape(600)[idx, None]
    assert_allclose(y_rep, mu + sigma * rng.standard_normal(mu.shape), rtol=1e-12)
    with pytest.raises(hierlmm.SpecError, match="n_draws=601"):
        posterior_predictive(slopes_fit, n_draws=601)


def test_ppc_group_stats(slopes_fit, sim):
    for stat, pandas_stat in (("mean", "mean"), ("sd", "std")):
        table = ppc_group_stats(slopes_fit, stat, seed=1, prob=0.9)
        assert list(table.columns) == [
            "factor", "level", "n", "stat", "observed", "rep_mean", "lower", "upper", "p_value"
        ]
        expected = sim.groupby("subject")["y"].agg(pandas_stat).to_numpy()
        assert_allclose(table["observed"], expected, rtol=1e-12)
        assert table["p_value"].between(0, 1).all()
        assert np.all(table["lower"] <= table["upper"])
        inside = (table["observed"] >= table["lower"]) & (table["observed"] <= table["upper"])
        assert inside.mean() >= 0.8  # a correct model covers most groups


def test_ppc_group_stats_flags_a_misfit(intercept_fit):
    # intercept-only model cannot reproduce subjects' spread around their mean
    table = ppc_group_stats(intercept_fit, "sd", seed=1)
    extreme = (table["p_value"] < 0.05) | (table["p_value"] > 0.95)
    assert extreme.mean() > 0.3


def test_compare_ranks_the_correct_model_first(slopes_fit, intercept_fit):
    table = compare({"intercepts": intercept_fit, "slopes": slopes_fit})
    assert list(table.index) == ["slopes", "intercepts"]
    assert list(table["rank"]) == [0, 1]
    diff = table.loc["intercepts", "elpd_diff"]
    assert diff < -2 * table.loc["intercepts", "dse"]
    assert table.loc["slopes", "weight"] > 0.9


def test_compare_errors(slopes_fit, intercept_fit):
    with pytest.raises(hierlmm.SpecError, match="at least two fits"):
        compare({"slopes": slopes_fit})
    with pytest.raises(hierlmm.SpecError, match="not a Fit"):
        compare({"slopes": slopes_fit, "x": 3})
    shifted = replace(intercept_fit, design=replace(intercept_fit.design,
                                                    y=intercept_fit.design.y + 1.0))
    with pytest.raises(hierlmm.FitError, match="different observations"):
        compare({"slopes": slopes_fit, "shifted": shifted})
    tree = xr.DataTree.from_dict({"posterior": intercept_fit.posterior})
    no_loglik = replace(intercept_fit, idata=tree)
    with pytest.raises(hierlmm.FitError, match="'bare' has no log_likelihood"):
        compare({"slopes": slopes_fit, "bare": no_loglik})


def test_prior_predictive_shape_seed_and_data_scale(intercept_fit, sim):
    draws = prior_predictive(intercept_fit, draws=40, seed=5)
    assert draws.shape == (40, intercept_fit.design.n)
    formula = "y ~ time + (1 | subject)"
    again = prior_predictive(formula, sim, draws=40, seed=5)
    assert_allclose(draws, again, rtol=0, atol=0)
    # every default prior is scaled by the data: scaling y scales the prior predictive
    scaled = prior_predictive(formula, sim.assign(y=1000 * sim["y"]), draws=40, seed=5)
    assert_allclose(scaled, 1000 * draws, rtol=1e-9)


def test_prior_predictive_errors(sim, intercept_fit):
    with pytest.raises(hierlmm.SpecError, match="needs data="):
        prior_predictive("y ~ time + (1 | subject)", draws=5, seed=1)
    with pytest.raises(hierlmm.SpecError, match="pass seed="):
        prior_predictive("y ~ time + (1 | subject)", sim, draws=5)
    with pytest.raises(hierlmm.SpecError, match="draws=0"):
        prior_predictive(intercept_fit, draws=0)
