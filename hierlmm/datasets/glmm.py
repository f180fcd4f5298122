"""Seeded simulators of GLMM data with known truth (binary outcomes and counts).

Truth keys follow :mod:`hierlmm.datasets.simulate` (``"beta"``, ``"re_sd"``,
``"effects"``, and ``"sd"`` / ``"corr"`` of the correlated pair), without ``"sigma"``:
these families have no residual SD. Each simulator documents its formula and family
(``SimulatedData.formula``; fit with ``family=...``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import expit

from hierlmm.datasets._checks import (
    Seed,
    correlated_pairs,
    correlation,
    count,
    effects_frame,
    labels,
    make_rng,
    pair,
    scale,
)
from hierlmm.datasets.simulate import SimulatedData
from hierlmm.spec.schema import INTERCEPT


def _slopes_truth(beta: dict, terms, sd, corr, effects, level, factor: str) -> dict:
    return {
        "beta": beta,
        "sd": dict(zip(terms, sd, strict=True)),
        "corr": corr,
        "re_sd": {factor: dict(zip(terms, sd, strict=True))},
        "effects": effects_frame(factor, level, effects, terms),
    }


def simulate_remission(
    *,
    n_subjects: int = 200,
    n_visits: int = 6,
    beta: Sequence[float] = (-1.0, 0.3, 0.8),
    sd: Sequence[float] = (1.5, 0.3),
    corr: float = -0.3,
    seed: Seed,
) -> SimulatedData:
    """Binary remission over visits: a logistic GLMM with correlated intercepts and slopes.

    ``logit P(remission_ij) = b0 + b1 visit_j + b2 treat_i + u0_i + u1_i visit_j`` with
    ``(u0, u1) ~ N(0, [[sd0^2, corr sd0 sd1], [., sd1^2]])``; visits ``0 .. n_visits-1``;
    half of the subjects (alternating) are treated.

    Parameters
    ----------
    n_subjects, n_visits : int
    beta : (float, float, float)
        Intercept, visit and treat coefficients (log-odds scale).
    sd : (float, float)
        SDs of the random intercept and visit slope.
    corr : float
    seed : int or numpy.random.Generator

    Returns
    -------
    SimulatedData
        ``data`` columns ``remission`` (0/1), ``visit``, ``treat``, ``subject``; formula
        ``remission ~ visit + treat + (1 + visit | subject)`` (family ``"bernoulli"``).
    """
    n = count("n_subjects", n_subjects)
    visits = np.arange(count("n_visits", n_visits), dtype=np.float64)
    b0, b1, b2 = (float(v) for v in beta)
    sds = tuple(scale(f"sd[{k}]", v) for k, v in enumerate(pair("sd", sd)))
    corr = correlation("corr", corr)
    rng = make_rng(seed)
    effects = correlated_pairs(rng, n, sds, corr)  # (n, 2)
    codes = np.repeat(np.arange(n), visits.size)
    visit = np.tile(visits, n)
    treat = (codes % 2).astype(np.float64)
    eta = b0 + effects[codes, 0] + (b1 + effects[codes, 1]) * visit + b2 * treat
    y = (rng.random(codes.size) < expit(eta)).astype(np.int64)
    level = labels("s", n)
    terms = (INTERCEPT, "visit")
    truth = _slopes_truth({INTERCEPT: b0, "visit": b1, "treat": b2}, terms, sds, corr,
                          effects, level, "subject")
    data = pd.DataFrame({"remission": y, "visit": visit, "treat": treat,
                         "subject": level[codes]})
    return SimulatedData(data, truth, "remission ~ visit + treat + (1 + visit | subject)")


def simulate_poisson_offset(
    *,
    n_groups: int = 200,
    n_per_group: int = 8,
    beta: Sequence[float] = (0.5, 0.4),
    sd: Sequence[float] = (0.6, 0.25),
    corr: float = 0.3,
    exposure: Sequence[float] = (0.5, 3.0),
    seed: Seed,
) -> SimulatedData:
    """Counts with an exposure: a Poisson GLMM with correlated intercepts and slopes.

    ``count_ij ~ Poisson(exposure_ij * exp(b0 + b1 x_ij + u0_i + u1_i x_ij))`` with
    ``x ~ N(0, 1)`` and ``exposure ~ Uniform(exposure)``.

    Returns
    -------
    SimulatedData
        ``data`` columns ``count``, ``x``, ``exposure``, ``g``; formula
        ``count ~ x + offset(log(exposure)) + (1 + x | g)`` (family ``"poisson"``).
    """
    n = count("n_groups", n_groups)
    m = count("n_per_group", n_per_group)
    b0, b1 = pair("beta", beta)
    sds = tuple(scale(f"sd[{k}]", v) for k, v in enumerate(pair("sd", sd)))
    corr = correlation("corr", corr)
    low, high = pair("exposure", exposure)
    rng = make_rng(seed)
    effects = correlated_pairs(rng, n, sds, corr)
    codes = np.repeat(np.arange(n), m)
    x = rng.standard_normal(codes.size)
    expo = rng.uniform(low, high, size=codes.size)
    eta = b0 + effects[codes, 0] + (b1 + effects[codes, 1]) * x
    y = rng.poisson(expo * np.exp(eta))
    level = labels("g", n)
    terms = (INTERCEPT, "x")
    truth = _slopes_truth({INTERCEPT: b0, "x": b1}, terms, sds, corr, effects, level, "g")
    data = pd.DataFrame({"count": y, "x": x, "exposure": expo, "g": level[codes]})
    return SimulatedData(data, truth, "count ~ x + offset(log(exposure)) + (1 + x | g)")


def simulate_overdispersed_counts(
    *,
    n_groups: int = 100,
    n_per_group: int = 10,
    beta: Sequence[float] = (1.0, 0.5),
    tau: float = 0.5,
    shape: float = 2.0,
    seed: Seed,
) -> SimulatedData:
    """Overdispersed counts: a negative binomial (NB2) GLMM with random intercepts.

    ``count_ij ~ NB(mu_ij, shape)``, ``Var = mu + mu^2 / shape``,
    ``log mu_ij = b0 + b1 x_ij + u_i``, ``u_i ~ N(0, tau^2)``, ``x ~ N(0, 1)``.

    Returns
    -------
    SimulatedData
        ``data`` columns ``count``, ``x``, ``g``; formula ``count ~ x + (1 | g)`` (family
        ``"negbinomial"``); extra truth key ``"shape"``.
    """
    n = count("n_groups", n_groups)
    m = count("n_per_group", n_per_group)
    b0, b1 = pair("beta", beta)
    tau = scale("tau", tau)
    shape = scale("shape", shape, positive=True)
    rng = make_rng(seed)
    u = tau * rng.standard_normal(n)
    codes = np.repeat(np.arange(n), m)
    x = rng.standard_normal(codes.size)
    mu = np.exp(b0 + b1 * x + u[codes])
    y = rng.poisson(rng.gamma(shape, mu / shape))
    level = labels("g", n)
    truth = {
        "beta": {INTERCEPT: b0, "x": b1},
        "re_sd": {"g": {INTERCEPT: tau}},
        "shape": shape,
        "effects": effects_frame("g", level, u[:, None], (INTERCEPT,)),
    }
    data = pd.DataFrame({"count": y, "x": x, "g": level[codes]})
    return SimulatedData(data, truth, "count ~ x + (1 | g)")
