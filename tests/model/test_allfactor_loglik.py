"""The all-factor marginal log-likelihood against the dense multivariate normal density.

Crossed, nested and partially crossed designs with q = 1 and 2; the dense covariance
``sum_k Z_k (I (x) Sigma_k) Z_k' + sigma^2 I`` is built here only, on small data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

from hierlmm.design import build_design
from hierlmm.engines.collapsed.allfactor import (
    Response,
    allfactor_loglik,
    allfactor_loglik_grad,
    draw_all_effects,
    fixed_effects_normal,
)
from hierlmm.engines.collapsed.blocks import factor_blocks, order_groups, response_blocks
from hierlmm.spec import parse_formula

RTOL = 1e-8


def _frame(kind: str, rng: np.random.Generator) -> pd.DataFrame:
    """Small data: crossed (every a meets every b twice), nested, partially crossed."""
    if kind == "crossed":
        a, b = np.meshgrid(np.arange(7), np.arange(5), indexing="ij")
        a, b = np.repeat(a.ravel(), 2), np.repeat(b.ravel(), 2)
    elif kind == "nested":
        a = np.repeat(np.arange(12), 4)  # 12 samples, 3 per batch
        b = a // 3
    else:  # partially crossed: each a meets a random subset of b, some b unseen together
        a = np.repeat(np.arange(9), 5)
        b = rng.integers(0, 6, size=a.size)
        a = np.concatenate([a, [9, 9]])  # one level with two rows only
        b = np.concatenate([b, [6, 6]])
    n = a.size
    return pd.DataFrame({"a": [f"a{v}" for v in a], "b": [f"b{v}" for v in b],
                         "c": [f"c{v % 3}" for v in range(n)],
                         "x": rng.normal(size=n), "y": rng.normal(size=n)})


FORMULAS = {
    1: "y ~ 1 + x + (1 | a) + (1 | b)",
    2: "y ~ 1 + x + (1 + x | a) + (1 + x | b)",
    3: "y ~ 1 + x + (1 + x | a) + (1 | b) + (1 | c)",
}


def _design(kind: str, q: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return build_design(parse_formula(FORMULAS[q]), _frame(kind, rng))


def _chols(design, rng) -> list[np.ndarray]:
    out = []
    for g in order_groups(design.groups):
        L = np.tril(rng.normal(scale=0.5, size=(g.q, g.q)))
        L[np.diag_indices(g.q)] = np.abs(L[np.diag_indices(g.q)]) + 0.3
        out.append(L)
    return out


def _dense_cov(design, sigma, chols) -> np.ndarray:
    V = sigma**2 * np.eye(design.n)
    for g, L in zip(order_groups(design.groups), chols, strict=True):
        Zf = np.zeros((design.n, g.n_levels * g.q))
        for i in range(design.n):
            Zf[i, g.codes[i] * g.q:(g.codes[i] + 1) * g.q] = g.Z[i]
        V += Zf @ np.kron(np.eye(g.n_levels), L @ L.T) @ Zf.T
    return V


def _dense(design, beta, sigma, chols) -> float:
    V = _dense_cov(design, sigma, chols)
    return float(multivariate_normal(design.X @ beta, V).logpdf(design.y))


def _setup(kind, q, seed=0):
    design = _design(kind, q, seed)
    rng = np.random.default_rng(seed + 1)
    blocks = factor_blocks(design)
    resp = Response(*response_blocks(design, design.y))
    beta = rng.normal(size=design.p)
    return design, blocks, resp, beta, 0.7, _chols(design, rng)


CASES = [(k, q) for k in ("crossed", "nested", "partial") for q in (1, 2, 3)]


@pytest.mark.parametrize(("kind", "q"), CASES)
def test_loglik_equals_dense_mvn(kind, q):
    design, blocks, resp, beta, sigma, chols = _setup(kind, q)
    got = allfactor_loglik(blocks, resp, beta, sigma, chols)
    want = _dense(design, beta, sigma, chols)
    assert got == pytest.approx(want, rel=RTOL)
    value = allfactor_loglik_grad(blocks, resp, beta, sigma, chols)[0]
    assert value == pytest.approx(want, rel=RTOL)


def _fd(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e.flat[i] = h
        g.flat[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize(("kind", "q"), CASES)
def test_gradient_matches_finite_differences(kind, q):
    _, blocks, resp, beta, sigma, chols = _setup(kind, q)
    _, g_beta, g_sigma, g_chols = allfactor_loglik_grad(blocks, resp, beta, sigma, chols)

    def f(beta=beta, sigma=sigma, chols=chols):
        return allfactor_loglik(blocks, resp, beta, sigma, chols)

    np.testing.assert_allclose(g_beta, _fd(lambda b: f(beta=b), beta), rtol=1e-6, atol=1e-6)
    fd_sigma = _fd(lambda s: f(sigma=float(s[0])), np.array([sigma]))[0]
    assert g_sigma == pytest.approx(fd_sigma, rel=1e-6, abs=1e-6)
    for k, L in enumerate(chols):
        def fk(M, k=k):
            return f(chols=[M if j == k else c for j, c in enumerate(chols)])
        np.testing.assert_allclose(g_chols[k], _fd(fk, L), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["crossed", "partial"])
def test_effect_draws_have_the_exact_conditional_moments(kind):
    """Mean and covariance of many draws match the dense Gaussian conditional of b."""
    design, blocks, resp, beta, sigma, chols = _setup(kind, 2)
    groups = order_groups(design.groups)
    Zf = np.hstack([_dense_z(g) for g in groups])
    prior = _block_cov(groups, chols)
    prec = Zf.T @ Zf / sigma**2 + np.linalg.inv(prior)
    cov = np.linalg.inv(prec)
    mean = cov @ Zf.T @ (design.y - design.X @ beta) / sigma**2
    rng = np.random.default_rng(5)
    draws = np.array([draw_all_effects(blocks, resp, beta, sigma, chols, rng)
                      for _ in range(2000)])
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_array_less(np.abs(draws.mean(0) - mean) / sd, 5 / np.sqrt(2000) * 1.2)
    np.testing.assert_allclose(draws.std(0), sd, rtol=0.1)


def _dense_z(g) -> np.ndarray:
    Zf = np.zeros((g.codes.size, g.n_levels * g.q))
    for i, code in enumerate(g.codes):
        Zf[i, code * g.q:(code + 1) * g.q] = g.Z[i]
    return Zf


def _block_cov(groups, chols) -> np.ndarray:
    from scipy.linalg import block_diag

    return block_diag(*[np.kron(np.eye(g.n_levels), L @ L.T) for g, L in
                        zip(groups, chols, strict=True)])


@pytest.mark.parametrize("kind", ["crossed", "nested", "partial"])
def test_sparse_blocks_give_the_same_value_and_gradient(kind, monkeypatch):
    """Single-effect factors with a sparse G12 (as InstEval's) agree with dense blocks."""
    from hierlmm.engines.collapsed import blocks as blocks_module

    design, dense_blocks, resp, beta, sigma, chols = _setup(kind, 1)
    monkeypatch.setattr(blocks_module, "DENSE_CELLS", 0)
    monkeypatch.setattr(blocks_module, "DENSE_FILL", 1.0)
    sparse_blocks = factor_blocks(design)
    assert sparse_blocks.is_sparse and not dense_blocks.is_sparse
    want = allfactor_loglik_grad(dense_blocks, resp, beta, sigma, chols)
    got = allfactor_loglik_grad(sparse_blocks, resp, beta, sigma, chols)
    assert got[0] == pytest.approx(_dense(design, beta, sigma, chols), rel=RTOL)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-12)
    assert got[2] == pytest.approx(want[2], rel=1e-10)
    for g, w in zip(got[3], want[3], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("kind", "q"), [("crossed", 1), ("nested", 2)])
