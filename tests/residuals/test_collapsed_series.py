"""Collapsed AR(1)/CAR(1) log-likelihood against the dense multivariate normal density.

The dense covariance ``Z (I (x) Sigma) Z' + sigma^2 R(phi)`` (R block-diagonal over
series) is built here only, on small data, as the brute-force reference.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.stats import multivariate_normal

from hierlmm.design import build_design
from hierlmm.engines.collapsed.recover import conditional_covariances, conditional_means
from hierlmm.engines.collapsed.series import (
    piece_arrays,
    series_loglik,
    series_loglik_numpy,
    series_pieces,
    weighted_stats_numpy,
)
from hierlmm.residuals import get_residual
from hierlmm.spec import ResidualSpec, parse_formula

RTOL = 1e-8
MODE = "FAST_COMPILE"  # Python kernels: no C compile per case on a busy machine
SIZES = [1, 4, 2, 7, 3, 5, 9]  # unequal series, one with a single row


def _data(kind: str, seed: int) -> pd.DataFrame:
    """Unsorted rows; integer times (ar1) or irregular real times (car1)."""
    rng = np.random.default_rng(seed)
    rows = []
    for j, m in enumerate(SIZES):
        if kind == "ar1":
            times = np.arange(m) + rng.integers(0, 5)
        else:
            times = np.cumsum(rng.uniform(0.1, 2.5, size=m))
        for t in times:
            rows.append({"g": f"s{j}", "t": float(t), "x": rng.normal(), "y": rng.normal()})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _dense_loglik(df, design, kind, beta, sigma, chol, phi, offset=0.0) -> float:
    n = design.n
    group = design.groups[0]
    Z = np.zeros((n, group.n_levels * group.q))
    for i in range(n):
        j = group.codes[i]
        Z[i, j * group.q:(j + 1) * group.q] = group.Z[i]
    Sigma = np.kron(np.eye(group.n_levels), chol @ chol.T)
    res = design.residual
    order = res.order
    rank = np.empty(n)
    for s in range(res.n_series):
        rows = order[res.offsets[s]:res.offsets[s + 1]]
        rank[rows] = np.arange(rows.size)
    clock = rank if kind == "ar1" else res.time
    same = res.series[:, None] == res.series[None, :]
    R = np.where(same, phi ** np.abs(clock[:, None] - clock[None, :]), 0.0)
    cov = Z @ Sigma @ Z.T + sigma**2 * R
    return float(multivariate_normal(design.X @ beta + offset, cov).logpdf(design.y))


def _params(rng, q, p, kind):
    L = np.tril(rng.normal(size=(q, q)))
    L[np.diag_indices(q)] = np.abs(L[np.diag_indices(q)]) + 0.3
    phi = rng.uniform(-0.9, 0.9) if kind == "ar1" else rng.uniform(0.05, 0.95)
    return rng.normal(size=p), float(rng.uniform(0.3, 2.0)), L, float(phi)


def _setup(kind, q, seed):
    df = _data(kind, seed)
    formula = "y ~ x + (1 | g)" if q == 1 else "y ~ x + (x | g)"
    spec = parse_formula(formula, residual=ResidualSpec(kind, time="t"))
    design = build_design(spec, df)
    return df, design, series_pieces(design, design.groups[0], shift=0.0)


CASES = [(kind, q, seed) for kind in ("ar1", "car1") for q in (1, 2) for seed in (0, 1)]


@pytest.mark.parametrize(("kind", "q", "seed"), CASES)
def test_numpy_and_symbolic_match_dense(kind: str, q: int, seed: int) -> None:
    df, design, pieces = _setup(kind, q, seed)
    structure = get_residual(kind)
    rng = np.random.default_rng(100 + seed)
    beta, sigma, L, phi = _params(rng, q, design.p, kind)
    dense = _dense_loglik(df, design, kind, beta, sigma, L, phi)
    ref = series_loglik_numpy(beta=beta, sigma=sigma, chol=L, phi=phi, structure=structure,
                              pieces=pieces)
    assert ref == pytest.approx(dense, rel=RTOL)
    data = {k: pt.as_tensor_variable(v) for k, v in piece_arrays(pieces, kind).items()}
    value = series_loglik(beta=pt.as_tensor_variable(beta), sigma=pt.as_tensor_variable(sigma),
                          chol=pt.as_tensor_variable(L), phi=pt.as_tensor_variable(phi),
                          structure=structure, data=data, q=q, p=design.p)
    value = pytensor.function([], value, mode=MODE)()
    assert float(value) == pytest.approx(dense, rel=RTOL)


@pytest.mark.parametrize(("kind", "q"), [("ar1", 1), ("ar1", 2), ("car1", 1), ("car1", 2)])
def test_gradient_matches_finite_differences(kind: str, q: int) -> None:
    df, design, pieces = _setup(kind, q, 7)
    structure = get_residual(kind)
    beta0, sigma0, L0, phi0 = _params(np.random.default_rng(5), q, design.p, kind)
    theta = [pt.dvector("beta"), pt.dscalar("sigma"), pt.dmatrix("L"), pt.dscalar("phi")]
    data = {k: pt.as_tensor_variable(v) for k, v in piece_arrays(pieces, kind).items()}
    value = series_loglik(beta=theta[0], sigma=theta[1], chol=theta[2], phi=theta[3],
                          structure=structure, data=data, q=q, p=design.p)
    f = pytensor.function(theta, [value, *pt.grad(value, theta)], mode=MODE)
    point = [beta0, np.float64(sigma0), L0, np.float64(phi0)]
    _, *grads = f(*point)
    h = 1e-6
    for i, x in enumerate(point):
        flat = np.atleast_1d(np.array(x, dtype=np.float64)).ravel()
        for e in range(flat.size):
            if i == 2 and np.unravel_index(e, L0.shape)[1] > np.unravel_index(e, L0.shape)[0]:
                continue  # upper triangle of L is not used
            up, down = flat.copy(), flat.copy()
            up[e] += h
            down[e] -= h
            shape = np.shape(x)
            args_up = [*point]
            args_down = [*point]
            args_up[i] = up.reshape(shape) if shape else np.float64(up[0])
            args_down[i] = down.reshape(shape) if shape else np.float64(down[0])
            fd = (f(*args_up)[0] - f(*args_down)[0]) / (2 * h)
            analytic = np.atleast_1d(grads[i]).ravel()[e]
            assert analytic == pytest.approx(fd, rel=1e-5, abs=1e-6), (i, e)


@pytest.mark.parametrize("kind", ["ar1", "car1"])
def test_offset_path_matches_dense(kind: str) -> None:
    """Other factors' sampled effects as an offset: ``r`` and ``W r`` formed per row."""
    df, design, pieces = _setup(kind, 2, 3)
    structure = get_residual(kind)
    rng = np.random.default_rng(9)
    beta, sigma, L, phi = _params(rng, 2, design.p, kind)
    offset = rng.normal(size=design.n)  # user row order
    dense = _dense_loglik(df, design, kind, beta, sigma, L, phi, offset=offset)
    order = pieces.order
    Zs, Xs, ys = design.groups[0].Z[order], design.X[order], design.y[order]
    ref = series_loglik_numpy(beta=beta, sigma=sigma, chol=L, phi=phi, structure=structure,
                              pieces=pieces, offset_sorted=offset[order], Z_sorted=Zs,
                              X_sorted=Xs, y_sorted=ys)
    assert ref == pytest.approx(dense, rel=RTOL)
    data = {k: pt.as_tensor_variable(v) for k, v in piece_arrays(pieces, kind).items()}
    obs = {"order": order, "level": pieces.level, "Z": Zs, "X": Xs, "y": ys,
           "offset": pt.as_tensor_variable(offset)}
    obs = {k: pt.as_tensor_variable(v) for k, v in obs.items()}
    value = series_loglik(beta=pt.as_tensor_variable(beta), sigma=pt.as_tensor_variable(sigma),
                          chol=pt.as_tensor_variable(L), phi=pt.as_tensor_variable(phi),
                          structure=structure, data=data, q=2, p=design.p, obs=obs)
    assert float(pytensor.function([], value, mode=MODE)()) == pytest.approx(dense, rel=RTOL)


