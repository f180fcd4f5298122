"""Exact conditional draws of collapsed random effects against dense Gaussian conditioning.

The reference conditions the full joint of (b, y) with dense matrices:
``E[b | y] = G Z' V^{-1} r`` and ``Var[b | y] = G - G Z' V^{-1} Z G`` with
``G = I (x) Sigma`` and ``V = Z G Z' + sigma^2 I``.
"""

from __future__ import annotations

import numpy as np
import pytest

from hierlmm.engines.collapsed.recover import (
    conditional_covariances,
    conditional_means,
    draw_group_effects,
)
from hierlmm.engines.collapsed.stats import group_crossprod, group_suffstats
from hierlmm.errors import FitError

SIZES = np.array([1, 4, 2, 6, 0])  # one single-row level, one empty level
L, Q, P = len(SIZES), 2, 2


def _problem(seed: int):
    rng = np.random.default_rng(seed)
    codes = rng.permutation(np.repeat(np.arange(L), SIZES))
    n = len(codes)
    Z = np.column_stack([np.ones(n), rng.normal(size=n)])
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    y = 2.0 + rng.normal(size=n)
    return rng, codes, Z, X, y


def _params(rng: np.random.Generator, D: int):
    beta = rng.normal(size=(D, P))
    sigma = rng.uniform(0.3, 1.5, size=D)
    chol = np.tril(rng.normal(size=(D, Q, Q)))
    chol[:, [0, 1], [0, 1]] = np.abs(chol[:, [0, 1], [0, 1]]) + 0.2
    return beta, sigma, chol


def _dense_posterior(codes, Z, resid, chol, sigma):
    """Mean (L, q) and covariance (L*q, L*q) of b | y by dense conditioning."""
    n = len(codes)
    Zf = np.zeros((n, L * Q))
    for i in range(n):
        Zf[i, codes[i] * Q : (codes[i] + 1) * Q] = Z[i]
    G = np.kron(np.eye(L), chol @ chol.T)
    V = Zf @ G @ Zf.T + sigma**2 * np.eye(n)
    GZt = G @ Zf.T
    mean = GZt @ np.linalg.solve(V, resid)
    cov = G - GZt @ np.linalg.solve(V, GZt.T)
    return mean.reshape(L, Q), cov


def test_conditional_means_and_covariances_match_dense_conditioning():
    rng, codes, Z, X, y = _problem(1)
    stats = group_suffstats(codes, Z, X, y, L)
    beta, sigma, chol = _params(rng, D=3)
    means = conditional_means(beta=beta, sigma=sigma, chol=chol, stats=stats)
    covs = conditional_covariances(sigma=sigma, chol=chol, stats=stats)
    assert means.shape == (3, L, Q) and covs.shape == (3, L, Q, Q)
    for d in range(3):
        mean, cov = _dense_posterior(codes, Z, y - X @ beta[d], chol[d], sigma[d])
        np.testing.assert_allclose(means[d], mean, rtol=1e-8, atol=1e-12)
        for j in range(L):
            block = cov[j * Q : (j + 1) * Q, j * Q : (j + 1) * Q]
            np.testing.assert_allclose(covs[d, j], block, rtol=1e-8, atol=1e-12)
    # the empty level keeps its prior: mean 0, covariance L L'
    np.testing.assert_array_equal(means[:, 4], 0.0)
    np.testing.assert_allclose(covs[:, 4], chol @ chol.transpose(0, 2, 1), rtol=1e-12)


def test_conditional_means_with_offset_from_a_crossed_factor():
    rng, codes, Z, X, y = _problem(2)
    stats = group_suffstats(codes, Z, X, y, L)
    beta, sigma, chol = _params(rng, D=2)
    codes2 = rng.integers(0, 3, len(y))
    offsets = rng.normal(size=(2, 3))[:, codes2]  # (D, n): other factor's effects per row
    offset_zr = np.stack([group_crossprod(codes, Z, o, L) for o in offsets])
    means = conditional_means(
        beta=beta, sigma=sigma, chol=chol, stats=stats, offset_zr=offset_zr
    )
    for d in range(2):
        mean, _ = _dense_posterior(codes, Z, y - X @ beta[d] - offsets[d], chol[d], sigma[d])
        np.testing.assert_allclose(means[d], mean, rtol=1e-8, atol=1e-12)


