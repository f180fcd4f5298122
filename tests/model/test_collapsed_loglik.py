"""The collapsed Gaussian log-likelihood against the dense multivariate normal density.

The dense covariance ``sum_k Z_k (I (x) Sigma_k) Z_k' + sigma^2 I`` is built here only, on
small data, as the brute-force reference.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.stats import multivariate_normal

from hierlmm.engines.collapsed.likelihood import (
    collapsed_loglik,
    collapsed_loglik_by_group,
    symbolic_stats,
)
from hierlmm.engines.collapsed.reference import (
    collapsed_loglik_by_group_numpy,
    collapsed_loglik_numpy,
)
from hierlmm.engines.collapsed.stats import GroupSuffStats, group_suffstats
from hierlmm.errors import SpecError

RTOL = 1e-8
# level sizes: unequal, one level with a single row, one level without rows
SIZES = np.array([1, 4, 2, 7, 3, 0, 5])


def _columns(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """Intercept column then k - 1 standard-normal columns, shape (n, k)."""
    return np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))])


def _chol(rng: np.random.Generator, q: int) -> np.ndarray:
    """Random lower-triangular factor with positive diagonal, shape (q, q)."""
    L = np.tril(rng.normal(size=(q, q)))
    L[np.diag_indices(q)] = np.abs(L[np.diag_indices(q)]) + 0.3
    return L


def _dense_z(codes: np.ndarray, Z: np.ndarray, n_levels: int) -> np.ndarray:
    """Dense (n, n_levels * q) random-effects design, level-major columns."""
    n, q = Z.shape
    Zf = np.zeros((n, n_levels * q))
    for i in range(n):
        Zf[i, codes[i] * q : (codes[i] + 1) * q] = Z[i]
    return Zf


def _dense_cov(codes, Z, n_levels, chol, sigma) -> np.ndarray:
    Zf = _dense_z(codes, Z, n_levels)
    G = np.kron(np.eye(n_levels), chol @ chol.T)
    return Zf @ G @ Zf.T + sigma**2 * np.eye(len(codes))


def _dense_by_group(y, mean, cov, codes, n_levels) -> np.ndarray:
    """Dense log-density of each level's rows (levels are independent blocks)."""
    out = np.zeros(n_levels)
    for j in range(n_levels):
        rows = np.flatnonzero(codes == j)
        if rows.size:
            block = cov[np.ix_(rows, rows)]
            out[j] = multivariate_normal(mean[rows], block).logpdf(y[rows])
    return out


def _single_factor(q: int, p: int, seed: int):
    rng = np.random.default_rng(seed)
    codes = rng.permutation(np.repeat(np.arange(len(SIZES)), SIZES))  # unsorted rows
    n = len(codes)
    Z, X = _columns(rng, n, q), _columns(rng, n, p)
    y = 3.0 + 2.0 * rng.normal(size=n)
    beta, sigma, chol = rng.normal(size=p), 0.4 + rng.uniform(), _chol(rng, q)
    return codes, Z, X, y, beta, sigma, chol


def _compile(stats, codes, Z, X, y, q, p):
    """Compiled ``(beta, sigma, chol, offset) -> (total_a, total_b, by_group)``."""
    beta, sigma = pt.vector("beta", shape=(p,)), pt.scalar("sigma")
    chol, offset = pt.matrix("chol", shape=(q, q)), pt.vector("offset")
    obs = dict(codes=codes, Z=Z, y=y, X=X)
    outputs = [
        collapsed_loglik(beta=beta, sigma=sigma, chol=chol, stats=stats),
        collapsed_loglik(beta=beta, sigma=sigma, chol=chol, stats=stats, offset=offset, **obs),
        collapsed_loglik_by_group(
            beta=beta, sigma=sigma, chol=chol, stats=stats, offset=offset, **obs
        ),
    ]
    return pytensor.function([beta, sigma, chol, offset], outputs)