@pytest.mark.parametrize("kind", ["ar1", "car1"])
def test_effects_conditional_mean_and_covariance_use_r(kind: str) -> None:
    """The exact effects after sampling: E[b | y] and Var[b | y] with W-weighted stats."""
    df, design, pieces = _setup(kind, 2, 4)
    beta, sigma, L, phi = _params(np.random.default_rng(11), 2, design.p, kind)
    stats = weighted_stats_numpy(pieces, get_residual(kind), phi)[0]
    mean = conditional_means(beta=beta[None], sigma=np.array([sigma]), chol=L[None],
                             stats=stats)[0]
    cov = conditional_covariances(sigma=np.array([sigma]), chol=L[None], stats=stats)[0]
    g = design.groups[0]
    Z = np.zeros((design.n, g.n_levels * 2))
    for i in range(design.n):
        Z[i, 2 * g.codes[i]:2 * g.codes[i] + 2] = g.Z[i]
    Sigma = np.kron(np.eye(g.n_levels), L @ L.T)
    res = design.residual
    rank = np.empty(design.n)
    for s in range(res.n_series):
        rows = res.order[res.offsets[s]:res.offsets[s + 1]]
        rank[rows] = np.arange(rows.size)
    clock = rank if kind == "ar1" else res.time
    R = np.where(res.series[:, None] == res.series[None, :],
                 phi ** np.abs(clock[:, None] - clock[None, :]), 0.0)
    V = Z @ Sigma @ Z.T + sigma**2 * R
    dense_mean = Sigma @ Z.T @ np.linalg.solve(V, design.y - design.X @ beta)
    dense_cov = Sigma - Sigma @ Z.T @ np.linalg.solve(V, Z @ Sigma)
    np.testing.assert_allclose(mean.ravel(), dense_mean, rtol=1e-8, atol=1e-10)
    for j in range(g.n_levels):
        block = dense_cov[2 * j:2 * j + 2, 2 * j:2 * j + 2]
        np.testing.assert_allclose(cov[j], block, rtol=1e-8, atol=1e-10)
