"""AR(1)/CAR(1) likelihood given the effects: one-step-ahead conditionals vs dense MVN."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import multivariate_normal

from hierlmm.design import build_design
from hierlmm.model import names
from hierlmm.model.builder import build_model
from hierlmm.residuals import get_residual, series_inputs
from hierlmm.spec import ResidualSpec, parse_formula

SIZES = [1, 4, 2, 7, 3, 5]


def _data(kind: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for j, m in enumerate(SIZES):
        times = np.arange(m) + 3.0 if kind == "ar1" else np.cumsum(rng.uniform(0.1, 3, m))
        rows += [{"g": f"s{j}", "t": t, "x": rng.normal(), "y": rng.normal()} for t in times]
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def _dense_r(design, kind: str, phi: float) -> np.ndarray:
    res = design.residual
    rank = np.empty(design.n)
    for s in range(res.n_series):
        rows = res.order[res.offsets[s]:res.offsets[s + 1]]
        rank[rows] = np.arange(rows.size)
    clock = rank if kind == "ar1" else res.time
    same = res.series[:, None] == res.series[None, :]
    return np.where(same, phi ** np.abs(clock[:, None] - clock[None, :]), 0.0)


@pytest.mark.parametrize("kind", ["ar1", "car1"])
def test_conditionals_sum_to_the_dense_density(kind: str) -> None:
    design = build_design(
        parse_formula("y ~ x + (1 | g)", residual=ResidualSpec(kind, time="t")), _data(kind, 1)
    )
    rng = np.random.default_rng(2)
    eta = rng.normal(size=(2, 3, design.n))
    sigma = rng.uniform(0.5, 2.0, size=(2, 3))
    phi = rng.uniform(-0.9 if kind == "ar1" else 0.05, 0.9, size=(2, 3))
    structure = get_residual(kind)
    out = structure.gaussian_loglik_numpy(
        design.y, eta, sigma, phi, series_inputs(design.residual)
    )
    assert out.shape == (2, 3, design.n)
    for c in range(2):
        for d in range(3):
            cov = sigma[c, d] ** 2 * _dense_r(design, kind, phi[c, d])
            dense = multivariate_normal(eta[c, d], cov).logpdf(design.y)
            assert out[c, d].sum() == pytest.approx(dense, rel=1e-10)
    # a series' first row is its stationary marginal
    first = design.residual.order[design.residual.offsets[:-1]]
    expected = -0.5 * np.log(2 * np.pi * sigma[..., None] ** 2) - 0.5 * (
        (design.y[first] - eta[..., first]) / sigma[..., None]
    ) ** 2
    np.testing.assert_allclose(out[..., first], expected, rtol=1e-12)


@pytest.mark.parametrize("kind", ["ar1", "car1"])
def test_sampled_model_likelihood_is_the_dense_density(kind: str) -> None:
    spec = parse_formula("y ~ x + (x | g)", residual=ResidualSpec(kind, time="t"))
    design = build_design(spec, _data(kind, 3))
    built = build_model(design=design, spec=spec, engine="sampled")
    model = built.model
    point = model.initial_point()
    rng = np.random.default_rng(4)
    point = {k: v + rng.normal(scale=0.3, size=np.shape(v)) for k, v in point.items()}
    params = model.replace_rvs_by_values(
        [model[names.BETA], model[names.SIGMA], model[names.PHI], model[names.effects("g")]]
    )
    fn = model.compile_fn(
        [model.logp(vars=model.observed_RVs), *params],
        inputs=model.value_vars, mode="FAST_COMPILE",
    )
    logp, beta, sigma, phi, b = fn(point)
    g = design.groups[0]
    eta = design.X @ beta + np.sum(g.Z * b[g.codes], axis=1)
    cov = sigma**2 * _dense_r(design, kind, float(phi))
    assert float(logp) == pytest.approx(multivariate_normal(eta, cov).logpdf(design.y), rel=1e-10)
    assert names.PHI in built.engine_plan.kept_variables()
