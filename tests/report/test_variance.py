"""Variance components, ICCs, rater reliability, design effects and variance curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _fakes import corr_matrix, fake_fit

import hierlmm
from hierlmm.errors import SpecError
from hierlmm.report import variance_curve as vc
from hierlmm.report.variance import (
    design_effect,
    icc,
    icc_from_variances,
    nesting,
    rater_icc,
    rater_reliability,
    shared_level_correlation,
    variance_components,
)

CHAINS, DRAWS = 2, 40  # chains, draws of the fake posteriors


def _pos(rng, loc, scale, shape):
    return np.abs(rng.normal(loc, scale, size=shape))


@pytest.fixture(scope="module")
def sleep_fit():
    rng = np.random.default_rng(11)
    sd = _pos(rng, [25.0, 6.0], [4.0, 1.0], (CHAINS, DRAWS, 2))
    r = np.tanh(rng.normal(0.2, 0.3, size=(CHAINS, DRAWS)))
    sigma = _pos(rng, 25.0, 2.0, (CHAINS, DRAWS))
    fit = fake_fit("Reaction ~ Days + (Days | Subject)", hierlmm.datasets.load("sleepstudy"),
                   sd={"Subject": sd}, sigma=sigma, corr={"Subject": corr_matrix(r)})
    return fit, sd, r, sigma


@pytest.fixture(scope="module")
def nested_fit():
    sim = hierlmm.datasets.simulate_nested(n_schools=6, classes_per_school=3,
                                           students_per_class=5, seed=2)
    rng = np.random.default_rng(12)
    ts, tc, sigma = (_pos(rng, m, 1.0, (CHAINS, DRAWS)) for m in (5.0, 3.0, 8.0))
    fit = fake_fit(sim.formula, sim.data, sd={"school": ts[..., None],
                                               "school:class": tc[..., None]}, sigma=sigma)
    return fit, ts, tc, sigma


@pytest.fixture(scope="module")
def crossed_fit():
    sim = hierlmm.datasets.simulate_crossed(n_subjects=8, n_items=5, seed=3)
    rng = np.random.default_rng(13)
    ts, ti, sigma = (_pos(rng, m, 0.3, (CHAINS, DRAWS)) for m in (1.0, 0.7, 1.0))
    fit = fake_fit(sim.formula, sim.data, sd={"subject": ts[..., None], "item": ti[..., None]},
                   sigma=sigma)
    return fit, ts, ti, sigma


# ------------------------------------------------------------------ numpy cores


def test_icc_core_single_factor_is_tau2_over_total():
    rng = np.random.default_rng(0)
    tau2, sigma2 = rng.gamma(2.0, size=(3, 7, 1)), rng.gamma(2.0, size=(3, 7))
    out = icc_from_variances(tau2, sigma2)
    assert out.shape == (3, 7, 1)
    np.testing.assert_allclose(out[..., 0], tau2[..., 0] / (tau2[..., 0] + sigma2),
                               rtol=0, atol=1e-12)


def test_icc_core_several_factors_share_one_total():
    tau2 = np.array([[[4.0, 1.0]]])
    sigma2 = np.array([[5.0]])
    np.testing.assert_allclose(icc_from_variances(tau2, sigma2)[0, 0], [0.4, 0.1], atol=1e-15)


def test_shared_level_correlation_nested_and_crossed():
    tau2 = np.array([[[25.0, 9.0]]])  # school, class
    sigma2 = np.array([[66.0]])  # total 100
    nested = np.array([[False, True], [False, False]])  # class nested in school
    out = shared_level_correlation(tau2, sigma2, nested)[0, 0]
    np.testing.assert_allclose(out, [0.25, 0.34], atol=1e-15)  # same school / same class
    crossed = shared_level_correlation(tau2, sigma2, np.zeros((2, 2), dtype=bool))[0, 0]
    np.testing.assert_allclose(crossed, [0.25, 0.09], atol=1e-15)


def test_nesting_reads_structure_from_codes():
    school = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    klass = np.array([0, 0, 1, 1, 2, 2, 3, 3])  # unique labels across schools
    item = np.array([0, 1, 0, 1, 0, 1, 0, 1])  # crossed with school
    out = nesting([school, klass, item])
    expected = np.zeros((3, 3), dtype=bool)
    expected[0, 1] = True
    np.testing.assert_array_equal(out, expected)


def test_design_effect_and_rater_formulas():
    assert design_effect(np.array(0.1), 11.0) == pytest.approx(2.0, abs=1e-15)
    s, r, e = np.array([[4.0]]), np.array([[1.0]]), np.array([[5.0]])
    consistency, agreement = rater_reliability(s, r, e)
    assert consistency[0, 0] == pytest.approx(4 / 9, abs=1e-15)
    assert agreement[0, 0] == pytest.approx(0.4, abs=1e-15)


# ------------------------------------------------------------------ tables


def test_variance_components_rows_and_values(sleep_fit):
    fit, sd, _, sigma = sleep_fit
    table = variance_components(fit)
    assert table["parameter"].tolist() == [
        "var(Intercept|Subject)", "sd(Intercept|Subject)", "share(Intercept|Subject)",
        "var(Days|Subject)", "sd(Days|Subject)", "sigma^2", "sigma", "share(residual)",
    ]
    assert list(table.columns) == ["parameter", "quantity", "factor", "term", "mean", "median",
                                   "sd", "q05", "q95", "rhat", "ess_bulk", "note"]
    assert table["note"].isna().all()  # Gaussian: every residual variance draw is finite
    row = table.set_index("parameter")
    assert row.loc["var(Days|Subject)", "mean"] == pytest.approx(np.mean(sd[..., 1] ** 2),
                                                                 rel=1e-12)
    assert row.loc["sigma", "q95"] == pytest.approx(np.quantile(sigma, 0.95), rel=1e-12)
    share = sd[..., 0] ** 2 / (sd[..., 0] ** 2 + sigma**2)
    assert row.loc["share(Intercept|Subject)", "median"] == pytest.approx(np.median(share),
                                                                          rel=1e-12)
    total = row.loc["share(Intercept|Subject)", "mean"] + row.loc["share(residual)", "mean"]
    assert total == pytest.approx(1.0, abs=1e-12)
    assert row.loc["sigma", "factor"] is None


def test_icc_slope_model_is_conditional_on_zero(sleep_fit):
    fit, sd, _, sigma = sleep_fit
    table = icc(fit, prob=0.5)
    assert table["parameter"].tolist() == ["icc(Subject)", "corr_same(Subject)",
                                           "design_effect(Subject)"]
    assert {"q25", "q75"} <= set(table.columns)
    expected = sd[..., 0] ** 2 / (sd[..., 0] ** 2 + sigma**2)
    assert table.loc[0, "mean"] == pytest.approx(expected.mean(), rel=1e-12)
    assert table.loc[2, "mean"] == pytest.approx(1 + 9 * expected.mean(), rel=1e-12)
    assert table.loc[0, "cluster_size"] == 10.0
    assert "Days = 0" in table.loc[0, "note"]


def test_icc_nested_levels(nested_fit):
    fit, ts, tc, sigma = nested_fit
    table = icc(fit).set_index("parameter")
    total = ts**2 + tc**2 + sigma**2
    checks = {
        "icc(school)": ts**2 / total,
        "icc(school:class)": tc**2 / total,
        "corr_same(school)": ts**2 / total,
        "corr_same(school:class)": (ts**2 + tc**2) / total,
        "design_effect(school:class)": 1 + 4 * (ts**2 + tc**2) / total,
        "design_effect(school)": 1 + 14 * ts**2 / total,
    }
    for parameter, values in checks.items():
        assert table.loc[parameter, "mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert table.loc["icc(school)", "cluster_size"] == 15.0
    # issue 11: the "two observations in the same ..." text describes corr_same, not icc
    assert "hence the same school" in table.loc["corr_same(school:class)", "description"]
    assert "different school:class" in table.loc["corr_same(school)", "description"]
    assert "due to school:class alone" in table.loc["icc(school:class)", "description"]
    assert table["note"].isna().all()


def test_rater_icc_crossed(crossed_fit):
    fit, ts, ti, sigma = crossed_fit
    table = rater_icc(fit, subject="subject", rater="item")
    assert table["quantity"].tolist() == ["consistency", "agreement"]
    np.testing.assert_allclose(
        table["mean"], [np.mean(ts**2 / (ts**2 + sigma**2)),
                        np.mean(ts**2 / (ts**2 + ti**2 + sigma**2))], rtol=1e-12)
    assert table.loc[1, "q95"] < table.loc[0, "q95"]


def test_rater_icc_and_prob_reject_bad_input(crossed_fit):
    fit = crossed_fit[0]
    with pytest.raises(SpecError, match="'judge' is not a grouping factor"):
        rater_icc(fit, subject="subject", rater="judge")
    with pytest.raises(SpecError, match="must differ"):
        rater_icc(fit, subject="item", rater="item")
    with pytest.raises(SpecError, match="random-intercept-only"):
        rater_icc(_two_factor_slopes(), subject="g", rater="h")
    with pytest.raises(SpecError, match="prob=1.5"):
        variance_components(fit, prob=1.5)


def _two_factor_slopes():
    rng = np.random.default_rng(5)
    data = pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40),
                         "g": np.repeat(list("abcd"), 10), "h": np.tile(list("pqrs"), 10)})
    sd = {"g": _pos(rng, 1, 0.1, (CHAINS, DRAWS, 2)), "h": _pos(rng, 1, 0.1, (CHAINS, DRAWS, 1))}
    sigma = _pos(rng, 1, 0.1, (CHAINS, DRAWS))
    return fake_fit("y ~ x + (x || g) + (1 | h)", data, sd=sd, sigma=sigma)


# ------------------------------------------------------------------ variance curves


def test_variance_curve_core_components_sum_to_total():
    rng = np.random.default_rng(1)
    var0, var1, other, sigma2 = (rng.gamma(2.0, size=(2, 5)) for _ in range(4))
    cov01 = rng.normal(size=(2, 5))
    grid = np.array([-1.0, 0.0, 2.5])
    parts = vc.variance_components_over_grid(var0, cov01, var1, other, sigma2, grid)
    assert parts.shape == (2, 5, 3, 5)
    direct = (var0[..., None] + 2 * grid * cov01[..., None] + grid**2 * var1[..., None]
              + other[..., None] + sigma2[..., None])
    np.testing.assert_allclose(parts.sum(axis=-1), direct, rtol=1e-13)
    icc_t = vc.conditional_icc(parts)
    np.testing.assert_allclose(icc_t, (direct - other[..., None] - sigma2[..., None]) / direct,
                               rtol=1e-13)


def test_variance_over_covariate_table(sleep_fit):
    fit, sd, r, sigma = sleep_fit
    table = vc.variance_over_covariate(fit, "Subject", grid=[0.0, 4.0, 9.0])
    assert table.columns.tolist() == [
        "factor", "term", "t", "intercept", "covariance", "slope", "other", "residual",
        "total_mean", "total_median", "total_q05", "total_q95"]
    comp = table[["intercept", "covariance", "slope", "other", "residual"]].sum(axis=1)
    np.testing.assert_allclose(comp, table["total_mean"], rtol=1e-12)
    cov = r * sd[..., 0] * sd[..., 1]
    assert table.loc[1, "covariance"] == pytest.approx(np.mean(8.0 * cov), rel=1e-12)
    assert table.loc[2, "slope"] == pytest.approx(np.mean(81 * sd[..., 1] ** 2), rel=1e-12)
    assert (table["other"] == 0).all() and table["term"].eq("Days").all()
    default = vc.variance_over_covariate(fit, "Subject")
    assert len(default) == vc.GRID_POINTS and default["t"].iloc[[0, -1]].tolist() == [0.0, 9.0]


def test_icc_curve_at_zero_matches_icc(sleep_fit):
    fit = sleep_fit[0]
    curve = vc.icc_curve(fit, "Subject", grid=[0.0, 9.0])
    assert curve.loc[0, "mean"] == pytest.approx(icc(fit).loc[0, "mean"], rel=1e-12)
    assert curve.loc[1, "mean"] > curve.loc[0, "mean"]


def test_variance_curve_other_factor_and_errors(nested_fit):
    fit = _two_factor_slopes()
    table = vc.variance_over_covariate(fit, "g")
    h = fit.posterior["sd_h"].values[..., 0]
    assert table["other"].iloc[0] == pytest.approx(np.mean(h**2), rel=1e-12)
    assert (table["covariance"] == 0).all()  # (x || g): uncorrelated
    with pytest.raises(SpecError, match="no random slope"):
        vc.variance_over_covariate(nested_fit[0], "school")
    with pytest.raises(SpecError, match="'zz' is not a grouping factor"):
        vc.icc_curve(fit, "zz")
    with pytest.raises(SpecError, match="term='w' is not a random slope"):
        vc.icc_curve(fit, "g", term="w")
    with pytest.raises(SpecError, match="finite"):
        vc.variance_over_covariate(fit, "g", grid=[0.0, np.nan])


# Known answers: coverage of the variance components, the ICC (hierlmm.report.icc) and the
# ICC curve over 60 fresh data sets, with its power against 75% coverage, is checked in
# tests/statistical/test_recovery.py; the whole posterior by SBC in test_sbc.py.
