"""Per-group sufficient statistics for the collapsed Gaussian engine.

They come in two parts, as MixedModels.jl keeps its ``A`` blocks apart from the response
(``refit!``): :class:`DesignStats` (``Z'Z``, ``Z'X``, ``X'X``, counts) depend only on the
design and are computed once per design; :class:`ResponseStats` (``Z'y``, ``X'y``,
``y'y``) are all that changes with a new response, at O(n q) cost.

For one grouping factor with integer codes ``codes`` (n,), random-effect columns ``Z``
(n, q), fixed-effect columns ``X`` (n, p) and response ``y`` (n,), the Gaussian
log-likelihood with that factor's effects integrated out depends on the data only through
the cross-products computed here (Bates et al. 2015, sec. 3), so one evaluation costs
O(L q^3 + L q p + p^2) whatever n is. Everything is computed with ``np.bincount`` one
column pair at a time: O(n q (q + p)) time, O(n) scratch memory, O(L q (q + p)) output;
never an n x L matrix.

References
----------
Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear mixed-effects
models using lme4. Journal of Statistical Software 67(1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt

from hierlmm.design.design import Design, GroupDesign
from hierlmm.errors import DataError, SpecError


def shifted_beta(beta, shift, index: int | None):
    """``beta`` with ``shift`` taken off the intercept, to match statistics of ``y - shift``.

    Numpy draws (..., p) or a symbolic vector (p,); unchanged without an intercept.
    """
    if index is None:
        return beta
    if isinstance(beta, np.ndarray):
        out = beta.copy()
        out[..., index] -= shift
        return out
    return pt.set_subtensor(beta[index], beta[index] - shift)


@dataclass(frozen=True)
class DesignStats:
    """The y-independent cross-products of one grouping factor.

    Attributes
    ----------
    ZtZ : ndarray of float64, shape (L, q, q)
    ZtX : ndarray of float64, shape (L, q, p)
    n : ndarray of int64, shape (L,)
    XtX : ndarray of float64, shape (p, p)
    """

    ZtZ: np.ndarray
    ZtX: np.ndarray
    n: np.ndarray
    XtX: np.ndarray


@dataclass(frozen=True)
class ResponseStats:
    """The y-dependent cross-products of one grouping factor.

    Attributes
    ----------
    Zty : ndarray of float64, shape (L, q)
    Xty : ndarray of float64, shape (p,)
    yty : float
    """

    Zty: np.ndarray
    Xty: np.ndarray
    yty: float


@dataclass(frozen=True)
class GroupSuffStats:
    """Cross-products of one grouping factor's data, per level and overall.

    Attributes
    ----------
    ZtZ : ndarray of float64, shape (L, q, q)
        ``Z_j' Z_j`` per level j.
    ZtX : ndarray of float64, shape (L, q, p)
        ``Z_j' X_j`` per level j.
    Zty : ndarray of float64, shape (L, q)
        ``Z_j' y_j`` per level j.
    n : ndarray of int64, shape (L,)
        Observations per level (levels with no rows have 0 and contribute nothing).
    XtX : ndarray of float64, shape (p, p)
        ``X' X`` over all rows.
    Xty : ndarray of float64, shape (p,)
        ``X' y`` over all rows.
    yty : float
        ``y' y`` over all rows.

    Notes
    -----
    For a model whose compiled graph should not embed the data, wrap the record with
    :func:`hierlmm.engines.collapsed.likelihood.symbolic_stats`, which returns the
    same record with ``pm.Data``-style variables in a layout the compiled loops read fast.
    """

    ZtZ: np.ndarray
    ZtX: np.ndarray
    Zty: np.ndarray
    n: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float

    @classmethod
    def combine(cls, design: DesignStats, response: ResponseStats) -> GroupSuffStats:
        """The full record from its y-independent and y-dependent parts."""
        return cls(
            ZtZ=design.ZtZ, ZtX=design.ZtX, Zty=response.Zty, n=design.n,
            XtX=design.XtX, Xty=response.Xty, yty=response.yty,
        )

    @property
    def n_levels(self) -> int:
        """Number of levels L."""
        return int(self.ZtZ.shape[0])

    @property
    def q(self) -> int:
        """Random effects per level."""
        return int(self.ZtZ.shape[-1])

    @property
    def p(self) -> int:
        """Fixed-effect columns."""
        return int(self.XtX.shape[-1])

    @property
    def n_obs(self) -> int:
        """Total number of observations."""
        return int(np.sum(self.n))


def _check_arrays(
    codes: np.ndarray, Z: np.ndarray, X: np.ndarray, y: np.ndarray, n_levels: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate shapes, dtypes and finiteness; return float64 / int64 copies as needed."""
    codes = np.asarray(codes)
    if codes.ndim != 1 or not np.issubdtype(codes.dtype, np.integer):
        raise DataError("group codes must be a 1-d integer array; encode the factor first")
    n = codes.shape[0]
    Z = np.asarray(Z, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    for name, arr, ndim in (("Z", Z, 2), ("X", X, 2), ("y", y, 1)):
        if arr.ndim != ndim or arr.shape[0] != n:
            raise DataError(
                f"{name} has shape {arr.shape} but the group codes have {n} rows; "
                f"pass a {ndim}-d array with one row per observation"
            )
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{name} holds NaN or infinite values; drop or impute them first")
    if n_levels < 1:
        raise DataError(f"n_levels must be at least 1, got {n_levels}")
    if n and (codes.min() < 0 or codes.max() >= n_levels):
        raise DataError(
            f"group codes must lie in [0, {n_levels}); got range "
            f"[{codes.min()}, {codes.max()}]; check n_levels"
        )
    return codes.astype(np.int64, copy=False), Z, X, y


def group_crossprod(
    codes: np.ndarray, Z: np.ndarray, v: np.ndarray, n_levels: int
) -> np.ndarray:
    """Per-level cross-product ``Z_j' v_j`` of columns ``Z`` with one or more vectors.

    Parameters
    ----------
    codes : ndarray of int, shape (n,)
        Level of each row, in ``[0, n_levels)``.
    Z : ndarray of float, shape (n, q)
        Columns to cross with ``v``.
    v : ndarray of float, shape (n,) or (n, k)
        Vector(s) per row (e.g. an offset from other factors, or ``X`` columns).
    n_levels : int
        Number of levels L.

    Returns
    -------
    ndarray of float64, shape (L, q) or (L, q, k)
        ``out[j, a(, c)] = sum_{i: codes_i = j} Z[i, a] * v[i(, c)]``.
    """
    v = np.asarray(v, dtype=np.float64)
    vv = v[:, None] if v.ndim == 1 else v
    out = np.empty((n_levels, Z.shape[1], vv.shape[1]))
    for a in range(Z.shape[1]):
        for c in range(vv.shape[1]):
            out[:, a, c] = np.bincount(codes, weights=Z[:, a] * vv[:, c], minlength=n_levels)
    return out[:, :, 0] if v.ndim == 1 else out


def design_stats(codes: np.ndarray, Z: np.ndarray, X: np.ndarray, n_levels: int) -> DesignStats:
    """The y-independent :class:`DesignStats` of one factor (arrays already checked).

    Parameters
    ----------
    codes : ndarray of int64, shape (n,)
    Z : ndarray of float64, shape (n, q)
    X : ndarray of float64, shape (n, p)
    n_levels : int
    """
    ZtZ = group_crossprod(codes, Z, Z, n_levels)  # (L, q, q)
    return DesignStats(
        ZtZ=0.5 * (ZtZ + ZtZ.transpose(0, 2, 1)),
        ZtX=group_crossprod(codes, Z, X, n_levels),  # (L, q, p)
        n=np.bincount(codes, minlength=n_levels).astype(np.int64),
        XtX=X.T @ X,
    )


def response_stats(
    codes: np.ndarray, Z: np.ndarray, X: np.ndarray, y: np.ndarray, n_levels: int
) -> ResponseStats:
    """The y-dependent :class:`ResponseStats` of one factor, O(n q) (arrays checked)."""
    return ResponseStats(
        Zty=group_crossprod(codes, Z, y, n_levels),  # (L, q)
        Xty=X.T @ y,
        yty=float(y @ y),
    )


def group_suffstats(
    codes: np.ndarray, Z: np.ndarray, X: np.ndarray, y: np.ndarray, n_levels: int
) -> GroupSuffStats:
    """Compute the :class:`GroupSuffStats` of one grouping factor.

    Parameters
    ----------
    codes : ndarray of int, shape (n,)
        Level of each observation, in ``[0, n_levels)``.
    Z : ndarray of float, shape (n, q)
        The factor's random-effect columns.
    X : ndarray of float, shape (n, p)
        Fixed-effect design matrix.
    y : ndarray of float, shape (n,)
        Response.
    n_levels : int
        Number of levels L (levels with no observations are allowed).

    Returns
    -------
    GroupSuffStats

    Raises
    ------
    DataError
        If shapes disagree, values are not finite or codes fall outside ``[0, n_levels)``.
    """
    codes, Z, X, y = _check_arrays(codes, Z, X, y, n_levels)
    return GroupSuffStats.combine(
        design_stats(codes, Z, X, n_levels), response_stats(codes, Z, X, y, n_levels)
    )


def suffstats_for(
    design: Design, factor: str | GroupDesign, *, shift: float = 0.0
) -> GroupSuffStats:
    """Return the :class:`GroupSuffStats` of one grouping factor of ``design``.

    Parameters
    ----------
    design : Design
        Encoded data.
    factor : str or GroupDesign
        The factor to collapse (its name, or its record from ``design.groups``).
    shift : float
        Constant subtracted from the response before its statistics are formed.
    """
    if isinstance(factor, GroupDesign):
        group = factor
    else:
        try:
            group = design.group(factor)
        except KeyError:
            names = ", ".join(g.factor for g in design.groups) or "none"
            raise SpecError(
                f"grouping factor {factor!r} is not in the design; choose one of: {names}"
            ) from None
    return group_suffstats(group.codes, group.Z, design.X, design.y - shift, group.n_levels)