@pytest.mark.parametrize(("q", "p"), [(1, 1), (1, 3), (2, 1), (2, 2), (3, 2), (3, 3)])
def test_single_factor_matches_dense_mvn(q, p):
    codes, Z, X, y, beta, sigma, chol = _single_factor(q, p, seed=10 * q + p)
    L = len(SIZES)
    stats = group_suffstats(codes, Z, X, y, L)
    cov = _dense_cov(codes, Z, L, chol, sigma)
    dense = multivariate_normal(X @ beta, cov).logpdf(y)
    dense_groups = _dense_by_group(y, X @ beta, cov, codes, L)

    np_total = collapsed_loglik_numpy(beta=beta, sigma=sigma, chol=chol, stats=stats)
    np_groups = collapsed_loglik_by_group_numpy(
        beta=beta, sigma=sigma, chol=chol, stats=stats, codes=codes, Z=Z, y=y, X=X
    )
    np.testing.assert_allclose(np_total, dense, rtol=RTOL)
    np.testing.assert_allclose(np_groups, dense_groups, rtol=RTOL, atol=1e-10)
    assert np_groups[5] == 0.0  # the level without rows

    f = _compile(stats, codes, Z, X, y, q, p)
    total_a, total_b, by_group = f(beta, sigma, chol, np.zeros(len(y)))
    np.testing.assert_allclose([total_a, total_b], [dense, dense], rtol=RTOL)
    np.testing.assert_allclose(by_group, dense_groups, rtol=RTOL, atol=1e-10)


def test_two_crossed_factors_offset_matches_dense():
    rng = np.random.default_rng(7)
    n, L1, L2, q1, p = 40, 6, 4, 2, 2
    codes1 = rng.integers(0, L1, n)
    codes1[:L1] = np.arange(L1)
    codes2 = rng.integers(0, L2, n)  # crossed with factor 1
    Z1, X = _columns(rng, n, q1), _columns(rng, n, p)
    b2 = rng.normal(size=L2)  # sampled random intercepts of factor 2
    offset = b2[codes2]
    y = 1.0 + rng.normal(size=n) + offset
    beta, sigma, chol = rng.normal(size=p), 0.7, _chol(rng, q1)
    stats = group_suffstats(codes1, Z1, X, y, L1)

    cov = _dense_cov(codes1, Z1, L1, chol, sigma)
    dense = multivariate_normal(X @ beta, cov).logpdf(y - offset)
    dense_groups = _dense_by_group(y - offset, X @ beta, cov, codes1, L1)
    obs = dict(codes=codes1, Z=Z1, y=y, X=X)
    np_total = collapsed_loglik_numpy(
        beta=beta, sigma=sigma, chol=chol, stats=stats, offset=offset, **obs
    )
    np.testing.assert_allclose(np_total, dense, rtol=RTOL)

    _, total_b, by_group = _compile(stats, codes1, Z1, X, y, q1, p)(beta, sigma, chol, offset)
    np.testing.assert_allclose(total_b, dense, rtol=RTOL)
    np.testing.assert_allclose(by_group, dense_groups, rtol=RTOL)


def test_nested_inner_factor_collapsed_given_outer_effects():
    rng = np.random.default_rng(11)
    inner_per_outer = [2, 3, 1]  # outer levels a with their inner levels a:b
    outer_of_inner = np.repeat(np.arange(3), inner_per_outer)  # (6,)
    L_inner = len(outer_of_inner)
    codes_inner = np.repeat(np.arange(L_inner), [3, 1, 4, 2, 5, 2])
    codes_outer = outer_of_inner[codes_inner]
    n, q, p = len(codes_inner), 2, 2
    Z, X = _columns(rng, n, q), _columns(rng, n, p)
    b_outer = rng.normal(size=3)
    offset = b_outer[codes_outer]
    y = rng.normal(size=n) + offset
    beta, sigma, chol = rng.normal(size=p), 0.5, _chol(rng, q)
    stats = group_suffstats(codes_inner, Z, X, y, L_inner)

    cov = _dense_cov(codes_inner, Z, L_inner, chol, sigma)
    dense = multivariate_normal(X @ beta, cov).logpdf(y - offset)
    obs = dict(codes=codes_inner, Z=Z, y=y, X=X)
    np_total = collapsed_loglik_numpy(
        beta=beta, sigma=sigma, chol=chol, stats=stats, offset=offset, **obs
    )
    np.testing.assert_allclose(np_total, dense, rtol=RTOL)
    _, total_b, by_group = _compile(stats, codes_inner, Z, X, y, q, p)(
        beta, sigma, chol, offset
    )
    np.testing.assert_allclose(total_b, dense, rtol=RTOL)
    np.testing.assert_allclose(by_group.sum(), dense, rtol=RTOL)


