"""Numba kernels: each level's random effects integrated out by adaptive Gauss-Hermite.

For one grouping factor with effects ``b_j = L u_j``, ``u_j ~ N(0, I_q)``, level ``j``'s
likelihood is ``I_j = E_u[prod_i p(y_i | eta0_i + a_i' u)]`` with ``eta0 = X beta + offset``
(n,) and ``a_i = L' z_i`` (the rows of ``A = Z L``, (n, q)). With
``g(u) = sum_i log p(y_i | eta0_i + a_i' u) - u'u / 2``, Newton's method finds the mode
``u_hat`` and ``H = -g''(u_hat)``; with ``C C' = H^{-1}`` and the standard-normal product
rule ``(z_k, w_k)``,

    log I_j ~= log|C| + logsumexp_k(log w_k + g(u_hat + C z_k) + |z_k|^2 / 2)

(Pinheiro & Bates 1995; Liu & Pierce 1994). One node is the Laplace approximation.
The gradient holds the nodes ``u_k`` fixed (an exact identity for the integral, hence
as accurate as the value): ``d log I_j = sum_k pi_k d g(u_k)`` with ``pi_k`` the
normalised node weights, returned per row as ``e_i = sum_k pi_k d1_i(u_k)`` (so
``d beta = X' e``) and ``F_i = sum_k pi_k d1_i(u_k) u_k`` (so ``d L = Z' F``).

Families (``kind``): 0 binomial with logit link (Bernoulli: one trial), 1 Poisson with
log link, 2 negative binomial NB2 with log link and shape ``alpha``. Each row's
log-density leaves out its constant (log binomial coefficients, ``-log y!``), which
:meth:`~hierlmm.engines.quadrature.likelihood.LevelData.constant` adds once per call.
Rows are sorted by level; ``starts`` (L + 1,) delimit each level's rows.
"""

from __future__ import annotations

import math

import numba
import numpy as np

BINOMIAL_LOGIT, POISSON_LOG, NEGBIN_LOG = 0, 1, 2
NEWTON_TOL = 1e-8  # largest Newton step (whitened scale) at convergence
NEWTON_MAX = 60


@numba.njit(cache=True, nogil=True)
def _log1p_exp(eta):  # pragma: no cover
    """(log(1 + e^eta), 1 / (1 + e^-eta)) with one exponential."""
    e = math.exp(-abs(eta))
    p = 1.0 / (1.0 + e) if eta > 0 else e / (1.0 + e)
    return max(eta, 0.0) + math.log1p(e), p


@numba.njit(cache=True, nogil=True)
def _row_value(kind, y, m, eta, alpha):  # pragma: no cover
    """Log p of one row without its constant."""
    if kind == BINOMIAL_LOGIT:
        return y * eta - m * _log1p_exp(eta)[0]
    if kind == POISSON_LOG:
        return y * eta - math.exp(eta)
    return alpha * math.log(alpha) - (y + alpha) * math.log(alpha + math.exp(eta)) + y * eta


@numba.njit(cache=True, nogil=True)
def _row_terms(kind, y, m, eta, alpha):  # pragma: no cover
    """(log p without constants, d/d eta, d2/d eta2) of one row."""
    if kind == BINOMIAL_LOGIT:
        log1pe, p = _log1p_exp(eta)
        return y * eta - m * log1pe, y - m * p, -m * p * (1.0 - p)
    mu = math.exp(eta)
    if kind == POISSON_LOG:
        return y * eta - mu, y - mu, -mu
    am = alpha + mu
    value = alpha * math.log(alpha) - (y + alpha) * math.log(am) + y * eta
    return value, y - (y + alpha) * mu / am, -(y + alpha) * mu * alpha / (am * am)


@numba.njit(cache=True, nogil=True)
def log_integrand(kind, y, m, eta0, A, r0, r1, u, alpha):  # pragma: no cover
    """g(u) of the rows r0:r1 (log-likelihood minus u'u / 2)."""
    q = u.shape[0]
    total = 0.0
    for i in range(r0, r1):
        eta = eta0[i]
        for a in range(q):
            eta += A[i, a] * u[a]
        total += _row_value(kind, y[i], m[i], eta, alpha)
    for a in range(q):
        total -= 0.5 * u[a] * u[a]
    return total


