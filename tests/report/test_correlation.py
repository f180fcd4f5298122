"""Random-effect correlations: cores, readings, tables and one real sleepstudy fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _fakes import corr_matrix, fake_fit

from hierlmm.errors import SpecError
from hierlmm.report.correlation import (
    correlation_densities,
    correlation_reading,
    prob_positive,
    random_correlations,
    reflected_kde,
)
from hierlmm.report.variance import variance_components

CHAINS, DRAWS = 2, 60


def _three_term_fit(correlated: bool = True):
    rng = np.random.default_rng(4)
    n = 60
    data = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n),
                         "w": rng.normal(size=n), "g": np.repeat([f"g{i}" for i in range(6)], 10)})
    sd = np.abs(rng.normal([1.0, 0.5, 0.3], 0.1, size=(CHAINS, DRAWS, 3)))
    r = np.tanh(rng.normal(-0.6, 0.1, size=(CHAINS, DRAWS)))
    bar = "|" if correlated else "||"
    corr = {"g": corr_matrix(r, 3)} if correlated else None
    fit = fake_fit(f"y ~ x + w + (x + w {bar} g)", data, sd={"g": sd},
                   sigma=np.abs(rng.normal(1.0, 0.1, size=(CHAINS, DRAWS))), corr=corr)
    return fit, sd, r


def test_prob_positive_and_kde_normalisation():
    assert prob_positive(np.array([[-0.2, 0.1, 0.3, 0.0]])) == 0.5
    rng = np.random.default_rng(0)
    values = np.clip(rng.normal(0.9, 0.1, size=2000), -1, 1)  # mass piled at the bound
    grid = np.linspace(-1, 1, 2001)
    density = reflected_kde(values, grid)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=2e-3)
    assert density[-1] > 0.5 * density.max()  # reflection keeps mass at the boundary


def test_readings():
    pos = correlation_reading("Subject", "Intercept", "Days", 0.1, 0.8, 0.97, 0.9)
    assert pos == ("Subjects with a higher intercept tend to have larger (more positive) Days "
                   "slopes (P(corr > 0) = 0.97)")
    neg = correlation_reading("g", "x", "Intercept", -0.9, -0.2, 0.01, 0.9)
    assert neg == ("Gs with a larger (more positive) x slope tend to have lower intercepts "
                   "(P(corr > 0) = 0.01)")
    # a negative correlation with a declining average: higher starters decline more, i.e.
    # their slopes are more negative; "flatter" (the old wording) said the opposite
    decline = correlation_reading("Patient", "Intercept", "week", -0.8, -0.3, 0.02, 0.9)
    assert "smaller (more negative) week slopes" in decline
    assert "flatter" not in decline and "steeper" not in decline
    unclear = correlation_reading("school:class", "Intercept", "x", -0.3, 0.5, 0.62, 0.9)
    assert unclear.startswith("No clear relation between Intercept and x across levels of "
                              "school:class: the 90% interval covers 0")
    assert unclear.endswith("(P(corr > 0) = 0.62)")


def test_random_correlations_three_terms():
    fit, sd, r = _three_term_fit()
    table = random_correlations(fit)
    assert table["parameter"].tolist() == ["corr(Intercept,x|g)", "corr(Intercept,w|g)",
                                           "corr(x,w|g)"]
    assert table.columns.tolist() == [
        "parameter", "factor", "term_a", "term_b", "corr_mean", "corr_median", "corr_q05",
        "corr_q95", "corr_rhat", "corr_ess_bulk", "cov_mean", "cov_median", "cov_q05",
        "cov_q95", "p_positive", "reading"]
    row = table.iloc[2]
    assert row["corr_mean"] == pytest.approx(r.mean(), rel=1e-12)
    assert row["cov_mean"] == pytest.approx(np.mean(r * sd[..., 1] * sd[..., 2]), rel=1e-12)
    assert row["cov_q05"] == pytest.approx(np.quantile(r * sd[..., 1] * sd[..., 2], 0.05),
                                           rel=1e-12)
    assert row["p_positive"] == pytest.approx(np.mean(r > 0), abs=0)
    assert row["reading"].startswith("Gs with a larger (more positive) x slope tend to have "
                                     "smaller (more negative) w")


def test_densities_and_uncorrelated_models():
    fit, _, _ = _three_term_fit()
    dens = correlation_densities(fit, points=101)
    assert len(dens) == 3 * 101 and dens["x"].iloc[[0, 100]].tolist() == [-1.0, 1.0]
    one = dens[dens["parameter"] == "corr(x,w|g)"]
    assert np.trapezoid(one["density"], one["x"]) == pytest.approx(1.0, abs=1e-2)
    with pytest.raises(SpecError, match="points=2"):
        correlation_densities(fit, points=2)
    plain, _, _ = _three_term_fit(correlated=False)
    empty = random_correlations(plain)
    assert empty.empty and "reading" in empty.columns
    assert correlation_densities(plain).empty


def test_real_fit_tables_agree_with_summary(sleep_fit):
    summary = sleep_fit.summary()
    table = random_correlations(sleep_fit)
    assert table["parameter"].tolist() == ["corr(Intercept,Days|Subject)"]
    row = table.iloc[0]
    assert row["corr_mean"] == pytest.approx(
        summary.loc["corr(Intercept,Days|Subject)", "mean"], rel=1e-12)
    post = sleep_fit.posterior
    sd = post["sd_Subject"].values
    cov = post["corr_Subject"].values[..., 0, 1] * sd[..., 0] * sd[..., 1]
    assert row["cov_mean"] == pytest.approx(cov.mean(), rel=1e-12)
    assert "P(corr > 0) = " in row["reading"]
    comps = variance_components(sleep_fit).set_index("parameter")
    for name in ("sd(Intercept|Subject)", "sd(Days|Subject)", "sigma"):
        assert comps.loc[name, "mean"] == pytest.approx(summary.loc[name, "mean"], rel=1e-12)
    # sleepstudy: subject SDs near lme4's 24.7 and 5.9, residual near 25.6
    assert 15 < comps.loc["sd(Intercept|Subject)", "mean"] < 40
    assert 3.5 < comps.loc["sd(Days|Subject)", "mean"] < 9.5
    assert 22 < comps.loc["sigma", "mean"] < 30
