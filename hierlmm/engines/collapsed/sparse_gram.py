"""Weighted Gram products of a sparse cross-block, accumulated straight into a dense matrix.

For single-effect factors the Schur complement of the all-factor likelihood
(:mod:`.allfactor`) needs ``G21 W G12`` with ``W`` diagonal (one weight per level of the
first factor) and ``G12`` sparse CSR (L1, m). scipy's sparse product builds a sparse
result in two passes and is then densified; on InstEval (2,972 students x 1,142 other
levels, 89,667 non-zeros) that cost ~60 ms per evaluation, more than the Cholesky of
the m x m result. These kernels add each row's outer product into the dense output in
one pass: O(sum_i nnz_i^2) flops, no allocation (~4 ms there on two threads).
:func:`schur_cholesky` also forms the scaled Schur complement in the same pass and
factors it, without the GIL, so several threads can evaluate at once
(:mod:`hierlmm.engines.threads`).

They are compiled by numba (cached on disk). Each has a parallel form (output rows over
numba's threads) and a serial twin for threads that already run side by side
(:func:`~hierlmm.engines.threads.in_worker`); one output row is always computed by one
thread in the same order, so both give the same bits.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp

from hierlmm.engines.threads import in_worker


@numba.njit(cache=True, nogil=True)
def _gram_row(j, indptr, indices, data, col_ptr, col_rows, col_data, weights, scale,
              row):  # pragma: no cover
    # row j gathers every level i of the first factor that meets j, times row i up to
    # column j (sorted: the lower triangle)
    for t in range(col_ptr[j], col_ptr[j + 1]):
        i = col_rows[t]
        w = scale * weights[i] * col_data[t]
        for a in range(indptr[i], indptr[i + 1]):
            c = indices[a]
            if c > j:
                break
            row[c] += w * data[a]


@numba.njit(cache=True, nogil=True, parallel=True)
def _add_gram_parallel(indptr, indices, data, col_ptr, col_rows, col_data, weights, scale,
                       out):  # pragma: no cover
    for j in numba.prange(col_ptr.size - 1):
        _gram_row(j, indptr, indices, data, col_ptr, col_rows, col_data, weights, scale,
                  out[j])


@numba.njit(cache=True, nogil=True)
def _add_gram_serial(indptr, indices, data, col_ptr, col_rows, col_data, weights, scale,
                     out):  # pragma: no cover
    for j in range(col_ptr.size - 1):
        _gram_row(j, indptr, indices, data, col_ptr, col_rows, col_data, weights, scale,
                  out[j])


def _csr_csc(G12: sp.csr_array, G12_csc: sp.csc_array | None) -> tuple:
    csc = sp.csc_array(G12) if G12_csc is None else G12_csc
    return G12.indptr, G12.indices, G12.data, csc.indptr, csc.indices, csc.data


def add_weighted_gram(G12: sp.csr_array, weights: np.ndarray, out: np.ndarray,
                      scale: float = 1.0, G12_csc: sp.csc_array | None = None) -> np.ndarray:
    """``out += scale * G12' diag(weights) G12`` on the lower triangle, in place.

    Only entries ``out[j, c]`` with ``c <= j`` are updated (the product is symmetric;
    LAPACK's lower Cholesky reads nothing else). Returns ``out``.

    Parameters
    ----------
    G12 : scipy.sparse.csr_array, shape (L1, m)
        Canonical CSR (sorted, duplicates summed).
    weights : ndarray, shape (L1,)
    out : ndarray, shape (m, m), float64, C-contiguous
    scale : float
    G12_csc : scipy.sparse.csc_array, optional
        The same matrix as CSC (computed when omitted; pass it when calling repeatedly).
    """
    kernel = _add_gram_serial if in_worker() else _add_gram_parallel
    kernel(*_csr_csc(G12, G12_csc), np.ascontiguousarray(weights, dtype=np.float64),
           float(scale), out)
    return out


@numba.njit(cache=True, nogil=True)
def _schur_row(j, indptr, indices, data, col_ptr, col_rows, col_data, weights, G22, lam,
               row):  # pragma: no cover
    # row j of lam_j lam_c (G22 - G21 W G12)_jc + delta_jc, c <= j (row: uninitialised
    # memory, so no fresh zeroed pages to fault in)
    row[:j + 1] = 0.0
    _gram_row(j, indptr, indices, data, col_ptr, col_rows, col_data, weights, -1.0, row)
    lj = lam[j]
    for c in range(j):
        row[c] = (G22[j, c] + row[c]) * (lj * lam[c])
    row[j] = (G22[j, j] + row[j]) * (lj * lj) + 1.0


@numba.njit(cache=True, nogil=True, parallel=True)
def _schur_parallel(indptr, indices, data, col_ptr, col_rows, col_data, weights, G22,
                    lam):  # pragma: no cover
    m = G22.shape[0]
    out = np.empty((m, m))
    for j in numba.prange(m):
        _schur_row(j, indptr, indices, data, col_ptr, col_rows, col_data, weights, G22, lam,
                   out[j])
    return np.linalg.cholesky(out)  # reads the lower triangle


@numba.njit(cache=True, nogil=True)
def _schur_serial(indptr, indices, data, col_ptr, col_rows, col_data, weights, G22,
                  lam):  # pragma: no cover
    m = G22.shape[0]
    out = np.empty((m, m))
    for j in range(m):
        _schur_row(j, indptr, indices, data, col_ptr, col_rows, col_data, weights, G22, lam,
                   out[j])
    return np.linalg.cholesky(out)  # reads the lower triangle


def schur_cholesky(G12: sp.csr_array, G12_csc: sp.csc_array, G22: np.ndarray,
                   weights: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of ``S = diag(lam) (G22 - G12' diag(weights) G12) diag(lam) + I``.

    Formed on its lower triangle and factored in one numba call that releases the GIL.

    Parameters
    ----------
    G12 : scipy.sparse.csr_array, shape (L1, m)
    G12_csc : scipy.sparse.csc_array, shape (L1, m)
        The same matrix as CSC.
    G22 : ndarray, shape (m, m)
        Read on its lower triangle.
    weights : ndarray, shape (L1,)
    lam : ndarray, shape (m,)

    Returns
    -------
    ndarray, shape (m, m)
        Lower triangular, zeros above the diagonal.

    Raises
    ------
    numpy.linalg.LinAlgError
        When ``S`` is not positive definite.
    """
    kernel = _schur_serial if in_worker() else _schur_parallel
    return kernel(*_csr_csc(G12, G12_csc), np.ascontiguousarray(weights, dtype=np.float64),
                  G22, np.ascontiguousarray(lam, dtype=np.float64))
