"""Gaussian log-likelihood with one grouping factor's random effects integrated out.

Model for the collapsed factor (levels j = 1..L, q effects per level)::

    y_j = X_j beta + o_j + Z_j b_j + e_j,   b_j ~ N(0, L L'),   e_j ~ N(0, sigma^2 I)

where ``o`` is a known offset (the effects of the other, sampled, factors). Writing
``K = L / sigma``, ``r_j = y_j - X_j beta - o_j``, ``A_j = I_q + K' Z_j'Z_j K`` (never
singular: ``A_j >= I``, also when ``L`` is), ``u_j = K' Z_j' r_j`` and ``A_j = C_j C_j'``
(Cholesky), ``v_j = C_j^{-1} u_j``, the Woodbury identity and the matrix determinant
lemma give::

    log p(y_j) = -n_j/2 log(2 pi) - n_j log(sigma) - log det(C_j)
                 - (r_j'r_j - v_j'v_j) / (2 sigma^2)

Two evaluation paths:

(a) no offset: ``sum_j r_j'r_j = y'y - 2 beta'X'y + beta'X'X beta`` and
    ``Z_j'r_j = Z_j'y_j - Z_j'X_j beta`` come from :class:`GroupSuffStats`; the cost is
    O(L q^3 + L q p + p^2) per evaluation, whatever n is;
(b) with an offset ``o`` (n,): ``r`` is formed per observation and ``Z_j'r_j`` is a
    segment sum over the group codes (O(n q)).

The PyTensor graph uses no ``Scan`` and no batched LAPACK call: the L Cholesky
factorisations and triangular solves of the q x q matrices ``A_j`` are unrolled at
graph-build time into elementwise operations on length-L vectors, which PyTensor fuses,
with a closed-form gradient (:mod:`hierlmm.engines.collapsed.kernel`).
Statistics may be numpy (embedded as constants) or data containers made by
:func:`symbolic_stats`. The numpy functions (``*_numpy``, in
:mod:`hierlmm.engines.collapsed.reference`) implement the same algebra with
:mod:`~hierlmm.engines.collapsed.small_linalg` and broadcast over leading draw dimensions; tests and
:mod:`hierlmm.engines.collapsed.recover` use them.

Caveat: path (a) forms ``r'r`` from ``y'y`` by subtraction, so with a response whose mean
is huge compared with its spread, centre or scale ``y`` before computing the statistics.

References
----------
Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear mixed-effects
models using lme4. Journal of Statistical Software 67(1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from hierlmm.engines.collapsed.kernel import group_terms, group_terms_sum
from hierlmm.engines.collapsed.reference import LOG_2PI, require_obs
from hierlmm.engines.collapsed.stats import GroupSuffStats
from hierlmm.errors import SpecError

# --------------------------------------------------------------------------------------


def _static_q(ZtZ: Any) -> int:
    """Number of effects q, known at graph-build time (needed to unroll)."""
    q = ZtZ.type.shape[-1] if isinstance(ZtZ, pt.Variable) else np.shape(ZtZ)[-1]
    if q is None:
        raise SpecError(
            "the collapsed likelihood needs a static number of effects q; build symbolic "
            "statistics with symbolic_stats(), which gives stats.ZtZ a static shape"
        )
    return int(q)


def _n_levels(stats: GroupSuffStats) -> Any:
    """L as an int when the statistics are numpy, else symbolic."""
    ZtZ = stats.ZtZ
    return ZtZ.shape[0] if isinstance(ZtZ, pt.Variable) else int(np.shape(ZtZ)[0])


def matvec(matrix: Any, vector: Any) -> TensorVariable:
    """``matrix @ vector`` over the last axis, (..., p) x (p,) -> (...), as an elementwise
    product and a sum: PyTensor's C linker runs ``Gemv`` as a Python thunk when it has no
    BLAS to link (PyPI wheels), about 6 us a call, a third of sleepstudy's whole
    log-density on the independence sampler's C-linker path."""
    return (pt.as_tensor_variable(matrix) * vector).sum(axis=-1)


def _column(x: Any, *index: int) -> TensorVariable:
    """``x[:, *index]``; a contiguous constant when ``x`` is a numpy array."""
    if isinstance(x, pt.Variable):
        return x[(slice(None), *index)]
    return pt.constant(np.ascontiguousarray(x[(slice(None), *index)], dtype=np.float64))


