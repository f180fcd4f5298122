"""Batched linear algebra for many tiny (q x q) matrices, unrolled over q in numpy.

``numpy.linalg`` calls LAPACK once per matrix, about a microsecond each: for 4,000 draws
x 100,000 levels of 2 x 2 matrices that is minutes. Here the O(q^3) loops over q are
unrolled and each step is one vectorised operation over the whole batch. Internally the
matrix indices come first (``(q, q, *batch)``), so every step reads and writes
contiguous batch-sized blocks.
"""

from __future__ import annotations

import numpy as np


def _q_first(a: np.ndarray, k: int) -> np.ndarray:
    """Move the last ``k`` axes to the front, contiguous."""
    return np.ascontiguousarray(np.moveaxis(a, tuple(range(-k, 0)), tuple(range(k))))


def _q_last(a: np.ndarray, k: int) -> np.ndarray:
    return np.moveaxis(a, tuple(range(k)), tuple(range(-k, 0)))


def cholesky(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of symmetric positive-definite ``A``, shape (..., q, q)."""
    q = A.shape[-1]
    a = _q_first(A, 2)
    c = np.zeros_like(a)
    for i in range(q):
        for k in range(i + 1):
            acc = a[i, k].copy()
            for m in range(k):
                acc -= c[i, m] * c[k, m]
            c[i, k] = np.sqrt(acc) if i == k else acc / c[k, k]
    return _q_last(c, 2)


def _triangular_operands(C: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``C`` (..., q, q) and ``b`` (..., q) broadcast together, matrix indices first."""
    shape = np.broadcast_shapes(C.shape[:-1], b.shape)
    c = _q_first(np.broadcast_to(C, (*shape, C.shape[-1])), 2)
    return c, _q_first(np.broadcast_to(b, shape), 1)


def solve_lower(C: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``C^{-1} b`` for lower-triangular ``C`` (..., q, q) and ``b`` (..., q)."""
    c, rhs = _triangular_operands(C, b)
    x = np.empty_like(rhs)
    for i in range(rhs.shape[0]):
        acc = rhs[i].copy()
        for m in range(i):
            acc -= c[i, m] * x[m]
        x[i] = acc / c[i, i]
    return _q_last(x, 1)


def solve_upper(C: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``C^{-T} b`` for lower-triangular ``C`` (..., q, q) and ``b`` (..., q)."""
    c, rhs = _triangular_operands(C, b)
    x = np.empty_like(rhs)
    for i in range(rhs.shape[0] - 1, -1, -1):
        acc = rhs[i].copy()
        for m in range(i + 1, rhs.shape[0]):
            acc -= c[m, i] * x[m]
        x[i] = acc / c[i, i]
    return _q_last(x, 1)


def congruence(K: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``K' M_j K`` for draws of ``K`` (D, q, q) and per-level ``M`` (L, q, q) -> (D, L, q, q)."""
    q = K.shape[-1]
    k = K.transpose(1, 2, 0)[..., :, None]  # (q, q, D, 1)
    m = M.transpose(1, 2, 0)[..., None, :]  # (q, q, 1, L)
    mk = [[sum(m[c, d] * k[d, b] for d in range(q)) for b in range(q)] for c in range(q)]
    out = np.empty((q, q, K.shape[0], M.shape[0]))
    for a in range(q):
        for b in range(q):
            out[a, b] = sum(k[c, a] * mk[c][b] for c in range(q))
    return _q_last(out, 2)


def transpose_times(K: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``K' v_j`` for ``K`` (D, q, q) and ``v`` (D, L, q) -> (D, L, q)."""
    q = K.shape[-1]
    k = K.transpose(1, 2, 0)[..., None]  # (q, q, D, 1)
    w = _q_first(v, 1)  # (q, D, L)
    out = np.empty_like(w)
    for a in range(q):
        out[a] = sum(k[c, a] * w[c] for c in range(q))
    return _q_last(out, 1)
