"""Seeded simulator of trials within subjects with AR(1)/CAR(1) residuals.

``y_ij = (b0 + u_i0) + (b1 + u_i1) t_ij + e_ij`` with correlated random intercepts and
slopes ``(u_i0, u_i1)`` and, within each subject, a stationary Gaussian residual process
of SD ``sigma``: AR(1) in the order of the visits (``corr = phi ** k`` k visits apart)
or CAR(1) in continuous time (``corr = phi ** |t - t'|``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

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
from hierlmm.datasets.simulate import SimulatedData
from hierlmm.errors import SpecError
from hierlmm.spec.schema import INTERCEPT

TimeGrid = Literal["equal", "gaps", "irregular"]


def _visit_times(rng: np.random.Generator, grid: str, n_groups: int, T: int) -> np.ndarray:
    """Visit times per subject, shape (G, T), increasing along axis 1."""
    if grid == "equal":
        return np.tile(np.arange(T, dtype=np.float64), (n_groups, 1))
    if grid == "gaps":  # T of 3T/2 integer times kept at random: gaps of 2, 3, ...
        pool = T + T // 2
        keys = rng.random((n_groups, pool))
        keep = np.sort(np.argsort(keys, axis=1)[:, :T], axis=1)
        return keep.astype(np.float64)
    if grid == "irregular":  # real-valued gaps uniform on [0.2, 2]
        return np.cumsum(rng.uniform(0.2, 2.0, size=(n_groups, T)), axis=1) - 0.2
    raise SpecError(f"times={grid!r} is not recognised; choose equal, gaps or irregular")


def _series(rng, times: np.ndarray, phi: float, sigma: float, kind: str) -> np.ndarray:
    """Stationary AR(1)/CAR(1) residuals per row of ``times`` (G, T); same shape."""
    G, T = times.shape
    e = np.empty((G, T))
    e[:, 0] = sigma * rng.standard_normal(G)
    for t in range(1, T):  # a loop over visits, vectorised over subjects
        phi_t = phi if kind == "ar1" else phi ** (times[:, t] - times[:, t - 1])
        e[:, t] = phi_t * e[:, t - 1] + sigma * np.sqrt(1 - phi_t**2) * rng.standard_normal(G)
    return e


def simulate_autocorrelated(
    *,
    n_groups: int = 100,
    n_per_group: int = 10,
    beta: Sequence[float] = (1.0, 0.5),
    sd: Sequence[float] = (1.0, 0.2),
    corr: float = 0.3,
    sigma: float = 1.0,
    phi: float = 0.6,
    kind: Literal["ar1", "car1"] = "ar1",
    times: TimeGrid = "equal",
    shuffle: bool = False,
    seed: Seed,
) -> SimulatedData:
    """Simulate trials within subjects with autocorrelated residuals and known truth.

    Parameters
    ----------
    n_groups : int
        Subjects G (labels ``"s001"`` ...).
    n_per_group : int
        Visits per subject T.
    beta : pair of float
        Fixed intercept and slope of ``time``.
    sd : pair of float
        SDs of the random intercepts and slopes.
    corr : float
        Their correlation, in [-1, 1].
    sigma : float
        Marginal SD of the residual process (> 0).
    phi : float
        ``"ar1"``: lag-one correlation in (-1, 1); ``"car1"``: correlation per unit of
        time in [0, 1).
    kind : {"ar1", "car1"}
        AR(1) in the order of the visits, or CAR(1) in continuous time.
    times : {"equal", "gaps", "irregular"}
        Visit times ``0 .. T-1``; T integer times with random gaps (fit ``"ar1"`` with
        ``gaps="order"`` or ``"car1"``); or irregular real times (``"car1"``).
    shuffle : bool
        Return the rows in a random order (the fit sorts them internally).
    seed : int or numpy.random.Generator

    Returns
    -------
    SimulatedData
        ``data`` columns ``y, time, subject`` (G * T rows). Truth keys: ``"beta"``,
        ``"sd"`` ({"Intercept", "time"}), ``"corr"``, ``"sigma"``, ``"phi"``,
        ``"re_sd"``, ``"effects"`` (DataFrame (G, 2)) and ``"residual"`` (the
        ``ResidualSpec`` keyword arguments that fit the generating model).

    Examples
    --------
    >>> sim = simulate_autocorrelated(n_groups=3, n_per_group=4, phi=0.5, seed=1)
    >>> sim.data.shape, sim.truth["phi"], sim.truth["residual"]["kind"]
    ((12, 3), 0.5, 'ar1')
    """
    n_groups, T = count("n_groups", n_groups), count("n_per_group", n_per_group)
    b0, b1 = pair("beta", beta)
    sd0, sd1 = (scale(f"sd[{k}]", v) for k, v in enumerate(pair("sd", sd)))
    corr, sigma = correlation("corr", corr), scale("sigma", sigma, positive=True)
    if kind not in ("ar1", "car1"):
        raise SpecError(f"kind={kind!r} is not recognised; choose ar1 or car1")
    low = -1.0 if kind == "ar1" else 0.0
    if not low < float(phi) < 1.0 and not (kind == "car1" and phi == 0.0):
        raise SpecError(f'phi={phi!r} must lie in {"(-1, 1)" if kind == "ar1" else "[0, 1)"}')
    rng = make_rng(seed)
    effects = correlated_pairs(rng, n_groups, (sd0, sd1), corr)  # (G, 2)
    grid = _visit_times(rng, times, n_groups, T)  # (G, T)
    e = _series(rng, grid, float(phi), sigma, kind)
    y = (b0 + effects[:, :1]) + (b1 + effects[:, 1:]) * grid + e  # (G, T)
    level = labels("s", n_groups)
    data = pd.DataFrame({"y": y.ravel(), "time": grid.ravel(),
                         "subject": np.repeat(level, T)})
    if shuffle:
        data = data.iloc[rng.permutation(len(data))].reset_index(drop=True)
    terms = (INTERCEPT, "time")
    gaps = "order" if (kind == "ar1" and times == "gaps") else "error"
    truth = {
        "beta": dict(zip(terms, (b0, b1), strict=True)),
        "sd": dict(zip(terms, (sd0, sd1), strict=True)),
        "corr": corr, "sigma": sigma, "phi": float(phi),
        "re_sd": {"subject": dict(zip(terms, (sd0, sd1), strict=True))},
        "effects": effects_frame("subject", level, effects, terms),
        "residual": {"kind": kind, "time": "time", "group": "subject", "gaps": gaps},
    }
    return SimulatedData(data=data, truth=truth, formula="y ~ time + (time | subject)")
