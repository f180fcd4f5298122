"""A dense Cholesky factor and solves with it, without holding the GIL.

The all-factor likelihood (:mod:`.allfactor`) factors its m x m Schur complement and
solves with the factor once or twice a call. scipy's ``cholesky``, ``cho_solve`` and
``solve_triangular`` hold the GIL and copy a C-ordered matrix to Fortran order on every
call (~1 ms, and ~3 ms a solve at m = 1,142). Here LAPACK's ``dpotrf`` (scipy's
``cython_lapack``, called through ctypes, which releases the GIL) factors in place a
C-ordered matrix whose upper triangle holds ``S``: that memory, read column-major, is
the lower triangle, LAPACK's faster case (12 ms against 15 ms for the upper one at
m = 1,142, one thread). The lower factor ``L`` is then the transpose view, Fortran
ordered, as LAPACK's solves (``dpotrs``, ``dtrtrs``) and inverse (``dpotri``) read it,
called the same way. So threads evaluating side by side
(:mod:`hierlmm.engines.threads`) do not wait for each other. A solve is O(m^2) per
right-hand side, against the factorisation's O(m^3).

The factorisation is LAPACK's right-looking blocked algorithm written out over BLAS
(:func:`factor_upper_in_place`: ``dpotrf`` on 64-column diagonal blocks, ``dtrsm`` below
them, ``dsyrk`` on the trailing matrix), because OpenBLAS's own ``dpotrf`` runs far
below its level-3 kernels on one thread: measured at m = 1,142 (SkylakeX kernels, one
thread), ``dgemm`` 78 GFLOP/s, ``dsyrk`` 71, ``dpotrf`` 34.5; the blocked loop factors in
~10.0 ms against ``dpotrf``'s 12.3 ms (5.9 ms against 6.9 ms per factorisation with two
threads side by side). Blocks of 32-96 columns were within 5% of each other; larger
blocks and the recursive split were slower.
"""

from __future__ import annotations

import ctypes

import numpy as np
from numba.extending import get_cython_function_address

_INT_P, _CHAR, _PTR = ctypes.POINTER(ctypes.c_int), ctypes.c_char_p, ctypes.c_void_p
_DBL_P = ctypes.POINTER(ctypes.c_double)
BLOCK = 64  # columns per diagonal block of the blocked factorisation


def _lapack(name: str, *argtypes, module: str = "scipy.linalg.cython_lapack"):
    """LAPACK (or BLAS) routine ``name`` from scipy's ``cython_lapack`` (``cython_blas``)
    as a ctypes function (whose calls release the GIL)."""
    address = get_cython_function_address(module, name)
    return ctypes.CFUNCTYPE(None, *argtypes)(address)


_DPOTRF = _lapack("dpotrf", _CHAR, _INT_P, _PTR, _INT_P, _INT_P)
_DTRSM = _lapack("dtrsm", _CHAR, _CHAR, _CHAR, _CHAR, _INT_P, _INT_P, _DBL_P, _PTR, _INT_P,
                 _PTR, _INT_P, module="scipy.linalg.cython_blas")
_DSYRK = _lapack("dsyrk", _CHAR, _CHAR, _INT_P, _INT_P, _DBL_P, _PTR, _INT_P, _DBL_P, _PTR,
                 _INT_P, module="scipy.linalg.cython_blas")
_ONE, _MINUS_ONE = ctypes.c_double(1.0), ctypes.c_double(-1.0)
_DPOTRI = _lapack("dpotri", _CHAR, _INT_P, _PTR, _INT_P, _INT_P)
_DPOTRS = _lapack("dpotrs", _CHAR, _INT_P, _INT_P, _PTR, _INT_P, _PTR, _INT_P, _INT_P)
_DTRTRS = _lapack("dtrtrs", _CHAR, _CHAR, _CHAR, _INT_P, _INT_P, _PTR, _INT_P, _PTR, _INT_P,
                  _INT_P)


