"""Weighted Gram products of a sparse cross-block, accumulated straight into a dense matrix.

For single-effect factors the Schur complement of the all-factor likelihood
(:mod:`.allfactor`) needs ``G21 W G12`` with ``W`` diagonal (one weight per level of the
first factor) and ``G12`` sparse CSR (L1, m). scipy's sparse product builds a sparse
result in two passes and is then densified; on InstEval (2,972 students x 1,142 other
levels, 89,667 non-zeros) that cost ~60 ms per evaluation, more than the Cholesky of
the m x m result. This kernel adds each row's outer product into the dense output in one
pass: O(sum_i nnz_i^2) flops, no allocation (~10 ms there on one core).

It is compiled by numba (cached on disk; rows in parallel over numba's threads).
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.sparse as sp


@numba.njit(cache=True, nogil=True, parallel=True)
def _add_weighted_gram(indptr, indices, data, col_ptr, col_rows, col_data, weights, scale,
                       out):  # pragma: no cover
    # one output row at a time (it stays in cache; rows are independent, so threads
    # share them out): row j gathers every level i of the first factor that meets j,
    # times row i up to column j (sorted: the lower triangle)
    for j in numba.prange(col_ptr.size - 1):
        row = out[j]
        for t in range(col_ptr[j], col_ptr[j + 1]):
            i = col_rows[t]
            w = scale * weights[i] * col_data[t]
            for a in range(indptr[i], indptr[i + 1]):
                c = indices[a]
                if c > j:
                    break
                row[c] += w * data[a]


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
    csc = sp.csc_array(G12) if G12_csc is None else G12_csc
    _add_weighted_gram(G12.indptr, G12.indices, G12.data, csc.indptr, csc.indices, csc.data,
                       np.ascontiguousarray(weights, dtype=np.float64), float(scale), out)
    return out
