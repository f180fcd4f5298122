"""Attach the collapsed Gaussian likelihood of one grouping factor to a PyMC model.

The sufficient statistics enter as ``pm.Data`` (shared inputs), so the compiled graph
does not embed the data and its size does not depend on n.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from hierlmm.design.design import Design, GroupDesign
from hierlmm.design.suffstats import group_suffstats
from hierlmm.model import names
from hierlmm.model.likelihoods.gaussian_collapsed import collapsed_loglik, symbolic_stats


def centred_response(design: Design, intercept_index: int | None) -> tuple[np.ndarray, float]:
    """Response minus its mean when the model has an intercept (for numerical accuracy).

    Returns
    -------
    y_c : ndarray, shape (n,)
    shift : float
        The mean subtracted (0 without an intercept); the intercept absorbs it.
    """
    if intercept_index is None:
        return design.y, 0.0
    shift = float(design.y.mean())
    return design.y - shift, shift


def _data(name: str, values: np.ndarray, shape: tuple[int | None, ...]) -> pt.TensorVariable:
    """``pm.Data`` with a partly static shape (static trailing dims let the kernel unroll)."""
    return pm.Data(name, values, shape=shape)


def _data_named(name: str, values: np.ndarray, shape: tuple[int | None, ...], *, suffix: str):
    return _data(f"{name}_{suffix}", values, shape)


def add_collapsed_likelihood(
    *,
    model: pm.Model,
    design: Design,
    group: GroupDesign,
    Xc: np.ndarray,
    beta: pt.TensorVariable,
    sigma: pt.TensorVariable,
    chol: pt.TensorVariable,
    offset: pt.TensorVariable | None,
    intercept_index: int | None,
) -> pt.TensorVariable:
    """Add ``log p(y | beta, sigma, Sigma, other effects)`` with ``group`` integrated out.

    Parameters
    ----------
    model : pm.Model
    design : Design
    group : GroupDesign
        The factor to integrate out (L levels, q effects).
    Xc : ndarray, shape (n, p)
        Centred fixed design (the one ``beta`` multiplies).
    beta : TensorVariable, shape (p,)
    sigma : TensorVariable, scalar
    chol : TensorVariable, shape (q, q)
    offset : TensorVariable, shape (n,), optional
        Summed contributions of the other (sampled) factors.
    intercept_index : int, optional
        Column of the intercept; the response is centred and the intercept shifted.

    Returns
    -------
    TensorVariable, scalar
        The log-likelihood, registered as a ``pm.Potential``.
    """
    y_c, shift = centred_response(design, intercept_index)
    beta_used = beta
    if intercept_index is not None:
        beta_used = pt.set_subtensor(beta[intercept_index], beta[intercept_index] - shift)
    stats = group_suffstats(group.codes, group.Z, Xc, y_c, group.n_levels)
    with model:
        shared = symbolic_stats(stats, partial(_data_named, suffix=group.factor))
        obs = {}
        if offset is not None:
            obs = dict(
                codes=pm.Data(names.data_codes(group.factor), group.codes),
                Z=_data(names.data_z(group.factor), group.Z, (None, group.q)),
                y=pm.Data(names.DATA_Y, y_c),
                X=pm.Data(names.DATA_X + "_collapsed", Xc),
            )
        loglik = collapsed_loglik(
            beta=beta_used, sigma=sigma, chol=chol, stats=shared, offset=offset, **obs
        )
        return pm.Potential(names.COLLAPSED_LOGLIK, loglik)
