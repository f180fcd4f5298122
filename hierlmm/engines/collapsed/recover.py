"""Exact draws of a collapsed factor's random effects given the posterior parameters.

The collapsed engine samples ``(beta, sigma, L)`` with the effects ``b_j`` of one
grouping factor integrated out. Given one posterior draw of the parameters, the effects
are conditionally independent across levels and Gaussian. Writing ``b_j = L w_j`` with
``w_j ~ N(0, I)`` a priori, ``K = L / sigma``, ``A_j = I + K' Z_j'Z_j K = C_j C_j'`` and
``u_j = K' Z_j' r_j`` (``r = y - X beta - o``, ``o`` the other factors' effects)::

    w_j | y, theta ~ N(A_j^{-1} u_j / sigma, A_j^{-1})
    b_j | y, theta ~ N(L C_j^{-T} v_j / sigma, L A_j^{-1} L'),   v_j = C_j^{-1} u_j

so a draw is ``b_j = L C_j^{-T} (v_j / sigma + e_j)`` with ``e_j ~ N(0, I_q)``. This needs
no inverse of the (possibly singular) covariance ``L L'``. Pairing one effects draw with
each parameter draw gives exact draws from the joint posterior (Rao-Blackwellised means
are :func:`conditional_means`).

Cost: O(D L q^3) time in batched ``numpy.linalg`` calls (roughly 0.3 us per draw and
level for q = 2), processed in chunks of draws so that scratch memory stays near
``max_scratch`` floats; the result itself is (D, L, q).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from hierlmm.engines.collapsed import small_linalg
from hierlmm.engines.collapsed.reference import (
    residual_crossprod_numpy,
    whitened_system_numpy,
)
from hierlmm.engines.collapsed.stats import GroupSuffStats
from hierlmm.errors import FitError

_MAX_SCRATCH = 4_000_000  # floats of (chunk, L, q, q) scratch per chunk


def _check_draws(
    beta: np.ndarray,
    sigma: np.ndarray,
    chol: np.ndarray,
    stats: GroupSuffStats,
    offset_zr: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Coerce to float arrays and check the draw shapes against ``stats``."""
    beta = np.asarray(beta, dtype=np.float64)
    sigma = np.asarray(sigma, dtype=np.float64)
    chol = np.asarray(chol, dtype=np.float64)
    D, L, q, p = sigma.shape[0] if sigma.ndim == 1 else -1, stats.n_levels, stats.q, stats.p
    expected = {"beta": (beta, (D, p)), "sigma": (sigma, (D,)), "chol": (chol, (D, q, q))}
    if offset_zr is not None:
        offset_zr = np.asarray(offset_zr, dtype=np.float64)
        expected["offset_zr"] = (offset_zr, (D, L, q))
    for name, (arr, shape) in expected.items():
        if arr.shape != shape:
            raise FitError(
                f"{name} has shape {arr.shape}, expected {shape} (draws, ...) to match the "
                f"collapsed factor's statistics (L={L}, q={q}, p={p}); stack the posterior "
                "draws along the first axis"
            )
    if not (np.all(np.isfinite(sigma)) and np.all(sigma > 0)):
        raise FitError("sigma draws must be finite and positive")
    return beta, sigma, chol, offset_zr


