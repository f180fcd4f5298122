"""Weighted Gram products of a sparse cross-block, without forming them sparse.

For single-effect factors the Schur complement of the all-factor likelihood
(:mod:`.allfactor`) needs ``G21 W G12`` with ``W`` diagonal (one weight per level of the
first factor) and ``G12`` sparse CSR (L1, m). scipy's sparse product builds a sparse
result in two passes and is then densified; on InstEval (2,972 students x 1,142 other
levels, 89,667 non-zeros) that cost ~60 ms per evaluation, more than the Cholesky of
the m x m result. :func:`schur_cholesky` instead adds each row's outer products straight
into the dense, scaled Schur complement (on its upper triangle, see
:mod:`.dense_cholesky`) in one pass, O(sum_i nnz_i^2) flops (~5 ms there on one thread),
and factors it; the gradient's ``trace(S^{-1} G21 W G12)`` is read off the same pattern
by :func:`gram_trace` without forming the product. Neither holds the GIL, so several
threads can evaluate at once (:mod:`hierlmm.engines.threads`).

They are compiled by numba (cached on disk). Each has a parallel form (output rows over
numba's threads) and a serial twin for threads that already run side by side
(:func:`~hierlmm.engines.threads.in_worker`); one output row is always computed by one
thread in the same order, so both give the same bits.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from hierlmm.engines.collapsed.dense_cholesky import factor_upper_in_place
from hierlmm.engines.threads import in_worker


def _csr_csc(G12: sp.csr_array, G12_csc: sp.csc_array | None) -> tuple:
    csc = sp.csc_array(G12) if G12_csc is None else G12_csc
    return G12.indptr, G12.indices, G12.data, csc.indptr, csc.indices, csc.data


@numba.njit(cache=True, nogil=True)
def _schur_row(j, indptr, indices, data, col_ptr, col_rows, col_data, weights, g_ptr, g_cols,
               g_vals, lam, row):  # pragma: no cover
    # row j of lam_j lam_c (G22 - G21 W G12)_jc + delta_jc on and right of the diagonal
    # (c >= j), zeros left of it (row: uninitialised memory, so no fresh zeroed pages);
    # G22 is sparse too (g_*: its upper triangle as CSR)
    row[:] = 0.0
    lj = lam[j]
    for t in range(col_ptr[j], col_ptr[j + 1]):
        i = col_rows[t]
        w = -lj * weights[i] * col_data[t]
        for a in range(indptr[i + 1] - 1, indptr[i] - 1, -1):  # sorted: from the end
            c = indices[a]
            if c < j:
                break
            row[c] += w * (data[a] * lam[c])
    for t in range(g_ptr[j], g_ptr[j + 1]):
        c = g_cols[t]
        row[c] += lj * g_vals[t] * lam[c]
    row[j] += 1.0


@numba.njit(cache=True, nogil=True, parallel=True)
def _schur_parallel(indptr, indices, data, col_ptr, col_rows, col_data, weights, g_ptr,
                    g_cols, g_vals, lam):  # pragma: no cover
    m = lam.size
    out = np.empty((m, m))
    for j in numba.prange(m):
        _schur_row(j, indptr, indices, data, col_ptr, col_rows, col_data, weights, g_ptr,
                   g_cols, g_vals, lam, out[j])
    return out


@numba.njit(cache=True, nogil=True)
def _schur_serial(indptr, indices, data, col_ptr, col_rows, col_data, weights, g_ptr,
                  g_cols, g_vals, lam):  # pragma: no cover
    m = lam.size
    out = np.empty((m, m))
    for j in range(m):
        _schur_row(j, indptr, indices, data, col_ptr, col_rows, col_data, weights, g_ptr,
                   g_cols, g_vals, lam, out[j])
    return out


def schur_cholesky(G12: sp.csr_array, G12_csc: sp.csc_array, G22_upper: sp.csr_array,
                   weights: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of ``S = diag(lam) (G22 - G12' diag(weights) G12) diag(lam) + I``.

    ``S`` is formed on its upper triangle by numba and factored in place by LAPACK
    (:func:`~.dense_cholesky.factor_upper_in_place`), both without the GIL.

    Parameters
    ----------
    G12 : scipy.sparse.csr_array, shape (L1, m)
        Canonical CSR (sorted, duplicates summed).
    G12_csc : scipy.sparse.csc_array, shape (L1, m)
        The same matrix as CSC.
    G22_upper : scipy.sparse.csr_array, shape (m, m)
        The upper triangle (with the diagonal) of the symmetric ``G22``, canonical CSR.
    weights : ndarray, shape (L1,)
    lam : ndarray, shape (m,)

    Returns
    -------
    ndarray, shape (m, m)
        Lower triangular, zeros above the diagonal (Fortran-ordered).

    Raises
    ------
    numpy.linalg.LinAlgError
        When ``S`` is not positive definite.
    """
    kernel = _schur_serial if in_worker() else _schur_parallel
    S = kernel(*_csr_csc(G12, G12_csc), np.ascontiguousarray(weights, dtype=np.float64),
               G22_upper.indptr, G22_upper.indices, G22_upper.data,
               np.ascontiguousarray(lam, dtype=np.float64))
    return factor_upper_in_place(S)