@numba.njit(cache=True, nogil=True)
def _cholesky(M, R):  # pragma: no cover
    """Lower Cholesky factor of the small SPD ``M`` into ``R``; False if not PD."""
    q = M.shape[0]
    for a in range(q):
        for b in range(a + 1):
            s = M[a, b]
            for c in range(b):
                s -= R[a, c] * R[b, c]
            if a == b:
                if s <= 0.0:
                    return False
                R[a, a] = math.sqrt(s)
            else:
                R[a, b] = s / R[b, b]
        for b in range(a + 1, q):
            R[a, b] = 0.0
    return True


@numba.njit(cache=True, nogil=True)
def _solve_chol(R, rhs, out):  # pragma: no cover
    """``out = (R R')^{-1} rhs`` for lower ``R``."""
    q = R.shape[0]
    for a in range(q):
        s = rhs[a]
        for c in range(a):
            s -= R[a, c] * out[c]
        out[a] = s / R[a, a]
    for a in range(q - 1, -1, -1):
        s = out[a]
        for c in range(a + 1, q):
            s -= R[c, a] * out[c]
        out[a] = s / R[a, a]


@numba.njit(cache=True, nogil=True)
def _newton_pass(kind, y, m, eta0, A, r0, r1, u, alpha, grad, H):  # pragma: no cover
    """g(u), its gradient and ``-g''(u)`` (lower triangle and mirrored) in one pass."""
    q = u.shape[0]
    value = 0.0
    for a in range(q):
        value -= 0.5 * u[a] * u[a]
        grad[a] = -u[a]
        for b in range(q):
            H[a, b] = 1.0 if a == b else 0.0
    for i in range(r0, r1):
        eta = eta0[i]
        for a in range(q):
            eta += A[i, a] * u[a]
        v, d1, d2 = _row_terms(kind, y[i], m[i], eta, alpha)
        value += v
        for a in range(q):
            grad[a] += d1 * A[i, a]
            for b in range(a + 1):
                H[a, b] -= d2 * A[i, a] * A[i, b]
    for a in range(q):
        for b in range(a + 1, q):
            H[a, b] = H[b, a]
    return value


@numba.njit(cache=True, nogil=True)
def mode_and_curvature(kind, y, m, eta0, A, r0, r1, u, alpha, R):  # pragma: no cover
    """Newton's method for ``u_hat`` (in place in ``u``, from its value on entry), halving
    a step while ``g`` falls; ``R`` gets the lower Cholesky factor of ``H`` at ``u_hat``.
    Returns ``g(u_hat)``, or NaN when the curvature is not positive definite."""
    q = u.shape[0]
    grad = np.empty(q)
    H = np.empty((q, q))
    step = np.empty(q)
    previous = np.empty(q)
    current = -np.inf
    scale = 1.0
    for _ in range(NEWTON_MAX + 30):
        value = _newton_pass(kind, y, m, eta0, A, r0, r1, u, alpha, grad, H)
        if value < current - 1e-12 * abs(current) and scale > 1e-9:  # overshot: halve
            scale *= 0.5
            for a in range(q):
                u[a] = previous[a] + scale * step[a]
            continue
        current, scale = value, 1.0
        if not _cholesky(H, R):
            return np.nan
        _solve_chol(R, grad, step)
        biggest = 0.0
        for a in range(q):
            biggest = max(biggest, abs(step[a]))
        if biggest < NEWTON_TOL:
            return current
        for a in range(q):
            previous[a] = u[a]
            u[a] += step[a]
    return current


@numba.njit(cache=True, nogil=True)
def level_mode(kind, y, m, eta0, A, r0, r1, alpha, cached, u, R):  # pragma: no cover
    """:func:`mode_and_curvature` of one level from its cached mode ``cached`` (q,), once
    more from 0 if that fails; the mode goes to ``u`` and back into ``cached``. Returns
    ``g(u_hat)`` or NaN."""
    u[:] = cached
    value = mode_and_curvature(kind, y, m, eta0, A, r0, r1, u, alpha, R)
    if np.isnan(value):
        u[:] = 0.0
        value = mode_and_curvature(kind, y, m, eta0, A, r0, r1, u, alpha, R)
    if not np.isnan(value):
        cached[:] = u
    return value


