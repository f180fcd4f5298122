"""Batched linear algebra for many tiny (q x q) matrices, unrolled over q in numpy.

``numpy.linalg`` calls LAPACK once per matrix, about a microsecond each: for 4,000 draws
x 100,000 levels of 2 x 2 matrices that is minutes. Unrolling the O(q^3) loops over q
and vectorising over the batch costs a few nanoseconds per matrix instead.
"""

from __future__ import annotations

import numpy as np


def cholesky(A: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of symmetric positive-definite ``A``, shape (..., q, q)."""
    q = A.shape[-1]
    C = np.zeros_like(A)
    for i in range(q):
        for k in range(i + 1):
            acc = A[..., i, k] - np.einsum("...m,...m->...", C[..., i, :k], C[..., k, :k])
            C[..., i, k] = np.sqrt(acc) if i == k else acc / C[..., k, k]
    return C


def solve_lower(C: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``C^{-1} b`` for lower-triangular ``C`` (..., q, q) and ``b`` (..., q)."""
    q = C.shape[-1]
    x = np.empty(np.broadcast_shapes(C.shape[:-1], b.shape))
    for i in range(q):
        acc = b[..., i] - np.einsum("...m,...m->...", C[..., i, :i], x[..., :i])
        x[..., i] = acc / C[..., i, i]
    return x


def solve_upper(C: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``C^{-T} b`` for lower-triangular ``C`` (..., q, q) and ``b`` (..., q)."""
    q = C.shape[-1]
    x = np.empty(np.broadcast_shapes(C.shape[:-1], b.shape))
    for i in range(q - 1, -1, -1):
        acc = b[..., i] - np.einsum("...m,...m->...", C[..., i + 1 :, i], x[..., i + 1 :])
        x[..., i] = acc / C[..., i, i]
    return x


def congruence(K: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``K' M_j K`` for draws of ``K`` (D, q, q) and per-level ``M`` (L, q, q) -> (D, L, q, q)."""
    q = K.shape[-1]
    MK = np.zeros((K.shape[0], M.shape[0], q, q))
    for c in range(q):
        for d in range(q):
            MK[:, :, c, :] += M[None, :, c, d, None] * K[:, None, d, :]
    out = np.zeros_like(MK)
    for c in range(q):
        out += K[:, None, c, :, None] * MK[:, :, c, None, :]
    return out


def transpose_times(K: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``K' v_j`` for ``K`` (D, q, q) and ``v`` (D, L, q) -> (D, L, q)."""
    out = np.zeros_like(v)
    for c in range(K.shape[-1]):
        out += v[:, :, c, None] * K[:, None, c, :]
    return out