def factor_upper_in_place(S: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a symmetric matrix held on the upper triangle of ``S``.

    Parameters
    ----------
    S : ndarray, shape (m, m), float64, C-contiguous
        Overwritten: its upper triangle becomes ``L'``; what lies below the diagonal is
        left as it was (zero it first for a clean factor).

    Returns
    -------
    ndarray, shape (m, m)
        ``L = S.T``, Fortran-ordered, lower triangular when ``S`` was zero below its
        diagonal.

    Raises
    ------
    numpy.linalg.LinAlgError
        When the matrix is not positive definite.
    """
    if S.dtype != np.float64 or not S.flags.c_contiguous:
        raise TypeError("factor_upper_in_place needs a C-contiguous float64 array")
    m = S.shape[0]
    lda, base, info = ctypes.byref(ctypes.c_int(m)), S.ctypes.data, ctypes.c_int(0)
    for k in range(0, m, BLOCK):  # the lower triangle, column-major: (i, j) at i + j m
        b, rest = min(BLOCK, m - k), max(m - k - BLOCK, 0)
        diagonal, below = base + 8 * (k + k * m), base + 8 * (k + b + k * m)
        width, height = ctypes.byref(ctypes.c_int(b)), ctypes.byref(ctypes.c_int(rest))
        _DPOTRF(b"L", width, diagonal, lda, ctypes.byref(info))
        if info.value != 0:
            raise np.linalg.LinAlgError(
                f"the matrix is not positive definite (leading minor {k + info.value})")
        if rest:  # L21 = A21 L11^-T, then A22 -= L21 L21'
            _DTRSM(b"R", b"L", b"T", b"N", height, width, ctypes.byref(_ONE), diagonal, lda,
                   below, lda)
            _DSYRK(b"L", b"N", height, width, ctypes.byref(_MINUS_ONE), below, lda,
                   ctypes.byref(_ONE), base + 8 * (k + b) * (1 + m), lda)
    return S.T


def cholesky_lower(S: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor (Fortran-ordered, zeros above) of a symmetric ``S`` (m, m),
    read on its lower triangle. Raises ``LinAlgError`` when ``S`` is not positive
    definite."""
    return factor_upper_in_place(np.ascontiguousarray(np.triu(np.asarray(S, dtype=np.float64).T)))


def _rows(b: np.ndarray) -> np.ndarray:
    """Right-hand sides ``b`` (m,) or (m, k) as a fresh C-ordered (k, m) array: the
    Fortran-ordered (m, k) matrix LAPACK reads."""
    return np.array(np.atleast_2d(np.asarray(b, dtype=np.float64).T), order="C")


def _shaped(X: np.ndarray, b: np.ndarray) -> np.ndarray:
    return X[0] if np.ndim(b) == 1 else X.T


def _fortran_lower(L: np.ndarray) -> np.ndarray:
    return L if L.flags.f_contiguous and L.dtype == np.float64 else np.asfortranarray(
        L, dtype=np.float64)


def _lapack_solve(routine, trans: bytes | None, L: np.ndarray, b: np.ndarray) -> np.ndarray:
    X, L = _rows(b), _fortran_lower(L)
    n, k, info = ctypes.c_int(L.shape[0]), ctypes.c_int(X.shape[0]), ctypes.c_int(0)
    args = [b"L"] + ([trans, b"N"] if trans is not None else [])
    routine(*args, ctypes.byref(n), ctypes.byref(k), L.ctypes.data, ctypes.byref(n),
            X.ctypes.data, ctypes.byref(n), ctypes.byref(info))
    if info.value != 0:
        raise np.linalg.LinAlgError(f"a triangular solve failed (info {info.value})")
    return _shaped(X, b)


def solve_lower_t(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``L'^{-1} b`` for a lower triangular ``L`` (m, m) and ``b`` (m,) or (m, k)
    (LAPACK ``dtrtrs``)."""
    return _lapack_solve(_DTRTRS, b"T", L, b)


def cho_solve_lower(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(L L')^{-1} b`` for a lower triangular ``L`` (m, m) and ``b`` (m,) or (m, k)
    (LAPACK ``dpotrs``)."""
    return _lapack_solve(_DPOTRS, None, L, b)


def inverse_lower(L: np.ndarray) -> np.ndarray:
    """``(L L')^{-1}`` on its lower triangle, zeros above (LAPACK ``dpotri`` on a copy of
    ``L``, which must be zero above its diagonal), shape (m, m), Fortran-ordered."""
    inv = np.array(L, dtype=np.float64, order="F")
    n, info = ctypes.c_int(L.shape[0]), ctypes.c_int(0)
    _DPOTRI(b"L", ctypes.byref(n), inv.ctypes.data, ctypes.byref(n), ctypes.byref(info))
    if info.value != 0:
        raise np.linalg.LinAlgError(f"dpotri failed with info={info.value}")
    return inv