@numba.njit(cache=True, nogil=True)
def node_point(u_hat, R, z, scale, out):  # pragma: no cover
    """``out = u_hat + scale * C z`` with ``C = R^{-T}`` (so ``C C' = (R R')^{-1} =
    H^{-1}``): a quadrature node, or a proposal of the effects' sampler."""
    q = u_hat.shape[0]
    for a in range(q - 1, -1, -1):
        s = z[a]
        for c in range(a + 1, q):
            s -= R[c, a] * out[c]
        out[a] = s / R[a, a]
    for a in range(q):
        out[a] = u_hat[a] + scale * out[a]


@numba.njit(cache=True, nogil=True, parallel=True)
def level_loglik(kind, y, m, eta0, A, starts, alpha, nodes, log_w, u_cache, gradient,
                 e_out, F_out, dalpha_out):  # pragma: no cover
    """Adaptive Gauss-Hermite log-likelihood of every level, (L,); NaN where it fails.

    With ``gradient``, fills ``e_out`` (n,), ``F_out`` (n, q) and ``dalpha_out`` (L,)
    (see the module docstring). ``u_cache`` (L, q) holds each level's last mode (the
    Newton start) and is updated.
    """
    n_levels = starts.shape[0] - 1
    q = A.shape[1]
    K = nodes.shape[0]
    out = np.empty(n_levels)
    for j in numba.prange(n_levels):
        r0, r1 = starts[j], starts[j + 1]
        u = np.empty(q)
        R = np.empty((q, q))
        if np.isnan(level_mode(kind, y, m, eta0, A, r0, r1, alpha, u_cache[j], u, R)):
            out[j] = np.nan
            continue
        log_det_c = 0.0
        for a in range(q):
            log_det_c -= math.log(R[a, a])
        terms = np.empty(K)
        points = np.empty((K, q))
        for k in range(K):
            node_point(u, R, nodes[k], 1.0, points[k])
            z2 = 0.0
            for a in range(q):
                z2 += nodes[k, a] * nodes[k, a]
            terms[k] = log_w[k] + 0.5 * z2 + log_integrand(
                kind, y, m, eta0, A, r0, r1, points[k], alpha)
        top = terms.max()
        total = 0.0
        for k in range(K):
            total += math.exp(terms[k] - top)
        out[j] = log_det_c + top + math.log(total)
        if not gradient:
            continue
        dalpha = 0.0
        for i in range(r0, r1):
            e_out[i] = 0.0
            for a in range(q):
                F_out[i, a] = 0.0
        for k in range(K):
            pi = math.exp(terms[k] - top) / total
            for i in range(r0, r1):
                eta = eta0[i]
                for a in range(q):
                    eta += A[i, a] * points[k, a]
                d1 = _row_terms(kind, y[i], m[i], eta, alpha)[1]
                e_out[i] += pi * d1
                for a in range(q):
                    F_out[i, a] += pi * d1 * points[k, a]
                if kind == NEGBIN_LOG:
                    dalpha += pi * _negbin_dalpha(y[i], eta, alpha)
        dalpha_out[j] = dalpha
    return out


@numba.njit(cache=True, nogil=True)
def _negbin_dalpha(y, eta, alpha):  # pragma: no cover
    """d/d alpha of the NB2 log-density without its lgamma terms (their derivative,
    digamma(y + alpha) - digamma(alpha), does not depend on eta and is added once by
    :func:`~hierlmm.engines.quadrature.likelihood.marginal_loglik`)."""
    am = alpha + math.exp(eta)
    return math.log(alpha) + 1.0 - math.log(am) - (y + alpha) / am


def product_rule(q: int, per_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal Gauss-Hermite product rule in ``q`` dimensions.

    Returns
    -------
    nodes : ndarray, shape (per_dim**q, q)
    log_weights : ndarray, shape (per_dim**q,)
        Log weights summing to 1 (the expectation under N(0, I_q)).
    """
    x, w = np.polynomial.hermite_e.hermegauss(per_dim)
    w = w / w.sum()
    grids = np.meshgrid(*([x] * q), indexing="ij")
    weights = np.meshgrid(*([w] * q), indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=1)
    log_w = np.sum([np.log(v.ravel()) for v in weights], axis=0)
    return np.ascontiguousarray(nodes), np.asarray(log_w, dtype=np.float64)