@numba.njit(cache=True, nogil=True)
def _trace_row(j, indptr, indices, data, col_ptr, col_rows, col_data, w2, right,
               V):  # pragma: no cover
    # sum over c >= j of (M'M)_jc V_jc (twice off the diagonal), M = diag(sqrt w2) G
    # diag(right); V's row j holds the symmetric matrix's entries c >= j
    row, acc, rj = V[j], 0.0, right[j]
    for t in range(col_ptr[j], col_ptr[j + 1]):
        i = col_rows[t]
        part = 0.0
        for a in range(indptr[i + 1] - 1, indptr[i] - 1, -1):  # sorted: from the end
            c = indices[a]
            if c < j:
                break
            term = data[a] * right[c] * row[c]
            part += term if c == j else 2.0 * term
        acc += w2[i] * col_data[t] * rj * part
    return acc


@numba.njit(cache=True, nogil=True, parallel=True)
def _trace_parallel(indptr, indices, data, col_ptr, col_rows, col_data, w2, right, V,
                    out):  # pragma: no cover
    for j in numba.prange(out.size):
        out[j] = _trace_row(j, indptr, indices, data, col_ptr, col_rows, col_data, w2, right,
                            V)


@numba.njit(cache=True, nogil=True)
def _trace_serial(indptr, indices, data, col_ptr, col_rows, col_data, w2, right, V,
                  out):  # pragma: no cover
    for j in range(out.size):
        out[j] = _trace_row(j, indptr, indices, data, col_ptr, col_rows, col_data, w2, right,
                            V)


def gram_trace(G12: sp.csr_array, G12_csc: sp.csc_array, left: np.ndarray, right: np.ndarray,
               V: np.ndarray) -> float:
    """``trace(V M'M)`` for ``M = diag(left) G12 diag(right)`` without forming ``M'M``.

    O(sum_i nnz_i^2) like the Gram product itself, reading ``V`` on its upper triangle
    row by row; one partial sum per row, added in order (the same bits on any thread).

    Parameters
    ----------
    G12 : scipy.sparse.csr_array, shape (L1, m)
        Canonical CSR.
    G12_csc : scipy.sparse.csc_array, shape (L1, m)
    left : ndarray, shape (L1,)
    right : ndarray, shape (m,)
    V : ndarray, shape (m, m), C-contiguous
        Symmetric, read on and above its diagonal.
    """
    kernel = _trace_serial if in_worker() else _trace_parallel
    out = np.empty(V.shape[0])
    kernel(*_csr_csc(G12, G12_csc), np.ascontiguousarray(left, dtype=np.float64) ** 2,
           np.ascontiguousarray(right, dtype=np.float64), V, out)
    return float(out.sum())
