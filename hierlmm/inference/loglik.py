"""Pointwise log-likelihood and linear predictor from posterior draws (numpy).

Computed after sampling for both engines from the same posterior variables and through
the response family, so LOO and posterior predictive checks do not depend on the engine.
With AR(1)/CAR(1) residuals the pointwise term of a row is its one-step-ahead conditional
density given the effects and the previous row of its series (the first row of a series:
its stationary marginal); these terms sum to the exact joint log-likelihood.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from hierlmm.design.design import Design
from hierlmm.families.base import Family, trials_kwargs
from hierlmm.model import names
from hierlmm.model.linear_predictor import linear_predictor as eta_from_draws
from hierlmm.residuals import get_residual, series_inputs


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
    params = family.param_draws(posterior)
    residual = get_residual(design.residual.kind)
    if residual is None:
        return family.log_likelihood(design.y, eta, params, **trials_kwargs(design.trials))
    phi = np.asarray(posterior[names.PHI].transpose("chain", "draw").values, dtype=np.float64)
    return residual.gaussian_loglik_numpy(
        design.y, eta, params[names.SIGMA], phi, series_inputs(design.residual)
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
