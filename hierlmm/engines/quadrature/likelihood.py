"""The marginal GLMM log-likelihood of one factor by adaptive Gauss-Hermite quadrature.

:class:`LevelData` holds the rows sorted by level (the layout the kernels of
:mod:`hierlmm.engines.quadrature.kernel` read); :func:`marginal_loglik` returns
``sum_j log I_j`` and, on request, its gradient in ``beta``, ``L`` and the negative
binomial shape.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
from scipy.special import digamma, gammaln

from hierlmm.engines.quadrature.kernel import (
    BINOMIAL_LOGIT,
    NEGBIN_LOG,
    POISSON_LOG,
    level_loglik,
    product_rule,
)

#: Gauss-Hermite nodes per dimension by the number of effects per level, q.
NODES_PER_DIM = {1: 15, 2: 7, 3: 6}
KINDS = {("bernoulli", "logit"): BINOMIAL_LOGIT, ("binomial", "logit"): BINOMIAL_LOGIT,
         ("poisson", "log"): POISSON_LOG, ("negbinomial", "log"): NEGBIN_LOG}


@dataclass(frozen=True, eq=False)
class LevelData:
    """One factor's rows, sorted by level.

    Attributes
    ----------
    kind : int
        The kernel's family code (:data:`KINDS`).
    order : ndarray of int64, shape (n,)
        Row order: ``y[order]`` is sorted by level (stable).
    starts : ndarray of int64, shape (L + 1,)
        Level ``j``'s rows are ``starts[j]:starts[j + 1]`` of the sorted arrays.
    y, trials, offset : ndarray of float64, shape (n,)
        Sorted response, trials (1 for Bernoulli, unused by counts) and offset (0 if none).
    X : ndarray, shape (n, p)
    Z : ndarray, shape (n, q)
        Sorted fixed design and the factor's effect columns.
    nodes : ndarray, shape (K, q)
    log_weights : ndarray, shape (K,)
        The standard-normal product rule (:func:`product_rule`).
    key : str
        Fingerprint of every array above but ``y`` (identity of the compiled Op; the
        response is the Op's input, so a new response of the same design reuses it).
    """

    kind: int
    order: np.ndarray
    starts: np.ndarray
    y: np.ndarray
    trials: np.ndarray
    offset: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    nodes: np.ndarray
    log_weights: np.ndarray
    key: str
    modes: np.ndarray = field(repr=False, default=None)  # (L, q) Newton starts, updated
    _last: list = field(repr=False, default_factory=list)  # [response, its constant]

    def constant(self, y: np.ndarray) -> float:
        """The log-density's constant for the sorted response ``y`` (n,): log binomial
        coefficients, or ``-sum log y!`` (kept for the last response)."""
        if not (self._last and np.array_equal(self._last[0], y)):
            if self.kind == BINOMIAL_LOGIT:
                m = self.trials
                value = np.sum(gammaln(m + 1) - gammaln(y + 1) - gammaln(m - y + 1))
            else:
                value = -np.sum(gammaln(y + 1))
            self._last[:] = [y.copy(), float(value)]
        return self._last[1]

    @property
    def n_levels(self) -> int:
        return self.starts.size - 1

    @property
    def q(self) -> int:
        return self.Z.shape[1]


def level_data(*, kind: int, codes: np.ndarray, n_levels: int, y: np.ndarray,
               X: np.ndarray, Z: np.ndarray, trials: np.ndarray | None,
               offset: np.ndarray | None, nodes_per_dim: int | None = None) -> LevelData:
    """Sort a design's rows by level and fix the quadrature rule.

    Parameters
    ----------
    kind : int
    codes : ndarray of int, shape (n,)
        Level of each row, 0..n_levels - 1.
    n_levels : int
    y : ndarray, shape (n,)
    X : ndarray, shape (n, p)
    Z : ndarray, shape (n, q)
    trials, offset : ndarray, shape (n,), or None
    nodes_per_dim : int, optional
        Gauss-Hermite nodes per dimension (default :data:`NODES_PER_DIM`; 1 is Laplace).
    """
    order = np.argsort(codes, kind="stable")
    counts = np.bincount(codes, minlength=n_levels)
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    n = y.size
    y_s = np.ascontiguousarray(y[order], dtype=np.float64)
    m = np.ones(n) if trials is None else np.asarray(trials, dtype=np.float64)[order]
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=np.float64)[order]
    q = Z.shape[1]
    per_dim = nodes_per_dim or NODES_PER_DIM.get(q, 3)
    nodes, log_w = product_rule(q, per_dim)
    arrays = dict(y=y_s, trials=np.ascontiguousarray(m), offset=np.ascontiguousarray(off),
                  X=np.ascontiguousarray(X[order], dtype=np.float64),
                  Z=np.ascontiguousarray(Z[order], dtype=np.float64))
    h = hashlib.sha1(np.asarray([kind, per_dim]).tobytes())
    for name, arr in (("starts", starts), *arrays.items()):
        if name != "y":  # the response is an input of the Op, not part of its identity
            h.update(np.ascontiguousarray(arr).tobytes())
    return LevelData(kind=kind, order=order, starts=starts, nodes=nodes,
                     log_weights=log_w, key=h.hexdigest(),
                     modes=np.zeros((n_levels, q)), **arrays)


@dataclass(frozen=True)
class Gradient:
    """Gradient of :func:`marginal_loglik`: ``beta`` (p,), ``chol`` (q, q) lower, ``shape``."""

    beta: np.ndarray
    chol: np.ndarray
    shape: float


def _negbin_lgamma(y: np.ndarray, alpha: float) -> float:
    """``sum_i lgamma(y_i + alpha) - lgamma(alpha)`` (the kernel leaves it out)."""
    return float(np.sum(gammaln(y + alpha)) - y.size * gammaln(alpha))


def marginal_loglik(data: LevelData, beta: np.ndarray, chol: np.ndarray, shape: float = 1.0,
                    gradient: bool = False, y: np.ndarray | None = None
                    ) -> tuple[float, Gradient | None]:
    """``sum_j log I_j`` at ``(beta, L, shape)``; -inf where a level's mode fails.

    Parameters
    ----------
    data : LevelData
    beta : ndarray, shape (p,)
    chol : ndarray, shape (q, q)
        Lower Cholesky factor of the effects' covariance.
    shape : float
        Negative binomial shape (ignored by other families).
    gradient : bool
        Also return the :class:`Gradient`.
    y : ndarray, shape (n,), optional
        The response sorted by level (``data.y`` if None).
    """
    y = data.y if y is None else np.ascontiguousarray(y, dtype=np.float64)
    chol = np.tril(np.asarray(chol, dtype=np.float64))
    eta0 = data.X @ np.asarray(beta, dtype=np.float64) + data.offset  # (n,)
    A = np.ascontiguousarray(data.Z @ chol)  # (n, q): row i is (L' z_i)'
    n, q = A.shape
    e, F = (np.empty(n), np.empty((n, q))) if gradient else (np.empty(0), np.empty((0, q)))
    dalpha = np.zeros(data.n_levels)
    levels = level_loglik(data.kind, y, data.trials, eta0, A, data.starts, float(shape),
                          data.nodes, data.log_weights, data.modes, gradient, e, F, dalpha)
    value = float(np.sum(levels)) + data.constant(y)
    if data.kind == NEGBIN_LOG:
        value += _negbin_lgamma(y, shape)
    if not np.isfinite(value):
        return -np.inf, None
    if not gradient:
        return value, None
    d_chol = np.tril(data.Z.T @ F)  # (q, q): d/dL_ab = sum_i z_ia F_ib
    d_shape = 0.0
    if data.kind == NEGBIN_LOG:  # the kernel's part, plus that of the lgamma terms
        d_shape = float(np.sum(dalpha) + np.sum(digamma(y + shape)) - y.size * digamma(shape))
    return value, Gradient(beta=data.X.T @ e, chol=d_chol, shape=d_shape)


__all__ = ["KINDS", "NODES_PER_DIM", "Gradient", "LevelData", "level_data",
           "marginal_loglik"]
