"""Shrinkage table: no pooling, complete pooling, partial pooling and shrinkage weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from _fakes import corr_matrix, posterior_fit
from numpy.testing import assert_allclose

import hierlmm
from hierlmm.design import build_design
from hierlmm.model import names
from hierlmm.model.builder import plan_model
from hierlmm.report.shrinkage import (
    TABLE_COLUMNS,
    analytic_shrinkage,
    complete_pooling,
    no_pooling,
    population_distribution,
    shrinkage,
)

FIT_KW = dict(seed=11, progress=False, draws=300, tune=300, chains=2, warn_convergence=False)


@pytest.fixture(scope="module")
def ri_fit() -> hierlmm.Fit:
    """Random intercepts and a fixed slope of x; unbalanced groups of 1..11 rows (30 groups)."""
    sim = hierlmm.datasets.simulate_random_intercepts(
        n_groups=30, n_per_group=6, beta=(1.0, 2.0), tau=1.0, sigma=1.5, unbalanced=True,
        seed=3,
    )
    return hierlmm.fit("y ~ x + (1 | g)", sim.data, **FIT_KW)


@pytest.fixture(scope="module")
def rs_data():
    """Random slopes; subject s001 keeps 1 row, s002 two rows at the same time (rank 1)."""
    data = hierlmm.datasets.simulate_random_slopes(
        n_groups=15, n_per_group=5, sd=(20.0, 5.0), sigma=10.0, seed=4
    ).data
    keep = ~((data["subject"] == "s001") & (data["time"] > 0))
    keep &= ~((data["subject"] == "s002") & (data["time"] > 0))
    extra = data[(data["subject"] == "s002") & (data["time"] == 0)].assign(y=lambda d: d.y + 5)
    return pd.concat([data[keep], extra], ignore_index=True)


@pytest.fixture(scope="module")
def rs_fit(rs_data) -> hierlmm.Fit:
    return hierlmm.fit("y ~ time + (time | subject)", rs_data, **FIT_KW)


def test_analytic_shrinkage_known_values():
    w = analytic_shrinkage(np.array([1.0, 4.0]), np.array([1.0, 1.0]), np.array([1, 3]))
    assert_allclose(w, [[0.5, 0.75], [0.8, 12.0 / 13.0]], rtol=1e-15)


# ------------------------------------------------- independent reference: fixed parameters
def _fixed_parameter_fit(formula: str, data: pd.DataFrame, theta: dict, draws: int = 2000):
    """A Fit whose parameters are the point values ``theta`` in every one of 2 x ``draws``
    draws, with the collapsed factor's effects drawn exactly by the collapsed engine."""
    spec = hierlmm.parse_formula(formula)
    design = build_design(spec, data)
    shape = (2, draws)
    variables = {names.BETA: np.broadcast_to(theta["beta"], shape + (design.p,)).copy(),
                 names.SIGMA: np.full(shape, theta["sigma"])}
    g = design.groups[0]
    variables[names.sd(g.factor)] = np.broadcast_to(theta["sd"], shape + (g.q,)).copy()
    if g.q > 1:
        variables[names.corr(g.factor)] = corr_matrix(np.full(shape, theta["corr"]), g.q)
    fit = posterior_fit(formula, data, variables)
    engine = plan_model(design=design, spec=spec, engine="collapsed")
    posterior, _ = engine.finish(fit.posterior, seed=3)
    return posterior_fit(formula, data, {k: posterior[k].values for k in posterior.data_vars})


