"""Gaussian log-likelihood with one grouping factor's random effects integrated out.

Model for the collapsed factor (levels j = 1..L, q effects per level)::

    y_j = X_j beta + o_j + Z_j b_j + e_j,   b_j ~ N(0, L L'),   e_j ~ N(0, sigma^2 I)

where ``o`` is a known offset (the effects of the other, sampled, factors). Writing
``K = L / sigma``, ``r_j = y_j - X_j beta - o_j``, ``A_j = I_q + K' Z_j'Z_j K`` (never
singular: ``A_j >= I``, also when ``L`` is), ``u_j = K' Z_j' r_j`` and ``A_j = C_j C_j'``
(Cholesky), ``v_j = C_j^{-1} u_j``, the Woodbury identity and the matrix determinant
lemma give::

    log p(y_j) = -n_j/2 log(2 pi) - n_j log(sigma) - log det(C_j)
                 - (r_j'r_j - v_j'v_j) / (2 sigma^2)

Two evaluation paths:

(a) no offset: ``sum_j r_j'r_j = y'y - 2 beta'X'y + beta'X'X beta`` and
    ``Z_j'r_j = Z_j'y_j - Z_j'X_j beta`` come from :class:`GroupSuffStats`; the cost is
    O(L q^3 + L q p + p^2) per evaluation, whatever n is;
(b) with an offset ``o`` (n,): ``r`` is formed per observation and ``Z_j'r_j`` is a
    segment sum over the group codes (O(n q)).

The PyTensor graph uses no ``Scan`` and no batched LAPACK call: the L Cholesky
factorisations and triangular solves of the q x q matrices ``A_j`` are unrolled at
graph-build time into elementwise operations on length-L vectors, which PyTensor fuses,
with a closed-form gradient (:mod:`hierlmm.model.likelihoods.collapsed_kernel`).
Statistics may be numpy (embedded as constants) or data containers made by
:func:`symbolic_stats`. The numpy functions (``*_numpy``) implement the same algebra with
:mod:`~hierlmm.model.likelihoods.small_linalg` and broadcast over leading draw dimensions; tests and
:mod:`hierlmm.inference.recover` use them.

Caveat: path (a) forms ``r'r`` from ``y'y`` by subtraction, so with a response whose mean
is huge compared with its spread, centre or scale ``y`` before computing the statistics.

References
----------
Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear mixed-effects
models using lme4. Journal of Statistical Software 67(1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from hierlmm.design.suffstats import GroupSuffStats, group_crossprod
from hierlmm.errors import SpecError
from hierlmm.model.likelihoods import small_linalg
from hierlmm.model.likelihoods.collapsed_kernel import group_terms, group_terms_sum

LOG_2PI = float(np.log(2.0 * np.pi))

# --------------------------------------------------------------------------------------
# numpy reference (broadcasts over leading draw dimensions "...")
# --------------------------------------------------------------------------------------


def _segment_numpy(codes: np.ndarray, W: np.ndarray, r: np.ndarray, n_levels: int) -> np.ndarray:
    """Per-level ``W_j' r_j`` for ``r`` of shape (..., n); returns (..., L, k)."""
    batch = r.shape[:-1]
    R = r.reshape(-1, r.shape[-1]).T  # (n, B)
    out = group_crossprod(codes, W, R, n_levels)  # (L, k, B)
    return np.moveaxis(out, -1, 0).reshape(*batch, n_levels, W.shape[1])


def _observation_residual(
    beta: np.ndarray, y: Any, X: Any, offset: Any | None
) -> np.ndarray:
    """``r = y - X beta - offset``, shape (..., n)."""
    r = np.asarray(y, dtype=np.float64) - np.asarray(beta) @ np.asarray(X, dtype=np.float64).T
    return r if offset is None else r - np.asarray(offset, dtype=np.float64)


def _require_obs(what: str, **arrays: Any) -> None:
    missing = [name for name, value in arrays.items() if value is None]
    if missing:
        raise SpecError(
            f"{what} needs the observation-level arrays {', '.join(missing)}; pass them "
            "by keyword (codes and Z of the collapsed factor, y, X)"
        )


