"""Numpy reference of the collapsed Gaussian likelihood, and the whitened system it shares
with the exact draws of integrated-out effects.

Same algebra as :mod:`hierlmm.engines.collapsed.likelihood` (see its docstring for the
model and notation), written with :mod:`~hierlmm.engines.collapsed.small_linalg` so it
broadcasts over leading draw dimensions ``...``. :func:`whitened_system_numpy` is the one
factorisation ``A_j = I + K' Z_j'Z_j K = C_j C_j'`` used by the numpy log-likelihood and
by :mod:`hierlmm.engines.collapsed.recover`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hierlmm.engines.collapsed import small_linalg
from hierlmm.engines.collapsed.stats import GroupSuffStats, group_crossprod
from hierlmm.errors import SpecError

LOG_2PI = float(np.log(2.0 * np.pi))

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


def require_obs(what: str, **arrays: Any) -> None:
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
        :func:`hierlmm.engines.collapsed.stats.group_crossprod`).

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
        require_obs("an offset", codes=codes, Z=Z, y=y, X=X)
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


