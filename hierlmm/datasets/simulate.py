"""Seeded simulators of linear mixed-model data with known truth.

Every simulator takes an explicit ``seed`` (an int or a ``numpy.random.Generator``; a
Generator is advanced) and returns a :class:`SimulatedData`. Group labels are
zero-padded strings (``"s001"``) so that sorting is natural, except in
:func:`simulate_large`, which uses integer codes for speed. Rows are ordered by group.

Truth keys shared by every simulator:

``"beta"``
    dict, fixed-effect name -> value (``"Intercept"`` first).
``"sigma"``
    float, residual standard deviation.
``"re_sd"``
    dict, grouping factor (as written in the formula) -> {effect name -> SD}.
``"effects"``
    the realised random effects: a DataFrame (levels x effects, indexed by level label)
    for one grouping factor, or a dict factor -> such a DataFrame for several.

Each simulator documents its extra keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

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
from hierlmm.errors import SpecError
from hierlmm.spec.schema import INTERCEPT


@dataclass(frozen=True)
class SimulatedData:
    """Simulated data and the parameters that generated them.

    Attributes
    ----------
    data : pandas.DataFrame, shape (n, k)
        The simulated observations.
    truth : dict
        True parameter values and realised random effects (keys in the module docstring
        and in each simulator's docstring).
    formula : str
        lme4 formula of the generating model, e.g. ``"y ~ x + (1 | g)"``.
    """

    data: pd.DataFrame
    truth: dict[str, Any]
    formula: str


def simulate_random_intercepts(
    *,
    n_groups: int = 100,
    n_per_group: int = 10,
    beta: Sequence[float] = (1.0, 0.5),
    tau: float = 1.0,
    sigma: float = 1.0,
    unbalanced: bool = False,
    seed: Seed,
) -> SimulatedData:
    """Simulate ``y = b0 + b1 x + u_g + e`` with ``u_g ~ N(0, tau^2)``, ``e ~ N(0, sigma^2)``.

    Parameters
    ----------
    n_groups : int
        Number of groups G (labels ``"g001"`` ...).
    n_per_group : int
        Observations per group; the mean group size when ``unbalanced``.
    beta : pair of float
        Fixed intercept and slope of ``x``.
    tau : float
        SD of the random intercepts.
    sigma : float
        Residual SD (> 0).
    unbalanced : bool
        Draw each group size uniformly from ``1 .. 2 * n_per_group - 1`` (singletons
        included), so the row count is random.
    seed : int or numpy.random.Generator

    Returns
    -------
    SimulatedData
        ``data`` columns ``y, x, g`` (x ~ N(0, 1) per row). Extra truth keys: ``"tau"``
        and ``"icc"`` = tau^2 / (tau^2 + sigma^2); ``"effects"`` has shape (G, 1).
    """
    n_groups = count("n_groups", n_groups)
    n_per_group = count("n_per_group", n_per_group)
    b0, b1 = pair("beta", beta)
    tau = scale("tau", tau)
    sigma = scale("sigma", sigma, positive=True)
    rng = make_rng(seed)
    if unbalanced:
        sizes = rng.integers(1, 2 * n_per_group, size=n_groups, endpoint=False)
    else:
        sizes = np.full(n_groups, n_per_group)
    codes = np.repeat(np.arange(n_groups), sizes)  # (n,)
    u = tau * rng.standard_normal(n_groups)  # (G,)
    x = rng.standard_normal(codes.size)  # (n,)
    y = b0 + b1 * x + u[codes] + sigma * rng.standard_normal(codes.size)
    level = labels("g", n_groups)
    truth = {
        "beta": {INTERCEPT: b0, "x": b1},
        "sigma": sigma,
        "tau": tau,
        "icc": tau**2 / (tau**2 + sigma**2),
        "re_sd": {"g": {INTERCEPT: tau}},
        "effects": effects_frame("g", level, u, (INTERCEPT,)),
    }
    data = pd.DataFrame({"y": y, "x": x, "g": level[codes]})
    return SimulatedData(data=data, truth=truth, formula="y ~ x + (1 | g)")


def simulate_random_slopes(
    *,
    n_groups: int = 100,
    n_per_group: int | None = None,
    beta: Sequence[float] = (250.0, 10.0),
    sd: Sequence[float] = (25.0, 6.0),
    corr: float = 0.3,
    sigma: float = 25.0,
    times: Sequence[float] | None = None,
    seed: Seed,
) -> SimulatedData:
    """Simulate longitudinal data with correlated random intercepts and slopes of time.

    ``y_ij = (b0 + u_i0) + (b1 + u_i1) t_j + e_ij`` with ``(u_i0, u_i1)`` bivariate normal
    (SDs ``sd``, correlation ``corr``); the defaults mimic lme4's sleepstudy.

    Parameters
    ----------
    n_groups : int
        Number of subjects G (labels ``"s001"`` ...).
    n_per_group : int, optional
        Visits per subject T at times ``0 .. T-1``; 10 when neither this nor ``times``
        is given. Must equal ``len(times)`` when both are given.
    beta : pair of float
        Fixed intercept and slope of time.
    sd : pair of float
        SDs of the random intercepts and slopes.
    corr : float
        Correlation of intercept and slope, in [-1, 1].
    sigma : float
        Residual SD (> 0).
    times : sequence of float, optional
        Measurement times shared by every subject, shape (T,).
    seed : int or numpy.random.Generator

    Returns
    -------
    SimulatedData
        ``data`` columns ``y, time, subject`` (G * T rows). Truth keys: ``"beta"`` and
        ``"sd"`` ({"Intercept", "time"}), ``"corr"``, ``"sigma"``, ``"re_sd"``
        ({"subject": sd}), ``"effects"`` (DataFrame, shape (G, 2)).
    """
    n_groups = count("n_groups", n_groups)
    grid = _time_grid(n_per_group, times)
    b0, b1 = pair("beta", beta)
    sd0, sd1 = (scale(f"sd[{k}]", v) for k, v in enumerate(pair("sd", sd)))
    corr = correlation("corr", corr)
    sigma = scale("sigma", sigma, positive=True)
    rng = make_rng(seed)
    effects = correlated_pairs(rng, n_groups, (sd0, sd1), corr)  # (G, 2)
    codes = np.repeat(np.arange(n_groups), grid.size)  # (n,)
    t = np.tile(grid, n_groups)  # (n,)
    y = (b0 + effects[codes, 0]) + (b1 + effects[codes, 1]) * t
    y = y + sigma * rng.standard_normal(codes.size)
    level = labels("s", n_groups)
    terms = (INTERCEPT, "time")
    truth = {
        "beta": dict(zip(terms, (b0, b1), strict=True)),
        "sd": dict(zip(terms, (sd0, sd1), strict=True)),
        "corr": corr,
        "sigma": sigma,
        "re_sd": {"subject": dict(zip(terms, (sd0, sd1), strict=True))},
        "effects": effects_frame("subject", level, effects, terms),
    }
    data = pd.DataFrame({"y": y, "time": t, "subject": level[codes]})
    return SimulatedData(data=data, truth=truth, formula="y ~ time + (time | subject)")


def _time_grid(n_per_group: int | None, times: Sequence[float] | None) -> np.ndarray:
    """Resolve the shared visit times, shape (T,)."""
    if times is None:
        return np.arange(10 if n_per_group is None else count("n_per_group", n_per_group),
                         dtype=np.float64)
    try:
        grid = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SpecError(f"times={times!r} must be a sequence of numbers") from exc
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
        raise SpecError(f"times={times!r} must be a non-empty 1-D sequence of finite numbers")
    if n_per_group is not None and count("n_per_group", n_per_group) != grid.size:
        raise SpecError(
            f"n_per_group={n_per_group} disagrees with len(times)={grid.size}; "
            "give one of them"
        )
    return grid


def simulate_large(
    n_groups: int,
    n_per_group: int,
    seed: Seed,
    *,
    beta: Sequence[float] = (1.0, 0.5),
    sd: Sequence[float] = (1.0, 0.5),
    corr: float = 0.3,
    sigma: float = 1.0,
) -> SimulatedData:
    """Fast, vectorised ``y ~ x + (x | g)`` data for benchmarks (1,000 to 100,000 groups).

    Parameters
    ----------
    n_groups : int
        Number of groups G; ``g`` holds integer codes ``0 .. G-1`` (int64).
    n_per_group : int
        Observations per group m (balanced; n = G * m rows).
    seed : int or numpy.random.Generator
    beta : pair of float
        Fixed intercept and slope of ``x`` (x ~ N(0, 1) per row).
    sd : pair of float
        SDs of the random intercepts and slopes.
    corr : float
        Their correlation, in [-1, 1].
    sigma : float
        Residual SD (> 0).

    Returns
    -------
    SimulatedData
        ``data`` columns ``y, x`` (float64) and ``g`` (int64). Truth keys as
        :func:`simulate_random_slopes` with effect names ``"Intercept", "x"``, except that
        ``"effects"`` is a plain ndarray of shape (G, 2) (row = group code).
    """
    n_groups = count("n_groups", n_groups)
    n_per_group = count("n_per_group", n_per_group)
    b0, b1 = pair("beta", beta)
    sd0, sd1 = (scale(f"sd[{k}]", v) for k, v in enumerate(pair("sd", sd)))
    corr = correlation("corr", corr)
    sigma = scale("sigma", sigma, positive=True)
    rng = make_rng(seed)
    effects = correlated_pairs(rng, n_groups, (sd0, sd1), corr)  # (G, 2)
    codes = np.repeat(np.arange(n_groups, dtype=np.int64), n_per_group)  # (n,)
    x = rng.standard_normal(codes.size)  # (n,)
    b = effects[codes]  # (n, 2)
    y = (b0 + b[:, 0]) + (b1 + b[:, 1]) * x + sigma * rng.standard_normal(codes.size)
    terms = (INTERCEPT, "x")
    truth = {
        "beta": dict(zip(terms, (b0, b1), strict=True)),
        "sd": dict(zip(terms, (sd0, sd1), strict=True)),
        "corr": corr,
        "sigma": sigma,
        "re_sd": {"g": dict(zip(terms, (sd0, sd1), strict=True))},
        "effects": effects,
    }
    data = pd.DataFrame({"y": y, "x": x, "g": codes}, copy=False)
    return SimulatedData(data=data, truth=truth, formula="y ~ x + (x | g)")