def _zz_columns(ZtZ: Any, q: int) -> dict:
    """``{(c, d): ZtZ[:, c, d]}`` for c <= d, each (L,)."""
    return {(c, d): _column(ZtZ, c, d) for c in range(q) for d in range(c, q)}


def _segment_sum(codes: TensorVariable, values: TensorVariable, n_levels: Any) -> TensorVariable:
    """``out[j] = sum_{i: codes_i = j} values[i]``; values (n,) or (n, k)."""
    shape = (n_levels,) if values.ndim == 1 else (n_levels, values.shape[1])
    return pt.zeros(shape, dtype=values.dtype)[codes].inc(values)


def _obs_terms(*, beta, codes, Z, y, X, offset, n_levels, q):
    """Observation-level residual ``r`` (n,) and the q columns (L,) of ``Z_j'r_j``."""
    r = pt.as_tensor_variable(y) - pt.as_tensor_variable(X) @ beta
    if offset is not None:
        r = r - offset
    codes, Z = pt.as_tensor_variable(codes), pt.as_tensor_variable(Z)
    return r, [_segment_sum(codes, Z[:, c] * r, n_levels) for c in range(q)]


def _stats_zr(*, beta, stats: GroupSuffStats, q: int) -> list:
    """The q columns (L,) of ``Z_j'y_j - Z_j'X_j beta`` from the statistics."""
    return [_column(stats.Zty, c) - matvec(_column(stats.ZtX, c), beta) for c in range(q)]


STAT_FIELDS = ("ZtZ", "ZtX", "Zty", "n", "XtX", "Xty", "yty")


def stats_layout(stats: GroupSuffStats) -> dict[str, tuple[np.ndarray, tuple[int | None, ...]]]:
    """Numpy statistics laid out for the compiled loops, with their container shapes.

    The per-level arrays are stored levels-last and C-contiguous (``ZtZ`` as (q, q, L),
    ``ZtX`` as (q, L, p), ``Zty`` as (q, L)); the shapes give static q and p and a
    dynamic L (None), so one compiled graph serves any number of levels. The per-level
    columns the likelihood reads are then contiguous rows; a strided column of an
    (L, q, q) container makes the compiled loops several times slower.

    Returns
    -------
    dict of str to (ndarray, shape)
        Keyed by the fields of :class:`GroupSuffStats`; invert with :func:`stats_views`.
    """
    q, p = stats.q, stats.p

    def c(value) -> np.ndarray:
        return np.array(value, dtype=np.float64, order="C")

    return {
        "ZtZ": (c(stats.ZtZ.transpose(1, 2, 0)), (q, q, None)),
        "ZtX": (c(stats.ZtX.transpose(1, 0, 2)), (q, None, p)),
        "Zty": (c(stats.Zty.T), (q, None)),
        "n": (c(stats.n), (None,)),
        "XtX": (c(stats.XtX), (p, p)),
        "Xty": (c(stats.Xty), (p,)),
        "yty": (c(stats.yty), ()),
    }


def stats_views(containers: dict[str, TensorVariable]) -> GroupSuffStats:
    """The statistics record over containers holding :func:`stats_layout`'s arrays.

    Returns
    -------
    GroupSuffStats
        Transposed views with the documented (L, ...) shapes, for :func:`collapsed_loglik`.
    """
    return GroupSuffStats(
        ZtZ=containers["ZtZ"].transpose(2, 0, 1),
        ZtX=containers["ZtX"].transpose(1, 0, 2),
        Zty=containers["Zty"].T,
        n=containers["n"],
        XtX=containers["XtX"],
        Xty=containers["Xty"],
        yty=containers["yty"],
    )


def symbolic_stats(
    stats: GroupSuffStats,
    make_data: Callable[[str, np.ndarray, tuple[int | None, ...]], TensorVariable],
) -> GroupSuffStats:
    """Wrap numpy statistics in data containers (e.g. ``pm.Data``) laid out for speed.

    Parameters
    ----------
    stats : GroupSuffStats
        Numpy statistics.
    make_data : callable
        ``make_data(name, array, shape) -> TensorVariable``, called once per field
        (names ``"ZtZ"``, ``"ZtX"``, ``"Zty"``, ``"n"``, ``"XtX"``, ``"Xty"``, ``"yty"``)
        with the array and static shape of :func:`stats_layout`.

    Returns
    -------
    GroupSuffStats
        Fields are PyTensor variables, for :func:`collapsed_loglik`.
    """
    layout = stats_layout(stats)
    return stats_views({k: make_data(k, value, shape) for k, (value, shape) in layout.items()})