def _fd_gradient(fun, theta: np.ndarray, h: float = 1e-6) -> np.ndarray:
    grad = np.empty_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = h * max(1.0, abs(theta[i]))
        grad[i] = (fun(theta + step) - fun(theta - step)) / (2 * step[i])
    return grad


@pytest.mark.parametrize("use_offset", [False, True])
def test_gradient_matches_finite_differences(use_offset):
    q, p = (2, 2) if use_offset else (3, 2)
    codes, Z, X, y, beta, sigma, chol = _single_factor(q, p, seed=5)
    n = len(y)
    offset = np.random.default_rng(6).normal(size=n) if use_offset else None
    stats = group_suffstats(codes, Z, X, y, len(SIZES))
    obs = dict(codes=codes, Z=Z, y=y, X=X) if use_offset else {}

    def unpack(theta):
        parts = np.split(theta, np.cumsum([p, 1, q * q]))
        return parts[0], parts[1][0], parts[2].reshape(q, q), (parts[3] if use_offset else None)

    def fun(theta):
        b, s, c, o = unpack(theta)
        return collapsed_loglik_numpy(beta=b, sigma=s, chol=c, stats=stats, offset=o, **obs)

    tb, ts = pt.vector("beta", shape=(p,)), pt.scalar("sigma")
    tc, to = pt.matrix("chol", shape=(q, q)), pt.vector("offset", shape=(n,))
    ll = collapsed_loglik(
        beta=tb, sigma=ts, chol=tc, stats=stats, offset=to if use_offset else None, **obs
    )
    wrt = [tb, ts, tc, to] if use_offset else [tb, ts, tc]
    f = pytensor.function(wrt, [ll, *pytensor.grad(ll, wrt)], on_unused_input="ignore")
    args = [beta, sigma, chol] + ([offset] if use_offset else [])
    value, *grads = f(*args)
    analytic = np.concatenate([np.ravel(g) for g in grads])
    theta = np.concatenate([np.ravel(a) for a in args])
    np.testing.assert_allclose(value, fun(theta), rtol=RTOL)
    assert np.all(np.isfinite(analytic))
    np.testing.assert_allclose(analytic, _fd_gradient(fun, theta), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "chol", [np.array([[0.8, 0.0], [0.0, 0.0]]), np.array([[1.0, 0.0], [0.5, 0.0]])],
    ids=["zero-sd", "perfect-correlation"],
)
def test_singular_covariance_gives_finite_loglik_and_gradient(chol):
    codes, Z, X, y, beta, sigma, _ = _single_factor(2, 2, seed=3)
    stats = group_suffstats(codes, Z, X, y, len(SIZES))
    dense = multivariate_normal(X @ beta, _dense_cov(codes, Z, len(SIZES), chol, sigma)).logpdf(y)
    np_total = collapsed_loglik_numpy(beta=beta, sigma=sigma, chol=chol, stats=stats)
    np.testing.assert_allclose(np_total, dense, rtol=RTOL)

    tb, ts, tc = pt.vector("beta"), pt.scalar("sigma"), pt.matrix("chol", shape=(2, 2))
    ll = collapsed_loglik(beta=tb, sigma=ts, chol=tc, stats=stats)
    value, *grads = pytensor.function([tb, ts, tc], [ll, *pytensor.grad(ll, [tb, ts, tc])])(
        beta, sigma, chol
    )
    np.testing.assert_allclose(value, dense, rtol=RTOL)
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_numpy_reference_broadcasts_over_draws():
    codes, Z, X, y, beta, sigma, chol = _single_factor(2, 3, seed=8)
    stats = group_suffstats(codes, Z, X, y, len(SIZES))
    rng = np.random.default_rng(9)
    betas = beta + rng.normal(size=(4, 3))
    sigmas = sigma * rng.uniform(0.5, 2.0, size=4)
    chols = np.stack([_chol(rng, 2) for _ in range(4)])
    offsets = rng.normal(size=(4, len(y)))
    obs = dict(codes=codes, Z=Z, y=y, X=X)
    batched = collapsed_loglik_numpy(beta=betas, sigma=sigmas, chol=chols, stats=stats)
    batched_b = collapsed_loglik_by_group_numpy(
        beta=betas, sigma=sigmas, chol=chols, stats=stats, offset=offsets, **obs
    )
    assert batched.shape == (4,) and batched_b.shape == (4, len(SIZES))
    for d in range(4):
        one = collapsed_loglik_numpy(beta=betas[d], sigma=sigmas[d], chol=chols[d], stats=stats)
        one_b = collapsed_loglik_numpy(
            beta=betas[d], sigma=sigmas[d], chol=chols[d], stats=stats, offset=offsets[d], **obs
        )
        np.testing.assert_allclose(batched[d], one, rtol=1e-12)
        np.testing.assert_allclose(batched_b[d].sum(), one_b, rtol=1e-12)