def _closed_form_effects(design, theta: dict) -> tuple[np.ndarray, np.ndarray]:
    """Conditional mean and SD of each level's effects given the parameters, (L, q) each:
    ``b_j | y ~ N(A_j^-1 Z_j' r_j / sigma^2, A_j^-1)``, ``A_j = Z_j' Z_j / sigma^2 + S^-1``,
    ``r_j = y_j - X_j beta`` (Gelman & Hill 2007, sec. 12.x; dense per level)."""
    g = design.groups[0]
    sd = np.atleast_1d(theta["sd"])
    corr = np.array([[1.0, theta.get("corr", 0.0)], [theta.get("corr", 0.0), 1.0]])[:g.q, :g.q]
    prior_cov = np.outer(sd, sd) * corr
    resid = design.y - design.X @ np.asarray(theta["beta"])
    means, sds = np.empty((g.n_levels, g.q)), np.empty((g.n_levels, g.q))
    for j in range(g.n_levels):
        rows = g.codes == j
        Z = g.Z[rows]
        A = Z.T @ Z / theta["sigma"] ** 2 + np.linalg.inv(prior_cov)
        cov = np.linalg.inv(A)
        means[j] = cov @ Z.T @ resid[rows] / theta["sigma"] ** 2
        sds[j] = np.sqrt(np.diag(cov))
    return means, sds


@pytest.mark.parametrize("case", ["slopes", "intercepts"])
def test_partial_pooling_equals_the_closed_form_conditional_mean(case, rs_data):
    """At fixed parameters the partial-pooling estimate is beta + E[b_j | y, theta]; with
    4,000 exact draws its Monte Carlo error is sd_j / sqrt(4000), and the table must agree
    with the dense closed form within 5 such standard errors for every level and term."""
    if case == "slopes":
        formula, data = "y ~ time + (time | subject)", rs_data
        theta = {"beta": [250.0, 10.0], "sigma": 10.0, "sd": [20.0, 5.0], "corr": 0.3}
    else:
        sim = hierlmm.datasets.simulate_random_intercepts(
            n_groups=30, n_per_group=6, beta=(1.0, 2.0), tau=1.0, sigma=1.5,
            unbalanced=True, seed=3)
        formula, data = "y ~ x + (1 | g)", sim.data
        theta = {"beta": [1.0, 2.0], "sigma": 1.5, "sd": [1.0]}
    fit = _fixed_parameter_fit(formula, data, theta)
    table = shrinkage(fit)
    means, sds = _closed_form_effects(fit.design, theta)
    g = fit.design.groups[0]
    fixed = dict(zip(fit.design.fixed_names, theta["beta"], strict=True))
    beta_terms = np.array([fixed.get(t, 0.0) for t in g.terms])
    expected = (beta_terms + means).reshape(-1)
    error = np.abs(table["partial"].to_numpy() - expected) / (sds.reshape(-1) / np.sqrt(4000))
    assert error.max() < 5, error.max()
    if case == "intercepts":  # the analytic weight is the closed form's weight on ybar_j
        adjusted = shrinkage(fit, adjust=True)
        kept = (expected - adjusted["population"]) / (adjusted["no_pool"] - adjusted["population"])
        assert_allclose(adjusted["weight_own_data"], kept, rtol=1e-9)


def test_intercept_only_weight_is_analytic_at_posterior_draws(ri_fit):
    table = shrinkage(ri_fit)
    g = ri_fit.design.group("g")
    tau2 = ri_fit.posterior[names.sd("g")].values[..., 0].reshape(-1) ** 2
    sigma2 = ri_fit.posterior[names.SIGMA].values.reshape(-1) ** 2
    expected = np.mean(tau2[:, None] / (tau2[:, None] + sigma2[:, None] / g.counts[None, :]), 0)
    assert_allclose(table["weight_own_data"].to_numpy(), expected, rtol=1e-10, atol=0)
    assert_allclose(table["shrinkage"], 1.0 - expected, rtol=1e-10, atol=1e-15)
    assert set(table["weight_method"]) == {"analytic"}
    # bigger groups keep more of their own data
    order = np.argsort(g.counts)
    assert np.all(np.diff(expected[order]) >= 0)