def collapsed_loglik(
    *,
    beta: Any,
    sigma: Any,
    chol: Any,
    stats: GroupSuffStats,
    offset: Any | None = None,
    codes: Any | None = None,
    Z: Any | None = None,
    y: Any | None = None,
    X: Any | None = None,
) -> TensorVariable:
    """Symbolic marginal log-likelihood ``log p(y | beta, sigma, L, o)`` (scalar).

    Parameters
    ----------
    beta : TensorVariable, shape (p,)
        Fixed effects.
    sigma : TensorVariable, scalar
        Residual SD (> 0).
    chol : TensorVariable, shape (q, q)
        Cholesky factor ``L`` of the collapsed factor's effects covariance ``L L'`` (e.g.
        the matrix from ``pm.LKJCholeskyCov``, or ``pt.diag(sd)`` for independent
        effects); any square root works, and zero SDs (singular ``L L'``) are allowed.
    stats : GroupSuffStats
        Statistics of the collapsed factor: numpy fields (embedded as constants), or the
        data containers returned by :func:`symbolic_stats` (static q; fast layout).
    offset : TensorVariable, shape (n,), optional
        Sampled effects of the other grouping factors per observation. When given,
        path (b) is used and ``codes``, ``Z``, ``y``, ``X`` are required.
    codes : array of int, shape (n,), optional
        Levels of the collapsed factor.
    Z : array, shape (n, q), optional
        Random-effect columns of the collapsed factor.
    y : array, shape (n,), optional
    X : array, shape (n, p), optional

    Returns
    -------
    TensorVariable, scalar
    """
    q = _static_q(stats.ZtZ)
    beta, sigma, chol = (pt.as_tensor_variable(x) for x in (beta, sigma, chol))
    n_obs = pt.as_tensor_variable(stats.n).sum()
    if offset is None:
        XtX, Xty = pt.as_tensor_variable(stats.XtX), pt.as_tensor_variable(stats.Xty)
        rr = stats.yty - 2.0 * (Xty * beta).sum() + (matvec(XtX, beta) * beta).sum()
        Zr = _stats_zr(beta=beta, stats=stats, q=q)
    else:
        require_obs("an offset", codes=codes, Z=Z, y=y, X=X)
        r, Zr = _obs_terms(beta=beta, codes=codes, Z=Z, y=y, X=X,
                           offset=pt.as_tensor_variable(offset), n_levels=_n_levels(stats), q=q)
        rr = pt.sum(r**2)
    logdet, vtv = group_terms_sum(chol / sigma, _zz_columns(stats.ZtZ, q), Zr, q)
    return (
        -0.5 * LOG_2PI * n_obs
        - n_obs * pt.log(sigma)
        - 0.5 * logdet
        - (rr - vtv) / (2.0 * sigma**2)
    )


def collapsed_loglik_by_group(
    *,
    beta: Any,
    sigma: Any,
    chol: Any,
    stats: GroupSuffStats,
    codes: Any,
    Z: Any,
    y: Any,
    X: Any,
    offset: Any | None = None,
) -> TensorVariable:
    """Symbolic per-level marginal log-likelihood, shape (L,), for group-level LOO.

    Parameters are those of :func:`collapsed_loglik`; the observation-level arrays are
    always required here (the per-level ``r_j'r_j`` is a segment sum over rows). Levels
    without rows give 0. The vector sums to :func:`collapsed_loglik`.
    """
    q = _static_q(stats.ZtZ)
    beta, sigma, chol = (pt.as_tensor_variable(x) for x in (beta, sigma, chol))
    n_j = pt.as_tensor_variable(stats.n)
    off = None if offset is None else pt.as_tensor_variable(offset)
    r, Zr = _obs_terms(beta=beta, codes=codes, Z=Z, y=y, X=X, offset=off,
                       n_levels=_n_levels(stats), q=q)
    rr = _segment_sum(pt.as_tensor_variable(codes), r**2, _n_levels(stats))  # (L,)
    logdet, vtv, _, _ = group_terms(chol / sigma, _zz_columns(stats.ZtZ, q), Zr, q)
    return (
        -0.5 * LOG_2PI * n_j - n_j * pt.log(sigma) - 0.5 * logdet
        - (rr - vtv) / (2.0 * sigma**2)
    )
