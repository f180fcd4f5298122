"""A dense Cholesky factor and solves with it, without holding the GIL.

The all-factor likelihood (:mod:`.allfactor`) factors its m x m Schur complement and
solves with the factor once or twice a call. scipy's ``cho_solve`` and
``solve_triangular`` hold the GIL and copy a C-ordered factor to Fortran order on every
call (~3 ms each at m = 1,142); these numba kernels work on the C-ordered lower factor
in place and release the GIL, so threads evaluating side by side
(:mod:`hierlmm.engines.threads`) do not wait for each other. A solve is O(m^2) per
right-hand side, against the factorisation's O(m^3).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _cholesky(S):  # pragma: no cover
    return np.linalg.cholesky(S)


def cholesky_lower(S: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a symmetric ``S`` (m, m), read on its lower triangle
    (LAPACK ``potrf`` through numba). Raises ``LinAlgError`` when ``S`` is not positive
    definite."""
    return _cholesky(np.ascontiguousarray(S, dtype=np.float64))


@numba.njit(cache=True, nogil=True)
def _forward(L, X):  # pragma: no cover
    # L x = b for every row x of X (k, m), in place; rows of L are contiguous
    m = L.shape[0]
    for r in range(X.shape[0]):
        x = X[r]
        for i in range(m):
            acc = x[i]
            row = L[i]
            for c in range(i):
                acc -= row[c] * x[c]
            x[i] = acc / row[i]


@numba.njit(cache=True, nogil=True)
def _backward(L, X):  # pragma: no cover
    # L' x = b for every row x of X (k, m), in place, by columns of L' (rows of L)
    m = L.shape[0]
    for r in range(X.shape[0]):
        x = X[r]
        for i in range(m - 1, -1, -1):
            row = L[i]
            xi = x[i] / row[i]
            x[i] = xi
            for c in range(i):
                x[c] -= xi * row[c]


def _rows(b: np.ndarray) -> np.ndarray:
    """Right-hand sides ``b`` (m,) or (m, k) as a fresh C-ordered (k, m) array."""
    return np.array(np.atleast_2d(np.asarray(b, dtype=np.float64).T), order="C")


def _shaped(X: np.ndarray, b: np.ndarray) -> np.ndarray:
    return X[0] if np.ndim(b) == 1 else X.T


def solve_lower_t(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``L'^{-1} b`` for a lower triangular C-ordered ``L`` (m, m) and ``b`` (m,) or
    (m, k)."""
    X = _rows(b)
    _backward(L, X)
    return _shaped(X, b)


def cho_solve_lower(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(L L')^{-1} b`` for a lower triangular C-ordered ``L`` (m, m) and ``b`` (m,) or
    (m, k)."""
    X = _rows(b)
    _forward(L, X)
    _backward(L, X)
    return _shaped(X, b)
