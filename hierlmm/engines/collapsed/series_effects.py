"""Exact effect draws after a collapsed AR(1)/CAR(1) fit, batched over posterior draws.

Every posterior draw d has its own ``phi_d`` and hence its own ``R^{-1}``-weighted
statistics (:mod:`hierlmm.engines.collapsed.series`). Instead of one pass per draw, a
chunk of draws is handled at once:

- **AR(1)**: the weighted cross-products are a combination of the three precomputed
  per-level sums, ``G_d = a0_d S0 + aE_d E + a1_d S1`` with
  ``a0 = (1 + phi^2) / (1 - phi^2)``, ``aE = -phi^2 / (1 - phi^2)``,
  ``a1 = -phi / (1 - phi^2)``: one (d, 3) x (3, L) matrix product per packed column;
- **CAR(1)**: the per-row weights ``c0``, ``c1`` (d, n) depend on ``phi_d`` and the gaps;
  the per-level sums are sparse (L, n) indicator products, one per packed column.

Then ``A_dj = I + K_d' Z_j'W_d Z_j K_d = C C'``, ``v = C^{-1} K_d' Z_j'W_d r_dj`` and
``b_dj = L_d C^{-T} (v / sigma_d + e)`` with ``e ~ N(0, I_q)``, exactly as
:func:`hierlmm.engines.collapsed.recover.draw_group_effects` does for one draw, with the
q x q algebra unrolled over the whole (d, L) batch (:mod:`.small_linalg`). The noise is
drawn in the same order as one draw at a time, so the result equals the per-draw loop.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from hierlmm.engines.collapsed import small_linalg
from hierlmm.engines.collapsed.series import SeriesPieces, pair_list
from hierlmm.residuals import ResidualStructure
from hierlmm.residuals.precision import apply_numpy, tridiagonal_numpy

_MAX_SCRATCH = 8_000_000  # floats of per-chunk scratch


def _pair_index(q: int, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packed-column indices of ``Z'Z`` (q, q), ``Z'X`` (q, p) and ``Z'y`` (q,) in ``G``."""
    k = q + p + 1
    index = {pair: i for i, pair in enumerate(pair_list(k))}

    def at(a: int, b: int) -> int:
        return index[(min(a, b), max(a, b))]

    zz = np.array([[at(a, b) for b in range(q)] for a in range(q)])
    zx = np.array([[at(a, q + c) for c in range(p)] for a in range(q)])
    zy = np.array([at(a, k - 1) for a in range(q)])
    return zz, zx, zy


def level_indicator(pieces: SeriesPieces) -> sp.csr_matrix:
    """Sparse (L, n) 0/1 matrix summing sorted rows into their collapsed level."""
    n = pieces.level.shape[0]
    return sp.csr_matrix(
        (np.ones(n), (pieces.level, np.arange(n))), shape=(pieces.n_levels, n)
    )


def _ar1_coefficients(phi: np.ndarray) -> np.ndarray:
    """(d, 3) weights of ``S0``, ``E``, ``S1`` in the AR(1) weighted cross-products."""
    denom = 1.0 - phi**2
    return np.stack([(1.0 + phi**2) / denom, -(phi**2) / denom, -phi / denom], axis=1)


