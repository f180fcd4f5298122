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
        mu += np.einsum("cdnq,nq->cdn", b[:, :, g.codes, :], g.Z)
    return mu


def pointwise_loglik(posterior: xr.Dataset, design: Design) -> np.ndarray:
    """Gaussian log-density of each observation given its draw's parameters.

    Returns
    -------
    ndarray, shape (chain, draw, n)
    """
    mu = linear_predictor(posterior, design)
    sigma = posterior[names.SIGMA].values[..., None]  # (C, D, 1)
    resid = (design.y - mu) / sigma
    return -0.5 * (LOG_2PI + resid**2) - np.log(sigma)


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
