"""Pointwise Gaussian log-likelihood and linear predictor from posterior draws (numpy).

Computed after sampling for both engines from the same posterior variables, so LOO and
posterior predictive checks do not depend on the engine.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from hierlmm.design.design import Design
from hierlmm.model import names

LOG_2PI = float(np.log(2.0 * np.pi))


def linear_predictor(posterior: xr.Dataset, design: Design) -> np.ndarray:
    """Conditional mean ``X beta + sum_k Z_k b_k`` per draw.

    Returns
    -------
    ndarray, shape (chain, draw, n)
    """
    beta = posterior[names.BETA].values  # (C, D, p)
    mu = beta @ design.X.T  # (C, D, p) @ (p, n) -> (C, D, n)
    for g in design.groups:
        b = posterior[names.effects(g.factor)].values  # (C, D, L, q)
        for k in range(g.q):  # (C, D, n) at a time, never (C, D, n, q)
            term = np.take(np.ascontiguousarray(b[..., k]), g.codes, axis=-1)
            term *= g.Z[:, k]
            mu += term
    return mu


def pointwise_loglik(posterior: xr.Dataset, design: Design) -> np.ndarray:
    """Gaussian log-density of each observation given its draw's parameters.

    Returns
    -------
    ndarray, shape (chain, draw, n)
    """
    out = linear_predictor(posterior, design)  # reused in place as the result
    sigma = posterior[names.SIGMA].values[..., None]  # (C, D, 1)
    np.subtract(design.y, out, out=out)
    out /= sigma
    np.square(out, out=out)
    out += LOG_2PI
    out *= -0.5
    out -= np.log(sigma)
    return out


def loglik_dataset(posterior: xr.Dataset, design: Design) -> xr.Dataset:
    """The ``log_likelihood`` group: variable ``y`` with dims (chain, draw, obs)."""
    values = pointwise_loglik(posterior, design)
    return xr.Dataset(
        {names.RESPONSE: (("chain", "draw", names.OBS_DIM), values)},
        coords={
            "chain": posterior.chain,
            "draw": posterior.draw,
            names.OBS_DIM: np.arange(design.n),
        },
    )