def residual_crossprod_numpy(
    *, beta: np.ndarray, stats: GroupSuffStats, offset_zr: np.ndarray | None = None
) -> np.ndarray:
    """Per-level ``Z_j' r_j`` from the sufficient statistics.

    Parameters
    ----------
    beta : ndarray, shape (..., p)
        Fixed effects.
    stats : GroupSuffStats
        Statistics of the collapsed factor.
    offset_zr : ndarray, shape (..., L, q), optional
        ``Z_j' o_j`` of an offset ``o`` from other factors (see
        :func:`hierlmm.design.suffstats.group_crossprod`).

    Returns
    -------
    ndarray, shape (..., L, q)
        ``Z_j'y_j - Z_j'X_j beta - Z_j'o_j``.
    """
    Zr = stats.Zty - np.einsum("lqp,...p->...lq", stats.ZtX, np.asarray(beta, dtype=np.float64))
    return Zr if offset_zr is None else Zr - offset_zr


def whitened_system_numpy(
    *, sigma: np.ndarray, chol: np.ndarray, ZtZ: np.ndarray, Zr: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cholesky factors of ``A_j = I + K'Z_j'Z_j K`` and ``v_j = C_j^{-1} K'Z_j'r_j``.

    Parameters
    ----------
    sigma : ndarray, shape (...)
        Residual SD.
    chol : ndarray, shape (..., q, q)
        Lower Cholesky factor ``L`` of the effects' covariance (may be singular).
    ZtZ : ndarray, shape (L, q, q)
        Per-level ``Z_j'Z_j``.
    Zr : ndarray, shape (..., L, q)
        Per-level ``Z_j'r_j``.

    Returns
    -------
    C : ndarray, shape (..., L, q, q)
        Lower Cholesky factor of ``A_j``, with ``K = L / sigma``.
    v : ndarray, shape (..., L, q)
        ``C_j^{-1} K' Z_j' r_j``.
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    K = np.asarray(chol, dtype=np.float64) / sigma[..., None, None]  # (..., q, q)
    q, n_levels = K.shape[-1], ZtZ.shape[0]
    lead = np.broadcast_shapes(K.shape[:-2], Zr.shape[:-2])
    K_flat = np.broadcast_to(K, (*lead, q, q)).reshape(-1, q, q)  # (D, q, q)
    Zr_flat = np.broadcast_to(Zr, (*lead, n_levels, q)).reshape(-1, n_levels, q)
    A = np.eye(q) + small_linalg.congruence(K_flat, ZtZ)  # (D, L, q, q)
    C = small_linalg.cholesky(A)
    v = small_linalg.solve_lower(C, small_linalg.transpose_times(K_flat, Zr_flat))
    return C.reshape(*lead, n_levels, q, q), v.reshape(*lead, n_levels, q)


def _combine_numpy(n, sigma, C, v, rr):
    """Assemble log-likelihood terms; ``n`` and ``rr`` broadcast with ``sigma``."""
    logdet_half = np.sum(np.log(np.diagonal(C, axis1=-2, axis2=-1)), axis=-1)
    vtv = np.sum(v**2, axis=-1)
    return -0.5 * n * LOG_2PI - n * np.log(sigma) - logdet_half - (rr - vtv) / (2 * sigma**2)


def collapsed_loglik_by_group_numpy(
    *,
    beta: np.ndarray,
    sigma: np.ndarray,
    chol: np.ndarray,
    stats: GroupSuffStats,
    codes: np.ndarray,
    Z: np.ndarray,
    y: np.ndarray,
    X: np.ndarray,
    offset: np.ndarray | None = None,
) -> np.ndarray:
    """Per-level marginal log-likelihood ``log p(y_j | beta, sigma, L, o)``.

    Parameters
    ----------
    beta : ndarray, shape (..., p)
    sigma : ndarray, shape (...)
    chol : ndarray, shape (..., q, q)
        Lower Cholesky factor of the collapsed factor's covariance.
    stats : GroupSuffStats
        Statistics of the collapsed factor (only ``ZtZ`` and ``n`` are used).
    codes : ndarray of int, shape (n,)
        Levels of the collapsed factor.
    Z : ndarray, shape (n, q)
        Its random-effect columns.
    y : ndarray, shape (n,)
    X : ndarray, shape (n, p)
    offset : ndarray, shape (..., n), optional
        Sampled effects of the other factors, per observation.

    Returns
    -------
    ndarray, shape (..., L)
        Sums to :func:`collapsed_loglik_numpy`; levels without rows give 0.
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    r = _observation_residual(beta, y, X, offset)  # (..., n)
    L = stats.n_levels
    rr = _segment_numpy(codes, np.ones((r.shape[-1], 1)), r**2, L)[..., 0]  # (..., L)
    Zr = _segment_numpy(codes, np.asarray(Z, dtype=np.float64), r, L)  # (..., L, q)
    C, v = whitened_system_numpy(sigma=sigma, chol=chol, ZtZ=stats.ZtZ, Zr=Zr)
    return _combine_numpy(stats.n, sigma[..., None], C, v, rr)


def collapsed_loglik_numpy(
    *,
    beta: np.ndarray,
    sigma: np.ndarray,
    chol: np.ndarray,
    stats: GroupSuffStats,
    offset: np.ndarray | None = None,
    codes: np.ndarray | None = None,
    Z: np.ndarray | None = None,
    y: np.ndarray | None = None,
    X: np.ndarray | None = None,
) -> np.ndarray:
    """Total marginal log-likelihood, numpy reference of :func:`collapsed_loglik`.

    Parameters
    ----------
    beta : ndarray, shape (..., p)
    sigma : ndarray, shape (...)
    chol : ndarray, shape (..., q, q)
    stats : GroupSuffStats
    offset : ndarray, shape (..., n), optional
        Offset from other factors; when given, ``codes``, ``Z``, ``y`` and ``X`` are
        required (path (b)); otherwise only ``stats`` is used (path (a)).
    codes, Z, y, X : ndarray, optional
        Observation-level data, shapes (n,), (n, q), (n,), (n, p).

    Returns
    -------
    ndarray, shape (...)
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    if offset is not None:
        _require_obs("an offset", codes=codes, Z=Z, y=y, X=X)
        return collapsed_loglik_by_group_numpy(
            beta=beta, sigma=sigma, chol=chol, stats=stats,
            codes=codes, Z=Z, y=y, X=X, offset=offset,
        ).sum(axis=-1)  # fmt: skip
    beta = np.asarray(beta, dtype=np.float64)
    rr = (
        stats.yty
        - 2.0 * beta @ stats.Xty
        + np.einsum("...a,ab,...b->...", beta, stats.XtX, beta)
    )
    Zr = residual_crossprod_numpy(beta=beta, stats=stats)
    C, v = whitened_system_numpy(sigma=sigma, chol=chol, ZtZ=stats.ZtZ, Zr=Zr)
    C_sum = np.sum(np.log(np.diagonal(C, axis1=-2, axis2=-1)), axis=(-2, -1))
    vtv = np.sum(v**2, axis=(-2, -1))
    n = stats.n_obs
    return -0.5 * n * LOG_2PI - n * np.log(sigma) - C_sum - (rr - vtv) / (2 * sigma**2)


# --------------------------------------------------------------------------------------
# PyTensor graph
# --------------------------------------------------------------------------------------


def _static_q(ZtZ: Any) -> int:
    """Number of effects q, known at graph-build time (needed to unroll)."""
    q = ZtZ.type.shape[-1] if isinstance(ZtZ, pt.Variable) else np.shape(ZtZ)[-1]
    if q is None:
        raise SpecError(
            "the collapsed likelihood needs a static number of effects q; build symbolic "
            "statistics with symbolic_stats(), which gives stats.ZtZ a static shape"
        )
    return int(q)


def _n_levels(stats: GroupSuffStats) -> Any:
    """L as an int when the statistics are numpy, else symbolic."""
    ZtZ = stats.ZtZ
    return ZtZ.shape[0] if isinstance(ZtZ, pt.Variable) else int(np.shape(ZtZ)[0])


def _column(x: Any, *index: int) -> TensorVariable:
    """``x[:, *index]``; a contiguous constant when ``x`` is a numpy array."""
    if isinstance(x, pt.Variable):
        return x[(slice(None), *index)]
    return pt.constant(np.ascontiguousarray(x[(slice(None), *index)], dtype=np.float64))


def _zz_columns(ZtZ: Any, q: int) -> dict:
    """``{(c, d): ZtZ[:, c, d]}`` for c <= d, each (L,)."""
    return {(c, d): _column(ZtZ, c, d) for c in range(q) for d in range(c, q)}


def _segment_sum(codes: TensorVariable, values: TensorVariable, n_levels: Any) -> TensorVariable:
    """``out[j] = sum_{i: codes_i = j} values[i]``; values (n,) or (n, k)."""
    shape = (n_levels,) if values.ndim == 1 else (n_levels, values.shape[1])
    return pt.zeros(shape, dtype=values.dtype)[codes].inc(values)


def _obs_terms(*, beta, codes, Z, y, X, offset, n_levels, q):
    """Observation-level residual ``r`` (n,) and the q columns (L,) of ``Z_j'r_j``."""
    r = pt.as_tensor_variable(y) - pt.as_tensor_variable(X) @ beta
    if offset is not None:
        r = r - offset
    codes, Z = pt.as_tensor_variable(codes), pt.as_tensor_variable(Z)
    return r, [_segment_sum(codes, Z[:, c] * r, n_levels) for c in range(q)]


def _stats_zr(*, beta, stats: GroupSuffStats, q: int) -> list:
    """The q columns (L,) of ``Z_j'y_j - Z_j'X_j beta`` from the statistics."""
    return [_column(stats.Zty, c) - _column(stats.ZtX, c) @ beta for c in range(q)]


def symbolic_stats(
    stats: GroupSuffStats,
    make_data: Callable[[str, np.ndarray, tuple[int | None, ...]], TensorVariable],
) -> GroupSuffStats:
    """Wrap numpy statistics in data containers (e.g. ``pm.Data``) laid out for speed.

    The per-level arrays are stored levels-last and C-contiguous (``ZtZ`` as (q, q, L),
    ``ZtX`` as (q, L, p), ``Zty`` as (q, L)) and returned as transposed views with the
    documented (L, ...) shapes, static q and p and a dynamic L (so one compiled graph
    serves any number of levels). The per-level columns the likelihood reads are then
    contiguous rows; a strided column of an (L, q, q) container makes the
    compiled loops several times slower.

    Parameters
    ----------
    stats : GroupSuffStats
        Numpy statistics.
    make_data : callable
        ``make_data(name, array, shape) -> TensorVariable``, called once per field with
        names ``"ZtZ"``, ``"ZtX"``, ``"Zty"``, ``"n"``, ``"XtX"``, ``"Xty"``, ``"yty"``
        and the static shape to give the container (None for the levels dimension); e.g.
        ``lambda name, value, shape: pm.Data(f"{name}_{factor}", value, shape=shape)``.

    Returns
    -------
    GroupSuffStats
        Fields are PyTensor variables, for :func:`collapsed_loglik`.
    """

    q, p = stats.q, stats.p

    def data(name: str, value: np.ndarray, shape: tuple[int | None, ...]) -> TensorVariable:
        return make_data(name, np.array(value, dtype=np.float64, order="C"), shape)

    return GroupSuffStats(
        ZtZ=data("ZtZ", stats.ZtZ.transpose(1, 2, 0), (q, q, None)).transpose(2, 0, 1),
        ZtX=data("ZtX", stats.ZtX.transpose(1, 0, 2), (q, None, p)).transpose(1, 0, 2),
        Zty=data("Zty", stats.Zty.T, (q, None)).T,
        n=data("n", stats.n, (None,)),
        XtX=data("XtX", stats.XtX, (p, p)),
        Xty=data("Xty", stats.Xty, (p,)),
        yty=data("yty", np.asarray(stats.yty), ()),
    )


def collapsed_loglik(
    *,
    beta: Any,
    sigma: Any,
    chol: Any,
    stats: GroupSuffStats,
    offset: Any | None = None,
    codes: Any | None = None,
    Z: Any | None = None,
    y: Any | None = None,
    X: Any | None = None,
) -> TensorVariable:
    """Symbolic marginal log-likelihood ``log p(y | beta, sigma, L, o)`` (scalar).

    Parameters
    ----------
    beta : TensorVariable, shape (p,)
        Fixed effects.
    sigma : TensorVariable, scalar
        Residual SD (> 0).
    chol : TensorVariable, shape (q, q)
        Cholesky factor ``L`` of the collapsed factor's effects covariance ``L L'`` (e.g.
        the matrix from ``pm.LKJCholeskyCov``, or ``pt.diag(sd)`` for independent
        effects); any square root works, and zero SDs (singular ``L L'``) are allowed.
    stats : GroupSuffStats
        Statistics of the collapsed factor: numpy fields (embedded as constants), or the
        data containers returned by :func:`symbolic_stats` (static q; fast layout).
    offset : TensorVariable, shape (n,), optional
        Sampled effects of the other grouping factors per observation. When given,
        path (b) is used and ``codes``, ``Z``, ``y``, ``X`` are required.
    codes : array of int, shape (n,), optional
        Levels of the collapsed factor.
    Z : array, shape (n, q), optional
        Random-effect columns of the collapsed factor.
    y : array, shape (n,), optional
    X : array, shape (n, p), optional

    Returns
    -------
    TensorVariable, scalar
    """
    q = _static_q(stats.ZtZ)
    beta, sigma, chol = (pt.as_tensor_variable(x) for x in (beta, sigma, chol))
    n_obs = pt.as_tensor_variable(stats.n).sum()
    if offset is None:
        XtX, Xty = pt.as_tensor_variable(stats.XtX), pt.as_tensor_variable(stats.Xty)
        rr = stats.yty - 2.0 * (Xty @ beta) + beta @ XtX @ beta
        Zr = _stats_zr(beta=beta, stats=stats, q=q)
    else:
        _require_obs("an offset", codes=codes, Z=Z, y=y, X=X)
        r, Zr = _obs_terms(beta=beta, codes=codes, Z=Z, y=y, X=X,
                           offset=pt.as_tensor_variable(offset), n_levels=_n_levels(stats), q=q)
        rr = pt.sum(r**2)
    logdet, vtv = group_terms_sum(chol / sigma, _zz_columns(stats.ZtZ, q), Zr, q)
    return (
        -0.5 * LOG_2PI * n_obs
        - n_obs * pt.log(sigma)
        - 0.5 * logdet
        - (rr - vtv) / (2.0 * sigma**2)
    )


def collapsed_loglik_by_group(
    *,
    beta: Any,
    sigma: Any,
    chol: Any,
    stats: GroupSuffStats,
    codes: Any,
    Z: Any,
    y: Any,
    X: Any,
    offset: Any | None = None,
) -> TensorVariable:
    """Symbolic per-level marginal log-likelihood, shape (L,), for group-level LOO.

    Parameters are those of :func:`collapsed_loglik`; the observation-level arrays are
    always required here (the per-level ``r_j'r_j`` is a segment sum over rows). Levels
    without rows give 0. The vector sums to :func:`collapsed_loglik`.
    """
    q = _static_q(stats.ZtZ)
    beta, sigma, chol = (pt.as_tensor_variable(x) for x in (beta, sigma, chol))
    n_j = pt.as_tensor_variable(stats.n)
    off = None if offset is None else pt.as_tensor_variable(offset)
    r, Zr = _obs_terms(beta=beta, codes=codes, Z=Z, y=y, X=X, offset=off,
                       n_levels=_n_levels(stats), q=q)
    rr = _segment_sum(pt.as_tensor_variable(codes), r**2, _n_levels(stats))  # (L,)
    logdet, vtv, _, _ = group_terms(chol / sigma, _zz_columns(stats.ZtZ, q), Zr, q)
    return (
        -0.5 * LOG_2PI * n_j - n_j * pt.log(sigma) - 0.5 * logdet
        - (rr - vtv) / (2.0 * sigma**2)
    )