def test_loglik_after_the_fixed_conditional_reuses_its_solves_exactly(kind, q):
    """fixed_effects_normal keeps A^{-1}[W, Lambda'Z'y] on the factorisation; the value and
    gradient at any beta then skip their own solve and still equal the dense density; a
    different response at the same roots does not reuse them."""
    design, blocks, resp, beta, sigma, chols = _setup(kind, q)
    fixed_effects_normal(blocks, resp, sigma, chols)
    for b in (beta, 2.0 * beta - 1.0):
        want = _dense(design, b, sigma, chols)
        assert allfactor_loglik(blocks, resp, b, sigma, chols) == pytest.approx(want, rel=RTOL)
        grad = allfactor_loglik_grad(blocks, resp, b, sigma, chols)
        assert grad[0] == pytest.approx(want, rel=RTOL)
        np.testing.assert_allclose(grad[1], _fd(
            lambda x: _dense(design, x, sigma, chols), b), rtol=1e-5, atol=1e-6)
    other_y = design.y + np.random.default_rng(5).normal(size=design.y.size)
    other = Response(*response_blocks(design, other_y))
    want = multivariate_normal(design.X @ beta, _dense_cov(design, sigma, chols)).logpdf(other_y)
    assert allfactor_loglik(blocks, other, beta, sigma, chols) == pytest.approx(want, rel=RTOL)


