"""Population-average means at fixed parameters: quadrature against ground truths.

- adaptive Gauss-Hermite (20 nodes) against 150-node plain Gauss-Hermite, and the
  closed forms (probit, log) against scrambled-Sobol QMC over the full effect vector;
- the quadrature against brute-force Monte Carlo (5e7 subjects) to 1e-4, for
  correlated random intercepts and slopes plus a crossed factor;
- a simulated population of 10^6 subjects, each observed at both covariate values
  (common random numbers): its empirical risk difference matches the quadrature's to
  1e-3;
- attenuation: with an intercept SD > 0 the conditional log-odds ratio is larger in
  magnitude than the marginal one; with SD = 0 they agree to 1e-8.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import expit
from scipy.stats import norm

from hierlmm.model.marginal_integrals import (
    CHUNK,
    effect_variance,
    population_mean,
    population_mean_qmc,
)

# correlated intercept + slope (visit) of subjects, and a crossed site intercept
L_SUBJECT = np.linalg.cholesky(np.array([[1.5**2, -0.3 * 1.5 * 0.4], [-0.3 * 1.5 * 0.4, 0.4**2]]))
L_SITE = np.array([[0.5]])
BETA = np.array([-0.4, 0.35])  # intercept, visit
VISITS = np.array([0.0, 2.0, 4.0])


def _rows(visits: np.ndarray):
    Z_subject = np.column_stack([np.ones_like(visits), visits])
    Z_site = np.ones((visits.size, 1))
    eta = BETA[0] + BETA[1] * visits
    return eta, [Z_subject, Z_site], [L_SUBJECT, L_SITE]


def test_logit_quadrature_matches_adaptive_quad_to_1e10() -> None:
    """Including large SDs, where Gauss-Hermite's error reaches 1e-3 (a sharp step)."""
    eta = np.linspace(-5, 5, 7)
    for sd in (0.0, 0.1, 1.0, 3.0, 6.0, 10.0):
        got = population_mean("logit", eta, np.full(eta.size, sd**2))
        for value, e in zip(got, eta, strict=True):
            want = expit(e) if sd == 0 else quad(
                lambda z, e=e, sd=sd: expit(e + sd * z) * norm.pdf(z), -40, 40,
                points=[-e / sd], epsabs=1e-14, epsrel=1e-13, limit=500,
            )[0]
            assert abs(value - want) < 1e-10


def test_logit_arrays_across_chunks_equal_the_values_one_at_a_time() -> None:
    """Arrays are integrated CHUNK values at a time; shape (2, CHUNK) spans chunks."""
    rng = np.random.default_rng(5)
    eta, variance = rng.normal(0, 3, (2, CHUNK)), rng.uniform(0, 30, (2, CHUNK))
    got = population_mean("logit", eta, variance)
    assert got.shape == (2, CHUNK)
    for i, j in [(0, 0), (0, CHUNK - 1), (1, 0), (1, 7), (1, CHUNK - 1)]:
        assert got[i, j] == population_mean("logit", eta[i, j], variance[i, j])


@pytest.mark.parametrize("link", ["logit", "probit", "log"])
def test_one_dimensional_reduction_matches_qmc_over_all_effects(link: str) -> None:
    eta, Z, roots = _rows(VISITS)
    got = population_mean(link, eta, effect_variance(Z, roots))
    qmc = population_mean_qmc(link, eta, Z, roots, m_log2=16, seed=1)
    np.testing.assert_allclose(got, qmc, rtol=2e-3 if link == "log" else 0, atol=1e-4)


@pytest.mark.slow
def test_quadrature_matches_brute_force_monte_carlo() -> None:
    eta, Z, roots = _rows(VISITS)
    got = population_mean("logit", eta, effect_variance(Z, roots))
    rng = np.random.default_rng(20240)
    total, n_chunks, chunk = np.zeros(VISITS.size), 25, 2_000_000
    for _ in range(n_chunks):
        b = rng.standard_normal((chunk, 2)) @ L_SUBJECT.T  # (chunk, 2)
        site = rng.standard_normal(chunk) * L_SITE[0, 0]
        u = b[:, :1] + b[:, 1:] * VISITS + site[:, None]  # (chunk, 3)
        total += expit(eta + u).sum(axis=0)
    mc = total / (n_chunks * chunk)  # SE about 3e-5
    np.testing.assert_allclose(got, mc, atol=1e-4, rtol=0)


def test_million_subject_population_risk_difference() -> None:
    eta, Z, roots = _rows(np.array([0.0, 4.0]))
    mu = population_mean("logit", eta, effect_variance(Z, roots))
    rng = np.random.default_rng(7)
    n = 1_000_000
    b = rng.standard_normal((n, 2)) @ L_SUBJECT.T
    u0 = b[:, 0] + rng.standard_normal(n) * L_SITE[0, 0]
    p0, p1 = expit(eta[0] + u0), expit(eta[1] + u0 + 4.0 * b[:, 1])
    uniform = rng.random(n)  # each subject's outcome at both visits (common random numbers)
    empirical = (uniform < p1).mean() - (uniform < p0).mean()
    assert abs(empirical - (mu[1] - mu[0])) < 1e-3


def _log_odds_ratio(p0, p1):
    return np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0))


def test_attenuation_of_the_log_odds_ratio() -> None:
    eta = np.array([-0.5, 0.7])  # x = 0 and x = 1: conditional log-OR 1.2
    conditional = _log_odds_ratio(*expit(eta))
    for sd in (0.5, 1.5, 3.0):
        marginal = _log_odds_ratio(*population_mean("logit", eta, np.full(2, sd**2)))
        assert abs(conditional) > abs(marginal) > 0
    marginal = _log_odds_ratio(*population_mean("logit", eta, np.zeros(2)))
    assert abs(marginal - conditional) < 1e-8