def _chunks(n_draws: int, stats: GroupSuffStats, max_scratch: int) -> Iterator[slice]:
    size = max(1, max_scratch // max(1, stats.n_levels * stats.q * stats.q))
    for start in range(0, n_draws, size):
        yield slice(start, min(start + size, n_draws))


def _solve_upper(C: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``C^{-T} rhs`` for lower-triangular ``C`` (..., q, q) and ``rhs`` (..., q)."""
    return small_linalg.solve_upper(C, rhs)


def _whitened(beta, sigma, chol, stats, offset_zr, part):
    """``C`` (d, L, q, q) and ``v / sigma`` (d, L, q) for one chunk of draws."""
    zr_off = None if offset_zr is None else offset_zr[part]
    Zr = residual_crossprod_numpy(beta=beta[part], stats=stats, offset_zr=zr_off)
    C, v = whitened_system_numpy(sigma=sigma[part], chol=chol[part], ZtZ=stats.ZtZ, Zr=Zr)
    return C, v / sigma[part, None, None]


def conditional_means(
    *,
    beta: np.ndarray,
    sigma: np.ndarray,
    chol: np.ndarray,
    stats: GroupSuffStats,
    offset_zr: np.ndarray | None = None,
    max_scratch: int = _MAX_SCRATCH,
) -> np.ndarray:
    """Posterior means ``E[b_j | y, beta, sigma, L, o]`` for each parameter draw.

    Parameters
    ----------
    beta : ndarray, shape (D, p)
        Fixed-effect draws.
    sigma : ndarray, shape (D,)
        Residual SD draws.
    chol : ndarray, shape (D, q, q)
        Draws of the covariance's Cholesky factor ``L`` (any square root works).
    stats : GroupSuffStats
        Statistics of the collapsed factor.
    offset_zr : ndarray, shape (D, L, q), optional
        ``Z_j' o_j`` of the other factors' sampled effects per draw (see
        :func:`hierlmm.engines.collapsed.stats.group_crossprod`).
    max_scratch : int
        Approximate scratch size in floats per chunk of draws.

    Returns
    -------
    ndarray, shape (D, L, q)
    """
    beta, sigma, chol, offset_zr = _check_draws(beta, sigma, chol, stats, offset_zr)
    out = np.empty((sigma.shape[0], stats.n_levels, stats.q))
    for part in _chunks(sigma.shape[0], stats, max_scratch):
        C, v_scaled = _whitened(beta, sigma, chol, stats, offset_zr, part)
        out[part] = np.einsum("dab,dlb->dla", chol[part], _solve_upper(C, v_scaled))
    return out


def conditional_covariances(
    *, sigma: np.ndarray, chol: np.ndarray, stats: GroupSuffStats
) -> np.ndarray:
    """Posterior covariances ``Var[b_j | y, theta] = L A_j^{-1} L'`` for each draw.

    Parameters
    ----------
    sigma : ndarray, shape (D,)
    chol : ndarray, shape (D, q, q)
    stats : GroupSuffStats

    Returns
    -------
    ndarray, shape (D, L, q, q)
        Memory O(D L q^2): call it on a few draws (e.g. the posterior mean).
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    chol = np.asarray(chol, dtype=np.float64)
    zero = np.zeros((sigma.shape[0], stats.p))
    _check_draws(zero, sigma, chol, stats, None)
    Zr = np.zeros((sigma.shape[0], stats.n_levels, stats.q))
    C, _ = whitened_system_numpy(sigma=sigma, chol=chol, ZtZ=stats.ZtZ, Zr=Zr)
    # L C^{-T}: solve C M' = L' for M' = C^{-1} L', one column of L' at a time
    Lt = np.broadcast_to(np.swapaxes(chol, -1, -2)[:, None], C.shape)  # (D, L, q, q)
    Mt = np.stack([small_linalg.solve_lower(C, Lt[..., k]) for k in range(C.shape[-1])], -1)
    return np.swapaxes(Mt, -1, -2) @ Mt


def draw_group_effects(
    *,
    beta: np.ndarray,
    sigma: np.ndarray,
    chol: np.ndarray,
    stats: GroupSuffStats,
    rng: np.random.Generator,
    offset_zr: np.ndarray | None = None,
    max_scratch: int = _MAX_SCRATCH,
) -> np.ndarray:
    """One exact draw of every level's effects per parameter draw.

    Parameters
    ----------
    beta, sigma, chol, stats, offset_zr, max_scratch
        As in :func:`conditional_means`.
    rng : numpy.random.Generator
        Source of the standard-normal noise (required: results are reproducible).

    Returns
    -------
    ndarray, shape (D, L, q)
        ``b[d, j]`` ~ ``N(m_dj, L_d A_dj^{-1} L_d')``, independently over d and j.
    """
    if not isinstance(rng, np.random.Generator):
        raise FitError("rng must be a numpy.random.Generator, e.g. np.random.default_rng(0)")
    beta, sigma, chol, offset_zr = _check_draws(beta, sigma, chol, stats, offset_zr)
    out = np.empty((sigma.shape[0], stats.n_levels, stats.q))
    for part in _chunks(sigma.shape[0], stats, max_scratch):
        C, v_scaled = _whitened(beta, sigma, chol, stats, offset_zr, part)
        noise = rng.standard_normal(v_scaled.shape)
        out[part] = np.einsum("dab,dlb->dla", chol[part], _solve_upper(C, v_scaled + noise))
    return out
