"""Collapsed Gaussian likelihood with AR(1)/CAR(1) residuals: R^-1-weighted statistics.

Model for level j of the collapsed factor (its series nested in the level)::

    y_j = X_j beta + o_j + Z_j b_j + e_j,  b_j ~ N(0, L L'),  e_j ~ N(0, sigma^2 R_j(phi))

``R_j`` is block-diagonal over the series of level j, each block an AR(1)/CAR(1)
correlation matrix with the tridiagonal inverse of :mod:`hierlmm.residuals.precision`
(``W = R^{-1}``). Whitening with ``W^{1/2}`` turns this into the iid model of
:mod:`hierlmm.engines.collapsed.likelihood` with every cross-product weighted by ``W``
and one extra term::

    log p(y_j) = -n_j/2 log(2 pi) - n_j log sigma - 1/2 log det R_j - log det C_j
                 - (r_j' W_j r_j - v_j'v_j) / (2 sigma^2)

with ``A_j = I + K' Z_j'W_j Z_j K = C_j C_j'``, ``u_j = K' Z_j'W_j r_j``,
``v_j = C_j^{-1} u_j``, ``K = L / sigma``. Let ``M = [Z | X | y]`` (n, k) in rows sorted by
(series, time) and, for each pair of columns ``(a, b)``, the per-row products
``P0_t = M_ta M_tb`` and ``P1_t = M_ta M_{t-1,b} + M_{t-1,a} M_tb`` (0 at series starts).
Every weighted cross-product is a sum over the level's rows::

    (M_a' W M_b)_j = sum_t c0_t P0_t + sum_t c1_t P1_t

- **AR(1)**: ``c0``, ``c1`` take only the values of :mod:`~hierlmm.residuals.precision`,
  so with ``S0_j = sum P0``, ``S1_j = sum P1`` and ``E_j`` = the sum of ``P0`` over the
  first and the last row of each series (a one-row series counted twice), all
  precomputed once::

      (M_a' W M_b)_j = ((1 + phi^2) S0_j - phi^2 E_j - phi S1_j) / (1 - phi^2)
      log det R = (n - n_series) log(1 - phi^2)

  so one gradient costs O(L k^2 + L q^3), independent of n.
- **CAR(1)**: ``c0_t``, ``c1_t`` depend on ``phi`` and the gaps; the sums are two
  vectorised segment sums over the n rows per gradient (O(n k^2)).

With sampled other factors (offset ``o``), ``r = y - X beta - o`` is formed per row and
``W r`` by the tridiagonal product (O(n)); only ``Z'WZ`` comes from the statistics. The
exact effects after sampling (:mod:`~hierlmm.engines.collapsed.series_effects`) use the
same weighted statistics at each draw's ``phi``, batched over draws. The series of the
residual must be nested in the collapsed factor's levels (e.g. the residual group *is* that factor);
:func:`series_nested` checks it, and otherwise the sampled engine is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from hierlmm.design.design import Design, GroupDesign
from hierlmm.design.residual import ResidualDesign
from hierlmm.engines.collapsed.kernel import group_terms_sum
from hierlmm.engines.collapsed.likelihood import _segment_sum
from hierlmm.engines.collapsed.reference import whitened_system_numpy
from hierlmm.engines.collapsed.stats import GroupSuffStats
from hierlmm.residuals import ResidualStructure
from hierlmm.residuals.precision import apply_numpy, apply_pt, tridiagonal_numpy, tridiagonal_pt

LOG_2PI = float(np.log(2.0 * np.pi))


def series_nested(residual: ResidualDesign, codes: np.ndarray) -> bool:
    """Whether every series lies within one level of a factor with level ``codes`` (n,)."""
    order = residual.order
    s, c = residual.series[order], codes[order]
    same_series = s[1:] == s[:-1]
    return bool(np.all(c[1:][same_series] == c[:-1][same_series]))


def pair_list(k: int) -> list[tuple[int, int]]:
    """Column pairs ``(a, b)``, ``a <= b``, of a k x k symmetric matrix."""
    return [(a, b) for a in range(k) for b in range(a, k)]


@dataclass(frozen=True)
class SeriesPieces:
    """Precomputed pieces of the weighted statistics (numpy; sorted row order).

    Attributes
    ----------
    level : ndarray of int64, shape (n,)
        Collapsed level of each sorted row.
    order : ndarray of int64, shape (n,)
        Sorted position -> user row.
    lag, has_prev : ndarray of float64, shape (n,)
        :func:`hierlmm.residuals.series_inputs` in sorted order.
    P0, P1 : ndarray of float64, shape (n, m)
        Per-row products (m = k (k + 1) / 2 column pairs of ``M = [Z | X | y]``).
    S0, S1, E : ndarray of float64, shape (L, m)
        Their per-level sums (``E`` over series end points), for AR(1).
    n : ndarray of int64, shape (L,)
    n_pairs : float
        Rows with a predecessor, ``n - n_series``.
    q, p : int
    """

    level: np.ndarray
    order: np.ndarray
    lag: np.ndarray
    has_prev: np.ndarray
    P0: np.ndarray
    P1: np.ndarray
    S0: np.ndarray
    S1: np.ndarray
    E: np.ndarray
    n: np.ndarray
    n_pairs: float
    q: int
    p: int

    @property
    def n_levels(self) -> int:
        return int(self.n.shape[0])


def _segsum(codes: np.ndarray, values: np.ndarray, n_levels: int) -> np.ndarray:
    """Per-level sums of the columns of ``values`` (n, m) -> (L, m)."""
    return np.stack(
        [np.bincount(codes, weights=values[:, c], minlength=n_levels)
         for c in range(values.shape[1])], axis=1,
    )  # fmt: skip


def series_pieces(design: Design, group: GroupDesign, shift: float) -> SeriesPieces:
    """The :class:`SeriesPieces` of ``design`` for the collapsed factor ``group``."""
    residual = design.residual
    order = residual.order
    lag = residual.lags  # sorted, 0 at starts
    has_prev = (lag > 0).astype(np.float64)
    M = np.column_stack([group.Z, design.X, design.y - shift])[order]  # (n, k)
    prev = np.vstack([M[:1] * 0.0, M[:-1]]) * has_prev[:, None]
    pairs = pair_list(M.shape[1])
    a, b = (np.array(i) for i in zip(*pairs, strict=True))
    P0 = M[:, a] * M[:, b]
    P1 = M[:, a] * prev[:, b] + prev[:, a] * M[:, b]
    offsets = residual.offsets
    ends = np.zeros(M.shape[0])
    ends[offsets[:-1]] += 1.0
    ends[offsets[1:] - 1] += 1.0
    level = group.codes[order].astype(np.int64)
    L = group.n_levels
    return SeriesPieces(
        level=level, order=order, lag=np.where(lag > 0, lag, 1.0), has_prev=has_prev,
        P0=P0, P1=P1, S0=_segsum(level, P0, L), S1=_segsum(level, P1, L),
        E=_segsum(level, P0 * ends[:, None], L),
        n=np.bincount(level, minlength=L).astype(np.int64),
        n_pairs=float(has_prev.sum()), q=group.q, p=design.X.shape[1],
    )


def unpack(G, q: int, p: int, total) -> GroupSuffStats:
    """Statistics from packed weighted cross-products ``G`` (L, m) (numpy or PyTensor).

    ``total(x)`` sums over levels (axis 0). ``n`` is left as None (callers add it).
    """
    k = q + p + 1
    index = {pair: i for i, pair in enumerate(pair_list(k))}

    def col(a, b):
        return G[:, index[(min(a, b), max(a, b))]]

    stack = np.stack if isinstance(G, np.ndarray) else pt.stack
    ZtZ = stack([stack([col(a, b) for b in range(q)], axis=-1) for a in range(q)], axis=-2)
    ZtX = stack([stack([col(a, q + c) for c in range(p)], axis=-1) for a in range(q)], axis=-2)
    Zty = stack([col(a, k - 1) for a in range(q)], axis=-1)
    XtX = stack([stack([total(col(q + a, q + c)) for c in range(p)]) for a in range(p)])
    Xty = stack([total(col(q + a, k - 1)) for a in range(p)])
    return GroupSuffStats(ZtZ=ZtZ, ZtX=ZtX, Zty=Zty, n=None, XtX=XtX, Xty=Xty,
                          yty=total(col(k - 1, k - 1)))


# ----------------------------------------------------------------------------- numpy
def weighted_stats_numpy(
    pieces: SeriesPieces, structure: ResidualStructure, phi: float
) -> tuple[GroupSuffStats, np.ndarray, np.ndarray, float]:
    """``W``-weighted statistics at one ``phi``, with ``c0``, ``c1`` (n,) and log det R."""
    phi_t = structure.row_phi_numpy(np.float64(phi), pieces.lag, pieces.has_prev)
    c0, c1, logdet_r = tridiagonal_numpy(phi_t)
    if structure.kind == "ar1":
        G = ((1 + phi**2) * pieces.S0 - phi**2 * pieces.E - phi * pieces.S1) / (1 - phi**2)
    else:
        G = _segsum(pieces.level, c0[:, None] * pieces.P0 + c1[:, None] * pieces.P1,
                    pieces.n_levels)
    stats = unpack(G, pieces.q, pieces.p, lambda x: x.sum(axis=0))
    ZtZ = 0.5 * (stats.ZtZ + np.swapaxes(stats.ZtZ, -1, -2))
    stats = GroupSuffStats(ZtZ=ZtZ, ZtX=stats.ZtX, Zty=stats.Zty, n=pieces.n, XtX=stats.XtX,
                           Xty=stats.Xty, yty=float(stats.yty))
    return stats, c0, c1, logdet_r


# --------------------------------------------------------------------------- PyTensor


def piece_arrays(pieces: SeriesPieces, kind: str) -> dict[str, np.ndarray]:
    """Arrays the likelihood reads as data containers (AR(1) needs no per-row products)."""
    out = {"n": pieces.n, "n_pairs": np.asarray(pieces.n_pairs)}
    if kind == "ar1":  # levels last and contiguous: each column read is one (L,) row
        for name in ("S0", "S1", "E"):
            value = getattr(pieces, name)
            out[f"{name}T"] = np.ascontiguousarray(value.T)
            out[f"{name}sum"] = value.sum(axis=0)
    else:
        out |= {"P0": pieces.P0, "P1": pieces.P1, "level": pieces.level}
    out |= {"lag": pieces.lag, "has_prev": pieces.has_prev}
    return out


def _ar1_combine(phi, S0, E, S1):
    """``((1 + phi^2) S0 - phi^2 E - phi S1) / (1 - phi^2)`` (the AR(1) weighting)."""
    return ((1 + phi**2) * S0 - phi**2 * E - phi * S1) / (1 - phi**2)


def _ar1_loglik(*, beta, sigma, chol, phi, data: dict, q: int, p: int):
    """AR(1) without an offset: only the needed (L,) columns, totals from (m,) sums.

    Same value as the general path; a much smaller graph (no (L, m) matrix, no stacking
    into (L, q, q) and back), so it compiles faster.
    """
    index = {pair: i for i, pair in enumerate(pair_list(q + p + 1))}
    y = q + p

    def at(a, b):
        return index[(min(a, b), max(a, b))]

    needed = sorted({at(a, b) for a in range(q) for b in range(q + p + 1)})
    rows = np.array(needed)
    block = _ar1_combine(phi, data["S0T"][rows], data["ET"][rows], data["S1T"][rows])

    def col(a, b):  # one (L,) row of the weighted block
        return block[needed.index(at(a, b))]

    total = _ar1_combine(phi, data["S0sum"], data["Esum"], data["S1sum"])  # (m,)
    XtX = pt.stack([pt.stack([total[at(q + a, q + c)] for c in range(p)]) for a in range(p)])
    Xty = pt.stack([total[at(q + a, y)] for a in range(p)])
    rr = total[at(y, y)] - 2.0 * (Xty @ beta) + beta @ XtX @ beta
    zr = []
    for a in range(q):
        term = col(a, y)
        for c in range(p):
            term = term - col(a, q + c) * beta[c]
        zr.append(term)
    zz = {(c, d): col(c, d) for c in range(q) for d in range(c, q)}
    logdet, vtv = group_terms_sum(chol / sigma, zz, zr, q, zz_gradient=True)
    n_obs = pt.sum(data["n"])
    logdet_r = data["n_pairs"] * pt.log(1 - phi**2)
    return (-0.5 * LOG_2PI * n_obs - n_obs * pt.log(sigma) - 0.5 * logdet_r - 0.5 * logdet
            - (rr - vtv) / (2.0 * sigma**2))


def series_loglik(
    *, beta, sigma, chol, phi, structure: ResidualStructure, data: dict, q: int, p: int,
    obs: dict | None = None,
):
    """Symbolic marginal log-likelihood with the collapsed factor integrated out (scalar).

    Parameters
    ----------
    beta : TensorVariable (p,)
        Fixed effects on the statistics' response (``y - shift``).
    sigma, phi : TensorVariable, scalar
    chol : TensorVariable (q, q)
    structure : ResidualStructure
    data : dict
        Containers of :func:`piece_arrays` by field name.
    obs : dict, optional
        With an offset: ``offset`` (n,) user order, ``order`` (n,), ``Z`` (n, q), ``X``
        (n, p), ``y`` (n,) sorted, ``level`` (n,) sorted.
    """
    n_levels = data["n"].shape[0]
    if structure.kind == "ar1" and obs is None:
        return _ar1_loglik(beta=beta, sigma=sigma, chol=chol, phi=phi, data=data, q=q, p=p)
    if structure.kind == "ar1":
        G = _ar1_combine(phi, data["S0T"], data["ET"], data["S1T"]).T
        logdet_r = data["n_pairs"] * pt.log(1 - phi**2)
        c0 = c1 = None
    else:
        phi_t = structure.row_phi(phi, data["lag"], data["has_prev"])
        c0, c1, logdet_r = tridiagonal_pt(phi_t)
        G = _segment_sum(data["level"], c0[:, None] * data["P0"] + c1[:, None] * data["P1"],
                         n_levels)
    stats = unpack(G, q, p, lambda x: pt.sum(x, axis=0))
    if obs is None:
        rr = stats.yty - 2.0 * (stats.Xty @ beta) + beta @ stats.XtX @ beta
        Zr = [stats.Zty[:, c] - stats.ZtX[:, c, :] @ beta for c in range(q)]
    else:
        if c0 is None:
            phi_t = structure.row_phi(phi, data["lag"], data["has_prev"])
            c0, c1, _ = tridiagonal_pt(phi_t)
        r = obs["y"] - obs["X"] @ beta - obs["offset"][obs["order"]]
        Wr = apply_pt(c0, c1, r)
        rr = pt.sum(r * Wr)
        Zr = [_segment_sum(obs["level"], obs["Z"][:, c] * Wr, n_levels) for c in range(q)]
    zz = {(c, d): stats.ZtZ[:, c, d] for c in range(q) for d in range(c, q)}
    logdet, vtv = group_terms_sum(chol / sigma, zz, Zr, q, zz_gradient=True)
    n_obs = pt.sum(data["n"])
    return (-0.5 * LOG_2PI * n_obs - n_obs * pt.log(sigma) - 0.5 * logdet_r - 0.5 * logdet
            - (rr - vtv) / (2.0 * sigma**2))


def series_loglik_numpy(
    *, beta, sigma, chol, phi, structure, pieces: SeriesPieces, offset_sorted=None,
    Z_sorted=None, X_sorted=None, y_sorted=None,
) -> float:
    """Numpy :func:`series_loglik` for one parameter point (tests, reference)."""
    stats, c0, c1, logdet_r = weighted_stats_numpy(pieces, structure, phi)
    beta = np.asarray(beta, dtype=np.float64)
    if offset_sorted is None:
        rr = stats.yty - 2.0 * stats.Xty @ beta + beta @ stats.XtX @ beta
        Zr = stats.Zty - stats.ZtX @ beta
    else:
        r = y_sorted - X_sorted @ beta - offset_sorted
        Wr = apply_numpy(c0, c1, r)
        rr = float(r @ Wr)
        Zr = np.stack([np.bincount(pieces.level, weights=Z_sorted[:, a] * Wr,
                                   minlength=pieces.n_levels) for a in range(pieces.q)], -1)
    C, v = whitened_system_numpy(sigma=np.asarray(sigma), chol=np.asarray(chol),
                                 ZtZ=stats.ZtZ, Zr=Zr)
    logdet = 2.0 * np.sum(np.log(np.diagonal(C, axis1=-2, axis2=-1)))
    n_obs = float(pieces.n.sum())
    return float(-0.5 * LOG_2PI * n_obs - n_obs * np.log(sigma) - 0.5 * logdet_r - 0.5 * logdet
                 - (rr - np.sum(v**2)) / (2.0 * sigma**2))
