"""hierlmm.testing: the SBC pieces checked against known distributions (no sampling)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import hierlmm
from hierlmm.design import build_design
from hierlmm.families import get_family
from hierlmm.inference import fit as fit_module
from hierlmm.model import names
from hierlmm.model.priors import prior_inputs
from hierlmm.testing import (
    lkj_corr,
    rank_of,
    reference_units,
    simulate_lmm_prior,
    uniformity_pvalue,
)


@pytest.mark.parametrize(("q", "eta"), [(2, 2.0), (3, 1.0), (3, 4.0)])
def test_lkj_draws_have_the_lkj_marginal(q: int, eta: float) -> None:
    """Each off-diagonal entry of LKJCorr(eta) in dimension q has (r + 1) / 2 ~ Beta(b, b),
    b = eta - 1 + q / 2 (Lewandowski et al. 2009); 3,000 draws, KS at p > 0.001."""
    rng = np.random.default_rng(1)
    draws = np.stack([lkj_corr(q, eta, rng) for _ in range(3000)])
    assert np.allclose(draws, np.swapaxes(draws, 1, 2))
    assert np.all(np.linalg.eigvalsh(draws) > 0)
    b = eta - 1 + q / 2
    for i, j in zip(*np.triu_indices(q, 1), strict=True):
        p = stats.kstest((draws[:, i, j] + 1) / 2, stats.beta(b, b).cdf).pvalue
        assert p > 1e-3, (i, j, p)


def test_uniformity_pvalue_accepts_uniform_and_rejects_shifted_ranks() -> None:
    rng = np.random.default_rng(2)
    uniform = rng.integers(0, 101, size=200)
    assert uniformity_pvalue(uniform, 100, 10) > 0.01
    shifted = np.minimum(rng.integers(0, 101, size=200), rng.integers(0, 101, size=200))
    assert uniformity_pvalue(shifted, 100, 10) < 1e-6
    peaked = rng.binomial(100, 0.5, size=200)  # a posterior too wide: ranks pile mid-range
    assert uniformity_pvalue(peaked, 100, 10) < 1e-6
    draws = np.array([[0.1, 0.9, 0.2, 0.7], [0.3, 0.6, 0.4, 0.8]])  # kept: 0.1 0.2 | 0.3 0.4
    assert (rank_of(0.35, draws, 2), rank_of(0.5, draws, 1)) == (3, 4)


@pytest.fixture(scope="module")
def small_design():
    data = pd.DataFrame({"t": np.tile(np.arange(4.0) * 3, 5), "x": np.arange(20.0) % 7,
                         "g": np.repeat(list("abcde"), 4), "y": np.arange(20.0)})
    return build_design(hierlmm.parse_formula("y ~ t + x + (t | g)"), data)


def test_simulated_parameters_follow_the_documented_prior(small_design) -> None:
    """4,000 draws: SDs HalfNormal(2.5 / s_z), slopes Normal(0, 2.5 / s_x), sigma
    Exponential(mean 1), centred intercept Normal(0, 2.5); KS at p > 0.001."""
    rng = np.random.default_rng(3)
    truths = pd.DataFrame([simulate_lmm_prior(small_design, rng)[1] for _ in range(4000)])
    s_t = small_design.X[:, 1].std(ddof=1)
    s_x = small_design.X[:, 2].std(ddof=1)
    checks = {
        "sd(Intercept|g)": stats.halfnorm(scale=2.5).cdf,
        "sd(t|g)": stats.halfnorm(scale=2.5 / s_t).cdf,
        "t": stats.norm(scale=2.5 / s_t).cdf, "x": stats.norm(scale=2.5 / s_x).cdf,
        "sigma": stats.expon(scale=1.0).cdf,
    }
    for name, cdf in checks.items():
        assert stats.kstest(truths[name], cdf).pvalue > 1e-3, name
    means = small_design.X.mean(axis=0)
    centred = truths["Intercept"] + truths["t"] * means[1] + truths["x"] * means[2]
    assert stats.kstest(centred, stats.norm(scale=2.5).cdf).pvalue > 1e-3
    icc = truths["sd(Intercept|g)"] ** 2 / (truths["sd(Intercept|g)"] ** 2 + truths["sigma"] ** 2)
    np.testing.assert_allclose(truths["icc(g)"], icc, rtol=1e-12)


def test_simulated_response_has_the_model_covariance(small_design) -> None:
    """Given the drawn parameters, rows 0 and 1 (same level) have variances
    ``v_i = z_i' S z_i + sigma^2`` and covariance ``z_0' S z_1``: over 4,000 draws the
    standardized square ``e_0^2 / v_0`` averages 1 (SE 0.022) and the standardized
    product ``e_0 e_1 / sqrt(v_0 v_1)`` averages the implied correlation (SE < 0.023);
    both within 4 SE."""
    rng = np.random.default_rng(4)
    g = small_design.groups[0]
    assert g.codes[0] == g.codes[1]
    squares, excess = [], []
    for _ in range(4000):
        y, truth = simulate_lmm_prior(small_design, rng)
        sd = np.array([truth["sd(Intercept|g)"], truth["sd(t|g)"]])
        r = truth["corr(Intercept,t|g)"]
        cov_b = np.outer(sd, sd) * np.array([[1, r], [r, 1]])
        e = y - small_design.X @ np.array([truth[k] for k in small_design.fixed_names])
        v0 = g.Z[0] @ cov_b @ g.Z[0] + truth["sigma"] ** 2
        v1 = g.Z[1] @ cov_b @ g.Z[1] + truth["sigma"] ** 2
        squares.append(e[0] ** 2 / v0)
        excess.append((e[0] * e[1] - g.Z[0] @ cov_b @ g.Z[1]) / np.sqrt(v0 * v1))
    assert abs(np.mean(squares) - 1) < 4 * np.sqrt(2 / 4000)
    assert abs(np.mean(excess)) < 4 * np.sqrt(2 / 4000)


def test_reference_units_fix_the_prior_whatever_the_response(small_design) -> None:
    family = get_family("gaussian")
    with reference_units():
        scaled, scaling = fit_module.standardize(small_design, family)
        inputs = prior_inputs(scaled, hierlmm.PriorSpec(), family)
    assert (scaling.y_loc, scaling.y_scale) == (0.0, 1.0)
    np.testing.assert_array_equal(scaled.y, small_design.y)
    np.testing.assert_allclose(inputs[names.PRIOR_BETA_SD], 2.5)  # every column, s_x = 1
    np.testing.assert_allclose(inputs[names.PRIOR_BETA_MU], 0.0)
    np.testing.assert_allclose(inputs[names.prior_sd_scale("g")], 2.5)
    assert float(inputs[names.prior(names.SIGMA, "rate")]) == 1.0
    # outside the block the data's location and scale are back
    _, scaling = fit_module.standardize(small_design, family)
    assert scaling.y_scale == pytest.approx(small_design.y.std(ddof=1))