def row_weights(
    pieces: SeriesPieces, structure: ResidualStructure, phi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Tridiagonal ``R^{-1}`` entries ``c0``, ``c1`` (d, n) for draws ``phi`` (d,)."""
    phi_t = structure.row_phi_numpy(np.asarray(phi, dtype=np.float64), pieces.lag,
                                    pieces.has_prev)
    c0, c1, _ = tridiagonal_numpy(phi_t)
    return c0, c1


class _Products:
    """Weighted cross-products of packed columns as (d, L) arrays, one column at a time.

    AR(1): ``coef (d, 3) @ [S0; E; S1][:, :, c] (3, L)``. CAR(1): the level sums of
    ``c0 P0[:, c] + c1 P1[:, c]`` (d, n) by a sparse (L, n) indicator product.
    """

    def __init__(self, pieces, structure, phi, indicator):
        self.pieces, self.ar1 = pieces, structure.kind == "ar1"
        if self.ar1:
            self.coef = _ar1_coefficients(phi)
            self.stacked = np.stack([pieces.S0, pieces.E, pieces.S1])  # (3, L, m)
        else:
            self.c0, self.c1 = row_weights(pieces, structure, phi)
            self.indicator = indicator

    def column(self, c: int) -> np.ndarray:
        if self.ar1:
            return self.coef @ self.stacked[:, :, c]
        rows = self.c0 * self.pieces.P0[:, c] + self.c1 * self.pieces.P1[:, c]  # (d, n)
        return np.asarray(self.indicator @ rows.T).T

    def combined(self, columns: list[int], weights: np.ndarray) -> np.ndarray:
        """``sum_i weights[:, i] * column(columns[i])`` (d, L); weights (d, len(columns))."""
        if self.ar1:  # one (d, 3 k) @ (3 k, L) product
            w = (self.coef[:, :, None] * weights[:, None, :]).reshape(weights.shape[0], -1)
            return w @ self.stacked[:, :, columns].transpose(0, 2, 1).reshape(-1,
                                                                    self.stacked.shape[1])
        return sum(weights[:, i, None] * self.column(c) for i, c in enumerate(columns))


def _offset_zr(pieces, Z_sorted, structure, phi, offset_sorted, indicator) -> np.ndarray:
    """``Z_j' W_d o_dj`` (q, d, L) for sorted offsets ``o`` (d, n) at draws ``phi`` (d,)."""
    c0, c1 = row_weights(pieces, structure, phi)
    Wo = apply_numpy(c0, c1, offset_sorted)  # (d, n)
    return np.stack([np.asarray(indicator @ (Wo * Z_sorted[:, a]).T).T
                     for a in range(pieces.q)])


def _q_last(a: np.ndarray, k: int) -> np.ndarray:
    return np.moveaxis(a, tuple(range(k)), tuple(range(-k, 0)))


def draw_chunk(
    *, pieces: SeriesPieces, structure: ResidualStructure, beta: np.ndarray,
    sigma: np.ndarray, chol: np.ndarray, phi: np.ndarray, rng: np.random.Generator,
    offset_sorted: np.ndarray | None = None, Z_sorted: np.ndarray | None = None,
    indicator=None,
) -> np.ndarray:
    """Exact effect draws (d, L, q) for a chunk of d parameter draws.

    Parameters
    ----------
    beta : ndarray, shape (d, p)
        On the statistics' response (``y - shift``).
    sigma, phi : ndarray, shape (d,)
    chol : ndarray, shape (d, q, q)
    offset_sorted : ndarray, shape (d, n), optional
        Other factors' effects per row, in sorted order (then ``Z_sorted`` (n, q) too).
    indicator : scipy sparse (L, n), optional
        :func:`level_indicator` (built here when needed and not given).

    Notes
    -----
    Arrays are held q-first, (q, q, d, L), so every unrolled step of the q x q algebra
    is one vectorised operation on a contiguous (d, L) block.
    """
    q, p = pieces.q, pieces.p
    d = phi.shape[0]
    zz, zx, zy = _pair_index(q, p)
    if indicator is None and (structure.kind != "ar1" or offset_sorted is not None):
        indicator = level_indicator(pieces)
    prods = _Products(pieces, structure, np.asarray(phi, dtype=np.float64), indicator)
    ZtZ = [[prods.column(zz[a, b]) if a <= b else None for b in range(q)] for a in range(q)]
    ZtZ = [[ZtZ[min(a, b)][max(a, b)] for b in range(q)] for a in range(q)]
    weights = np.concatenate([np.ones((d, 1)), -beta], axis=1)  # Z'y - Z'X beta
    Zr = np.stack([prods.combined([zy[a], *zx[a]], weights) for a in range(q)])  # (q, d, L)
    if offset_sorted is not None:
        Zr -= _offset_zr(pieces, Z_sorted, structure, phi, offset_sorted, indicator)
    K = (chol / sigma[:, None, None]).transpose(1, 2, 0)[..., None]  # (q, q, d, 1)
    MK = [[sum(ZtZ[b][c] * K[c, e] for c in range(q)) for e in range(q)] for b in range(q)]
    A = np.empty((q, q, d, pieces.n_levels))
    for a in range(q):
        for e in range(q):
            A[a, e] = sum(K[b, a] * MK[b][e] for b in range(q)) + (a == e)
    C = small_linalg.cholesky(_q_last(A, 2))  # (d, L, q, q)
    KtZr = np.stack([sum(K[b, a] * Zr[b] for b in range(q)) for a in range(q)])
    v = small_linalg.solve_lower(C, _q_last(KtZr, 1))  # (d, L, q)
    noise = rng.standard_normal(v.shape)
    w = small_linalg.solve_upper(C, v / sigma[:, None, None] + noise)
    return np.einsum("dab,dlb->dla", chol, w)


def chunks(n_draws: int, pieces: SeriesPieces, kind: str):
    """Slices of draws covering ``range(n_draws)``, each within :data:`_MAX_SCRATCH`.

    Per draw the scratch is about ``(q + 2)^2`` (d, L) blocks, plus two (d, n) rows for
    CAR(1) or an offset. At most 32 draws: the unrolled steps then work on blocks that
    stay in the CPU cache (1,000 levels, q = 2: 0.8 s of CPU for 4,000 draws against
    3.4 s with 256-draw chunks).
    """
    per_draw = (pieces.q + 2) ** 2 * pieces.n_levels + 4 * pieces.level.shape[0]
    size = max(1, min(32, _MAX_SCRATCH // per_draw))
    for start in range(0, n_draws, size):
        yield slice(start, min(start + size, n_draws))
