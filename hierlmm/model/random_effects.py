"""Random-effect covariance and non-centred group-level effects for one grouping factor.

Correlated factors get HalfNormal SDs and an ``LKJCorr`` Cholesky factor (Lewandowski,
Kurowicka & Joe 2009), the prior of ``LKJCholeskyCov`` with separate coordinates;
independent (``||``) factors and single-effect factors get a diagonal Cholesky factor.
Effects are non-centred: ``b = z @ L.T`` with ``z ~ N(0, 1)``.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from hierlmm.design.design import GroupDesign
from hierlmm.model import names


def add_covariance(
    *, model: pm.Model, group: GroupDesign, sd_scale: np.ndarray, lkj_eta: float
) -> pt.TensorVariable:
    """Add the SDs (and correlations) of ``group`` to ``model``; return its Cholesky factor.

    Parameters
    ----------
    model : pm.Model
    group : GroupDesign
    sd_scale : ndarray, shape (q,)
        HalfNormal scale of each SD.
    lkj_eta : float
        LKJ shape.

    Returns
    -------
    TensorVariable, shape (q, q)
        Lower-triangular L with covariance ``L @ L.T``.
    """
    f = group.factor
    with model:
        if group.correlated and group.q > 1:
            # SDs and the correlation Cholesky factor as separate variables (the same
            # prior as LKJCholeskyCov with these sd_dist): log SD and correlation are then
            # separate unconstrained coordinates, and a small SD leaves no funnel
            # (LKJCholeskyCov's packed factor has one: L[1,0] in (-sd, sd) as sd -> 0).
            sds = pm.HalfNormal(names.sd(f), sigma=sd_scale, dims=names.term_dim(f))
            chol_corr = pm.LKJCorr(names.chol(f), n=group.q, eta=lkj_eta)
            corr = chol_corr @ chol_corr.T
            pm.Deterministic(names.corr(f), corr, dims=(names.term_dim(f), names.term_dim_bis(f)))
            return sds[:, None] * chol_corr
        sds = pm.HalfNormal(names.sd(f), sigma=sd_scale, dims=names.term_dim(f))
        return pt.diag(sds)


def add_effects(
    *, model: pm.Model, group: GroupDesign, chol: pt.TensorVariable, centred: bool = False,
    around: pt.TensorVariable | None = None,
) -> pt.TensorVariable:
    """Add the effects of ``group``; return b with shape (n_levels, q).

    Non-centred (``b = z L'``, ``z ~ N(0, 1)``) by default; centred (``b ~ N(0, sd)``)
    for a single-effect factor whose data pin each level down (see
    :func:`informative_intercepts`), where the non-centred form mixes slowly.

    ``around`` (the intercept, a scalar) centres the level means instead
    (hierarchical centring, Gelfand, Sahu & Carlin 1995): ``a ~ N(around, sd)`` and
    ``b = a - around``. With few, well-identified levels (Penicillin's 6 samples, 24 rows
    each) the centred ``b`` and the intercept lie on a ridge (only ``intercept + b_j``
    is pinned down) that mixes slowly; around the intercept the ridge disappears.
    """
    f = group.factor
    dims = (names.level_dim(f), names.term_dim(f))
    with model:
        if centred and group.q == 1 and around is not None:
            means = pm.Normal(names.level_means(f), around, chol[0, 0], dims=dims)
            return pm.Deterministic(names.effects(f), means - around, dims=dims)
        if centred and group.q == 1:
            return pm.Normal(names.effects(f), 0.0, chol[0, 0], dims=dims)  # q = 1
        z = pm.Normal(names.offsets(f), 0.0, 1.0, dims=dims)
        return pm.Deterministic(names.effects(f), z @ chol.T, dims=dims)  # (L, q) @ (q, q)


CENTRED_MIN_PER_LEVEL = 20  # observations per level, on average
CENTRED_MIN_RATIO = 5.0  # n * var(level means) / var(y) from which a factor is centred


def informative_intercepts(group: GroupDesign, y: np.ndarray) -> bool:
    """Whether a single-effect factor's data identify each level well (centre it).

    A one-way ANOVA reading: with ``n`` the mean observations per level, the ratio
    ``n * var(level means of y) / var(y)`` is near 1 when the factor explains nothing
    and near ``n tau^2 / sigma^2`` when it does; from :data:`CENTRED_MIN_RATIO` (and
    :data:`CENTRED_MIN_PER_LEVEL` observations per level) the centred parametrisation
    samples better (Papaspiliopoulos, Roberts & Skold 2007).

    Parameters
    ----------
    group : GroupDesign
    y : ndarray, shape (n,)
    """
    counts = group.counts
    if group.q != 1 or counts.mean() < CENTRED_MIN_PER_LEVEL or np.var(y) == 0:
        return False
    means = np.bincount(group.codes, weights=y, minlength=group.n_levels)[counts > 0]
    means /= counts[counts > 0]
    return counts.mean() * np.var(means) / np.var(y) >= CENTRED_MIN_RATIO


def group_contribution(
    *, effects: pt.TensorVariable, codes: pt.TensorVariable, Z: pt.TensorVariable
) -> pt.TensorVariable:
    """Per-observation contribution ``sum_k Z[i, k] * b[codes[i], k]``.

    ``(n, q) * (n, q) -> (n,)``: O(n q) memory, never a dense n x (levels * q) matrix.
    With a static ``q`` (packed inputs) one vector gather per effect column: about 10%
    less time per gradient than gathering rows of ``b`` (measured on 10,000 x 2).
    """
    q = Z.type.shape[1]
    if q is None:
        return (Z * effects[codes]).sum(axis=1)
    return sum(Z[:, k] * effects[:, k][codes] for k in range(1, q)) + Z[:, 0] * effects[:, 0][codes]


def group_coords(group: GroupDesign) -> dict[str, list[str]]:
    """Coordinates of a factor's dims."""
    f = group.factor
    return {
        names.level_dim(f): list(group.levels),
        names.term_dim(f): list(group.terms),
        names.term_dim_bis(f): list(group.terms),
    }