def test_table_layout(ri_fit, rs_fit):
    table = shrinkage(ri_fit)
    assert tuple(table.columns) == TABLE_COLUMNS
    g = ri_fit.design.group("g")
    assert table.shape == (g.n_levels, len(TABLE_COLUMNS))
    assert list(table["level"]) == list(g.levels)
    assert int(table["n"].sum()) == ri_fit.design.n
    rs = shrinkage(rs_fit, factor="subject")
    assert rs.shape == (15 * 2, len(TABLE_COLUMNS))
    assert list(rs["term"][:4]) == ["Intercept", "time", "Intercept", "time"]


def test_partial_pooling_lies_between_no_pooling_and_population(ri_fit):
    table = shrinkage(ri_fit, adjust=True)
    weight = table["weight_own_data"].to_numpy()
    assert np.all((weight > 0) & (weight < 1))
    kept = (table["partial"] - table["population"]) / (table["no_pool"] - table["population"])
    between = (kept >= 0) & (kept <= 1)
    assert between.mean() > 0.9


def test_partial_is_posterior_mean_of_fixed_plus_random(rs_fit):
    table = shrinkage(rs_fit, prob=0.8)
    beta = rs_fit.posterior[names.BETA].values  # (C, D, 2)
    b = rs_fit.posterior[names.effects("subject")].values  # (C, D, L, 2)
    coef = beta[:, :, None, :] + b
    assert_allclose(table["partial"], coef.mean(axis=(0, 1)).reshape(-1), rtol=1e-12)
    lo = np.quantile(coef.reshape(-1, 15, 2), 0.1, axis=0).reshape(-1)
    assert_allclose(table["partial_lower"], lo, rtol=1e-12)
    assert_allclose(table["population"][:2], beta.mean(axis=(0, 1)), rtol=1e-12)


def test_no_pooling_is_per_group_lstsq_with_nan_when_not_estimable(rs_fit, rs_data):
    table = shrinkage(rs_fit)
    group = rs_fit.design.group("subject")
    y = rs_fit.design.y
    no_pool = table["no_pool"].to_numpy().reshape(group.n_levels, 2)
    for j, level in enumerate(group.levels):
        rows = group.codes == j
        if level in ("s001", "s002"):
            assert np.all(np.isnan(no_pool[j]))
            continue
        expected = np.linalg.lstsq(group.Z[rows], y[rows], rcond=None)[0]
        assert_allclose(no_pool[j], expected, rtol=1e-12)
    assert_allclose(no_pooling(y, group), no_pool, rtol=1e-12)


def test_complete_pooling_matches_statsmodels_ols(rs_fit, ri_fit):
    group = rs_fit.design.group("subject")
    ols = sm.OLS(rs_fit.design.y, group.Z).fit().params
    assert_allclose(complete_pooling(rs_fit.design.y, group.Z), ols, rtol=1e-10)
    table = shrinkage(rs_fit)
    assert_allclose(table["complete_pool"][:2], ols, rtol=1e-10)
    ri = shrinkage(ri_fit)
    assert_allclose(ri["complete_pool"], ri_fit.design.y.mean(), rtol=1e-12)


def test_population_distribution_is_posterior_mean_covariance(rs_fit):
    pop = population_distribution(rs_fit, "subject")
    sd = rs_fit.posterior[names.sd("subject")].values  # (C, D, 2)
    corr = rs_fit.posterior[names.corr("subject")].values  # (C, D, 2, 2)
    cov = sd[..., :, None] * corr * sd[..., None, :]
    assert_allclose(pop.cov, cov.mean(axis=(0, 1)), rtol=1e-10)
    assert_allclose(pop.mean, rs_fit.posterior[names.BETA].values.mean(axis=(0, 1)), rtol=1e-12)
    assert pop.terms == ("Intercept", "time")