def test_draws_match_conditional_moments_within_monte_carlo_error():
    rng, codes, Z, X, y = _problem(3)
    stats = group_suffstats(codes, Z, X, y, L)
    beta, sigma, chol = _params(rng, D=1)
    D = 20_000
    tiled = dict(beta=np.repeat(beta, D, 0), sigma=np.repeat(sigma, D), chol=np.repeat(chol, D, 0))
    draws = draw_group_effects(**tiled, stats=stats, rng=np.random.default_rng(4))
    assert draws.shape == (D, L, Q)
    mean, cov = _dense_posterior(codes, Z, y - X @ beta[0], chol[0], sigma[0])
    sd = np.sqrt(np.diag(cov)).reshape(L, Q)
    # means: 4.5 standard errors; covariances: 4.5 standard errors of a Gaussian covariance
    np.testing.assert_array_less(np.abs(draws.mean(0) - mean), 4.5 * sd / np.sqrt(D))
    flat = draws.reshape(D, L * Q)
    emp = np.cov(flat, rowvar=False)
    se = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / D)
    np.testing.assert_array_less(np.abs(emp - cov), 4.5 * se + 1e-12)


def test_draws_are_reproducible_and_independent_of_chunking():
    rng, codes, Z, X, y = _problem(5)
    stats = group_suffstats(codes, Z, X, y, L)
    params = dict(zip(("beta", "sigma", "chol"), _params(rng, D=7), strict=True))
    one = draw_group_effects(**params, stats=stats, rng=np.random.default_rng(9))
    chunked = draw_group_effects(
        **params, stats=stats, rng=np.random.default_rng(9), max_scratch=2 * L * Q * Q
    )
    np.testing.assert_array_equal(one, chunked)
    other = draw_group_effects(**params, stats=stats, rng=np.random.default_rng(10))
    assert not np.allclose(one, other)


def test_singular_covariance_draws_stay_in_its_support():
    rng, codes, Z, X, y = _problem(6)
    stats = group_suffstats(codes, Z, X, y, L)
    beta, sigma, _ = _params(rng, D=2)
    chol = np.array([[[0.9, 0.0], [0.0, 0.0]]] * 2)  # slope SD = 0
    draws = draw_group_effects(
        beta=beta, sigma=sigma, chol=chol, stats=stats, rng=np.random.default_rng(1)
    )
    covs = conditional_covariances(sigma=sigma, chol=chol, stats=stats)
    assert np.all(np.isfinite(draws))
    np.testing.assert_array_equal(draws[..., 1], 0.0)
    np.testing.assert_array_equal(covs[..., 1, :], 0.0)
    assert np.all(covs[..., 0, 0] > 0)


def test_bad_draw_shapes_and_rng_raise_fit_error():
    rng, codes, Z, X, y = _problem(7)
    stats = group_suffstats(codes, Z, X, y, L)
    beta, sigma, chol = _params(rng, D=2)
    with pytest.raises(FitError, match=r"chol has shape \(2, 3, 3\), expected \(2, 2, 2\)"):
        conditional_means(beta=beta, sigma=sigma, chol=np.zeros((2, 3, 3)), stats=stats)
    with pytest.raises(FitError, match=r"offset_zr has shape"):
        conditional_means(
            beta=beta, sigma=sigma, chol=chol, stats=stats, offset_zr=np.zeros((2, L))
        )
    with pytest.raises(FitError, match="sigma draws must be finite and positive"):
        conditional_means(beta=beta, sigma=np.array([1.0, -1.0]), chol=chol, stats=stats)
    with pytest.raises(FitError, match="numpy.random.Generator"):
        draw_group_effects(beta=beta, sigma=sigma, chol=chol, stats=stats, rng=0)