@pytest.mark.parametrize(("kind", "q"), CASES)
def test_fixed_effects_normal_equals_generalised_least_squares(kind, q):
    """``P = X'V^{-1}X`` and ``h = X'V^{-1}y`` with the dense marginal covariance."""
    design, blocks, resp, _, sigma, chols = _setup(kind, q)
    Vinv = np.linalg.inv(_dense_cov(design, sigma, chols))
    P, h = fixed_effects_normal(blocks, resp, sigma, chols)
    np.testing.assert_allclose(P, design.X.T @ Vinv @ design.X, rtol=1e-9)
    np.testing.assert_allclose(h, design.X.T @ Vinv @ design.y, rtol=1e-9)


def test_fixed_conditional_is_the_exact_posterior_of_the_centred_coefficients():
    """beta_c | theta, y with the model's normal prior, the intercept's centring and the
    response shift, against dense algebra on y ~ N(Xc beta_c, V)."""
    from hierlmm.engines.collapsed.fixed_conditional import FixedConditional
    from hierlmm.model import names

    design, blocks, _, _, sigma, chols = _setup("partial", 2)
    shift = float(design.y.mean())
    resp = Response(*response_blocks(design, design.y - shift))
    x_means = np.array([0.0, design.X[:, 1].mean()])
    inputs = {names.X_MEANS: x_means, names.PRIOR_BETA_MU: np.array([0.3, -0.1]),
              names.PRIOR_BETA_SD: np.array([2.0, 0.7])}
    cond = FixedConditional.build(blocks=blocks, response=resp,
                                  groups=order_groups(design.groups), inputs=inputs,
                                  intercept_index=0, shift=shift)
    values = {names.SIGMA: np.asarray(sigma)}
    for g, L in zip(order_groups(design.groups), chols, strict=True):
        cov = L @ L.T
        sd = np.sqrt(np.diag(cov))
        values[names.sd(g.factor)] = sd
        values[names.corr(g.factor)] = cov / np.outer(sd, sd)
    mean, chol = cond(values)
    Xc = design.X - x_means  # the intercept column stays 1
    Vinv = np.linalg.inv(_dense_cov(design, sigma, chols))
    prec = Xc.T @ Vinv @ Xc + np.diag(1 / inputs[names.PRIOR_BETA_SD] ** 2)
    lin = Xc.T @ Vinv @ design.y + inputs[names.PRIOR_BETA_MU] / inputs[names.PRIOR_BETA_SD] ** 2
    np.testing.assert_allclose(chol @ chol.T, prec, rtol=1e-9)
    np.testing.assert_allclose(mean, np.linalg.solve(prec, lin), rtol=1e-9)