def test_adjust_removes_other_fixed_columns(ri_fit, rs_fit):
    design = ri_fit.design
    codes = design.group("g").codes
    raw = shrinkage(ri_fit)["no_pool"].to_numpy()
    assert_allclose(raw, np.bincount(codes, design.y) / np.bincount(codes), rtol=1e-12)
    beta_x = ri_fit.posterior[names.BETA].sel({names.FIXED_DIM: "x"}).values.mean()
    adjusted = design.y - beta_x * design.data["x"].to_numpy()
    table = shrinkage(ri_fit, adjust=True)
    assert_allclose(table["no_pool"], np.bincount(codes, adjusted) / np.bincount(codes),
                    rtol=1e-12)
    assert_allclose(table["complete_pool"], adjusted.mean(), rtol=1e-12)
    # with X equal to Z (y ~ time + (time | subject)) there is nothing to adjust
    pd.testing.assert_frame_equal(shrinkage(rs_fit, adjust=True), shrinkage(rs_fit))


def test_bad_arguments_raise(ri_fit):
    with pytest.raises(hierlmm.SpecError, match="no grouping factor 'school'"):
        shrinkage(ri_fit, factor="school")
    with pytest.raises(hierlmm.SpecError, match="prob=1.5"):
        shrinkage(ri_fit, prob=1.5)


def test_mahalanobis_fraction_is_in_unit_interval_where_per_term_ratios_are_not():
    """Exact partial pooling of one Gaussian factor, m = (S^-1 + P)^-1 P d: the fraction
    along d in the S^-1 metric lies in [0, 1]; per-term ratios m_k / d_k often do not."""
    from hierlmm.report.shrinkage import mahalanobis_weight

    rng = np.random.default_rng(7)
    outside_per_term = 0
    for _ in range(500):
        q = int(rng.integers(2, 4))
        A = rng.normal(size=(q, q))
        cov = A @ A.T + 0.05 * np.eye(q)  # population covariance Sigma
        Zj = np.column_stack([np.ones(6), rng.normal(size=(6, q - 1))])
        P = Zj.T @ Zj / rng.uniform(0.1, 10.0) ** 2  # Z_j' Z_j / sigma^2
        d = rng.normal(size=q) * 3
        m = np.linalg.solve(np.linalg.inv(cov) + P, P @ d)
        w = mahalanobis_weight(m[None, :], d[None, :], cov)[0]
        assert -1e-12 <= w <= 1 + 1e-12
        ratios = m / d
        outside_per_term += bool(np.any((ratios < 0) | (ratios > 1)))
    assert outside_per_term > 50  # why a per-term fraction is not reported


def test_slopes_factor_reports_one_fraction_per_level_along_the_distance(rs_fit):
    table = shrinkage(rs_fit, factor="subject")
    assert set(table["weight_method"]) == {"mahalanobis"}
    wide = table.pivot(index="level", columns="term", values="shrinkage")
    assert_allclose(wide["Intercept"], wide["time"], rtol=0, atol=0)  # same on both terms
    cov = population_distribution(rs_fit, "subject").cov
    q = 2
    d = (table["no_pool"] - table["population"]).to_numpy().reshape(-1, q)
    m = (table["partial"] - table["population"]).to_numpy().reshape(-1, q)
    prec = np.linalg.inv(cov)
    ok = np.all(np.isfinite(d), axis=1)
    expected = np.einsum("li,ij,lj->l", d[ok], prec, m[ok]) / np.einsum(
        "li,ij,lj->l", d[ok], prec, d[ok])
    weight = table["weight_own_data"].to_numpy().reshape(-1, q)[ok, 0]
    assert_allclose(weight, expected, rtol=1e-10)
    assert_allclose(table["shrinkage"], 1 - table["weight_own_data"], rtol=0, atol=1e-15)
    assert np.all(np.isnan(table["shrinkage"].to_numpy().reshape(-1, q)[~ok]))
    shrink = 1 - expected
    assert np.all((shrink >= -0.02) & (shrink <= 1.02)), shrink