def test_symbolic_stats_give_the_same_value_as_constants():
    codes, Z, X, y, beta, sigma, chol = _single_factor(2, 2, seed=4)
    stats = group_suffstats(codes, Z, X, y, len(SIZES))
    created: list[str] = []

    def make_data(name, value, shape):
        created.append(name)
        return pytensor.shared(value, name=name, shape=shape)

    shared = symbolic_stats(stats, make_data)
    assert created == ["ZtZ", "ZtX", "Zty", "n", "XtX", "Xty", "yty"]
    # q and p static, the number of levels dynamic (one compiled graph for any L)
    assert shared.ZtZ.type.shape == (None, 2, 2)
    assert shared.ZtX.type.shape == (None, 2, 2)
    assert shared.Zty.type.shape == (None, 2)
    tb, ts, tc = pt.vector("beta"), pt.scalar("sigma"), pt.matrix("chol", shape=(2, 2))
    ll = collapsed_loglik(beta=tb, sigma=ts, chol=tc, stats=shared)
    value = pytensor.function([tb, ts, tc], ll)(beta, sigma, chol)
    expected = collapsed_loglik_numpy(beta=beta, sigma=sigma, chol=chol, stats=stats)
    np.testing.assert_allclose(value, expected, rtol=RTOL)


def test_offset_without_observation_arrays_raises():
    codes, Z, X, y, *_ = _single_factor(1, 1, seed=1)
    stats = group_suffstats(codes, Z, X, y, len(SIZES))
    with pytest.raises(SpecError, match="codes, Z, y, X"):
        collapsed_loglik(
            beta=pt.vector("b"), sigma=pt.scalar("s"), chol=pt.matrix("c"), stats=stats,
            offset=pt.vector("o"),
        )  # fmt: skip
    with pytest.raises(SpecError, match="Z, y"):
        collapsed_loglik_numpy(
            beta=np.zeros(1), sigma=1.0, chol=np.eye(1), stats=stats, offset=np.zeros(len(y)),
            codes=codes, X=X,
        )  # fmt: skip


def test_unknown_number_of_effects_raises():
    codes, Z, X, y, *_ = _single_factor(2, 1, seed=2)
    stats = group_suffstats(codes, Z, X, y, len(SIZES))
    symbolic = GroupSuffStats(
        ZtZ=pt.tensor3("ZtZ"), ZtX=stats.ZtX, Zty=stats.Zty, n=stats.n, XtX=stats.XtX,
        Xty=stats.Xty, yty=stats.yty,
    )  # fmt: skip
    with pytest.raises(SpecError, match="static number of effects"):
        collapsed_loglik(beta=pt.vector("b"), sigma=1.0, chol=pt.matrix("c"), stats=symbolic)
