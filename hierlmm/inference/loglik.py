"""Pointwise log-likelihood and linear predictor from posterior draws (numpy).

Computed after sampling for both engines from the same posterior variables and through
the response family, so LOO and posterior predictive checks do not depend on the engine.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from hierlmm.design.design import Design
from hierlmm.families.base import Family, trials_kwargs
from hierlmm.model import names
from hierlmm.model.linear_predictor import linear_predictor as eta_from_draws


def _flat(values: np.ndarray) -> np.ndarray:
    """Merge the leading (chain, draw) axes: (C, D, ...) -> (C * D, ...)."""
    return values.reshape((-1,) + values.shape[2:])


def linear_predictor(
    posterior: xr.Dataset, design: Design, index: np.ndarray | None = None
) -> np.ndarray:
    """``X beta + sum_k Z_k b_k`` (+ the design's offset) per draw at the design's rows.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``beta`` and ``b_<f>`` for every factor.
    design : Design
    index : ndarray of int, shape (S,), optional
        Flattened (chain * draw) draws to use; all draws, keeping (chain, draw), when
        omitted.

    Returns
    -------
    ndarray, shape (chain, draw, n), or (S, n) with ``index``
    """

    def pick(values: np.ndarray) -> np.ndarray:
        return values if index is None else _flat(values)[index]

    groups = [
        (pick(posterior[names.effects(g.factor)].values), g.codes, g.Z) for g in design.groups
    ]
    eta = eta_from_draws(pick(posterior[names.BETA].values), design.X, groups)
    if design.offset is not None:
        eta += design.offset
    return eta


def pointwise_loglik(posterior: xr.Dataset, design: Design, family: Family) -> np.ndarray:
    """Log-density of each observation given its draw's parameters.

    Returns
    -------
    ndarray, shape (chain, draw, n)
    """
    eta = linear_predictor(posterior, design)  # reused in place as the result
    return family.log_likelihood(
        design.y, eta, family.param_draws(posterior), **trials_kwargs(design.trials)
    )


def loglik_dataset(posterior: xr.Dataset, design: Design, family: Family) -> xr.Dataset:
    """The ``log_likelihood`` group: variable ``y`` with dims (chain, draw, obs)."""
    values = pointwise_loglik(posterior, design, family)
    return xr.Dataset(
        {names.RESPONSE: (("chain", "draw", names.OBS_DIM), values)},
        coords={
            "chain": posterior.chain,
            "draw": posterior.draw,
            names.OBS_DIM: np.arange(design.n),
        },
    )
