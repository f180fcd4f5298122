"""Gaussian log-likelihood with the effects of EVERY grouping factor integrated out.

Model: ``y = X beta + Z b + e``, ``b_kj ~ N(0, L_k L_k')`` for level j of factor k,
``e ~ N(0, sigma^2 I)``. With ``K_k = L_k / sigma``, ``Lambda = blockdiag(I (x) K_k)``,
``G = Z'Z``, ``r = y - X beta``, ``c = Z'r``, ``A = I + Lambda' G Lambda`` and
``u = Lambda' c`` (lme4's penalised system, Bates et al. 2015)::

    log p(y) = -n/2 log(2 pi) - n log(sigma) - 1/2 log det(A) - (r'r - u'A^{-1}u) / (2 sigma^2)

**Route: a blocked Cholesky with a dense Schur complement.** The factor with most
effects comes first; its diagonal block ``A11`` is block-diagonal (L1 q1 x q1 blocks).
All other factors form one dense block of size ``m`` (:mod:`.blocks`), and
``S = A22 - A12' A11^{-1} A12`` is factored densely (MixedModels.jl's blocked Cholesky,
with the first factor's block kept diagonal). One evaluation costs
O(L1 q1^3 + nnz-products of G12 + m^3) and never touches the n rows. The gradient
(with respect to ``beta``, ``sigma`` and every ``L_k``) is closed-form::

    d/dLambda = -G Lambda A^{-1} + (c - G Lambda bhat) bhat' / sigma^2,  bhat = A^{-1} u

summed over each factor's diagonal blocks; the blocks of ``G Lambda A^{-1}`` needed are
those on the pattern of ``G`` (the Takahashi selected inverse), obtained from ``S^{-1}``
and sparse products with the same pattern as the Schur complement's own.

Why this route (measured on this 2-core machine, loaded by other jobs): on InstEval
(students 2,972 first; lecturers + departments m = 1,142 dense) one value+gradient costs
about the dense Cholesky plus inverse of S; see docs/architecture.md and the benchmark
for the measured numbers. The blocked-Gibbs alternative needs the same Cholesky per
iteration plus conjugate variance updates our priors do not have, and mixes slowly on
weakly identified SDs (14 departments), so NUTS on the ~6 parameters of the exact
marginal was chosen. The rule that picks this path (``m`` small enough) is
:func:`hierlmm.engines.collapsed.engine.integrates_all`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from hierlmm.engines.collapsed.blocks import FactorBlocks

LOG_2PI = float(np.log(2.0 * np.pi))


def _kron_eye(n_levels: int, K: np.ndarray) -> sp.csr_array:
    return sp.csr_array(sp.kron(sp.eye_array(n_levels), sp.csr_array(K)))


def _block_diag(blocks: np.ndarray) -> sp.bsr_array:
    """A block-diagonal sparse array from (L, q, q) blocks."""
    n, q = blocks.shape[0], blocks.shape[1]
    return sp.bsr_array((blocks, np.arange(n), np.arange(n + 1)), shape=(n * q, n * q))


@dataclass(frozen=True)
class Factorization:
    """The blocked Cholesky of ``A`` at one parameter value.

    Attributes
    ----------
    L1, L2 : sparse (L1 q1, L1 q1) and (m, m)
        ``Lambda`` of the first factor and of the others.
    C11 : ndarray, shape (L1, q1, q1)
        Cholesky factors of the first factor's diagonal blocks.
    A11inv : bsr_array (L1 q1, L1 q1)
    B, E : (L1 q1, m), sparse or dense
        ``A12`` and ``A11^{-1} A12``.
    CS : ndarray, shape (m, m)
        Lower Cholesky factor of the Schur complement ``S``.
    """

    L1: sp.csr_array
    L2: sp.csr_array
    C11: np.ndarray
    A11inv: sp.bsr_array
    B: object
    E: object
    CS: np.ndarray

    @property
    def logdet(self) -> float:
        """``log det A``."""
        d11 = np.log(np.diagonal(self.C11, axis1=1, axis2=2)).sum()
        return 2.0 * (d11 + np.log(np.diag(self.CS)).sum())

    def solve(self, u: np.ndarray, n1: int) -> np.ndarray:
        """``A^{-1} u`` for a stacked vector ``u`` (Q,)."""
        y1 = self.A11inv @ u[:n1]
        z2 = sla.cho_solve((self.CS, True), u[n1:] - self.B.T @ y1)
        return np.concatenate([y1 - self.E @ z2, z2])


def _dense(M) -> np.ndarray:
    return M.toarray() if sp.issparse(M) else np.asarray(M)


def factorize(blocks: FactorBlocks, Ks: list[np.ndarray]) -> Factorization:
    """Blocked Cholesky of ``A = I + Lambda' G Lambda`` for whitened roots ``K_k``.

    Parameters
    ----------
    blocks : FactorBlocks
    Ks : list of ndarray, each (q_k, q_k)
        ``L_k / sigma`` per factor, in ``blocks.factors`` order.
    """
    L1 = _kron_eye(blocks.n_levels[0], Ks[0])
    L2 = sp.block_diag(
        [_kron_eye(n, K) for n, K in zip(blocks.n_levels[1:], Ks[1:], strict=True)],
        format="csr",
    )
    K1 = Ks[0]
    A11 = np.eye(K1.shape[0]) + np.einsum("ba,lbc,cd->lad", K1, blocks.G11, K1)
    C11 = np.linalg.cholesky(A11)
    A11inv = _block_diag(np.linalg.inv(A11))
    B = L1.T @ blocks.G12 @ L2
    E = A11inv @ B
    E = sp.csr_array(E) if sp.issparse(E) else E
    S = np.asarray(L2.T @ blocks.G22 @ L2) - _dense(B.T @ E)
    S[np.diag_indices_from(S)] += 1.0
    CS = np.linalg.cholesky(0.5 * (S + S.T))
    return Factorization(L1=L1, L2=L2, C11=C11, A11inv=A11inv, B=B, E=E, CS=CS)


def _roots(blocks: FactorBlocks, sigma: float, chols: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(c, dtype=np.float64) / sigma for c in chols]


def _g_times(blocks: FactorBlocks, v: np.ndarray) -> np.ndarray:
    """``G v`` for a stacked vector ``v`` (Q,)."""
    n1, q1 = blocks.first_size, blocks.q[0]
    v1, v2 = v[:n1], v[n1:]
    g1 = np.einsum("lab,lb->la", blocks.G11, v1.reshape(-1, q1)).ravel() + blocks.G12 @ v2
    return np.concatenate([g1, blocks.G12.T @ v1 + blocks.G22 @ v2])


def _frobenius(dense: np.ndarray, M) -> float:
    """``sum(dense * M)`` for a dense or sparse ``M``."""
    if sp.issparse(M):
        coo = M.tocoo()
        return float(np.dot(dense[coo.row, coo.col], coo.data))
    return float(np.vdot(dense, M))


def _first_logdet_grad(blocks, fac, Sinv, K1) -> np.ndarray:
    """``sum_j [G Lambda A^{-1}]_jj`` over the first factor's levels, (q1, q1)."""
    q1, n1 = blocks.q[0], blocks.first_size
    GK = _block_diag(np.einsum("lab,bc->lac", blocks.G11, K1))
    D = np.einsum("lab,lbc->ac", np.einsum("lab,bc->lac", blocks.G11, K1),
                  fac.A11inv.data)
    P = GK @ fac.E - blocks.G12 @ fac.L2
    P = sp.csr_array(P) if sp.issparse(P) else P
    for a in range(q1):
        Pa = P[np.arange(a, n1, q1)]
        for b in range(q1):
            D[a, b] += _frobenius(Sinv, Pa.T @ fac.E[np.arange(b, n1, q1)])
    return D


def _other_logdet_grads(blocks, fac, Sinv) -> list[np.ndarray]:
    """``sum_j [G Lambda A^{-1}]_jj`` for every other factor, each (q_k, q_k)."""
    R = np.asarray(blocks.G22 @ fac.L2) - _dense(blocks.G12.T @ (fac.L1 @ fac.E))
    out, start = [], 0
    for n_levels, q in zip(blocks.n_levels[1:], blocks.q[1:], strict=True):
        rows = slice(start, start + n_levels * q)
        Rk = R[rows].reshape(n_levels, q, -1)
        Sk = Sinv[rows].reshape(n_levels, q, -1)
        out.append(np.einsum("jas,jbs->ab", Rk, Sk))
        start += n_levels * q
    return out


def _inverse(CS: np.ndarray) -> np.ndarray:
    inv, info = sla.lapack.dpotri(CS, lower=1)
    if info != 0:
        raise np.linalg.LinAlgError(f"dpotri failed with info={info}")
    return np.tril(inv) + np.tril(inv, -1).T


@dataclass(frozen=True)
class Response:
    """y-dependent statistics: ``Z'y`` (Q,), ``X'y`` (p,), ``y'y``."""

    Zty: np.ndarray
    Xty: np.ndarray
    yty: float


def _pieces(blocks, resp, beta, Ks):
    """Residual statistics, the factorisation, ``u`` and ``bhat``."""
    beta = np.asarray(beta, dtype=np.float64)
    c = resp.Zty - blocks.ZtX @ beta
    rr = resp.yty - 2.0 * beta @ resp.Xty + beta @ blocks.XtX @ beta
    fac = factorize(blocks, Ks)
    n1 = blocks.first_size
    u = np.concatenate([fac.L1.T @ c[:n1], fac.L2.T @ c[n1:]])
    return c, rr, fac, u, fac.solve(u, n1)


def allfactor_loglik(
    blocks: FactorBlocks, resp: Response, beta: np.ndarray, sigma: float,
    chols: list[np.ndarray],
) -> float:
    """The all-factor marginal log-likelihood (numpy).

    Parameters
    ----------
    blocks : FactorBlocks
    resp : Response
    beta : ndarray, shape (p,)
    sigma : float
    chols : list of ndarray, each (q_k, q_k)
        Lower Cholesky factors of each factor's covariance, in ``blocks.factors`` order.
    """
    _, rr, fac, u, bhat = _pieces(blocks, resp, beta, _roots(blocks, sigma, chols))
    n = blocks.n_obs
    return float(-0.5 * n * LOG_2PI - n * np.log(sigma) - 0.5 * fac.logdet
                 - (rr - u @ bhat) / (2.0 * sigma**2))


def allfactor_loglik_grad(
    blocks: FactorBlocks, resp: Response, beta: np.ndarray, sigma: float,
    chols: list[np.ndarray],
) -> tuple[float, np.ndarray, float, list[np.ndarray]]:
    """Value and gradient of :func:`allfactor_loglik`.

    Returns
    -------
    value : float
    grad_beta : ndarray, shape (p,)
    grad_sigma : float
    grad_chols : list of ndarray, each (q_k, q_k)
        Gradient with respect to every entry of each ``L_k``.
    """
    Ks = _roots(blocks, sigma, chols)
    c, rr, fac, u, bhat = _pieces(blocks, resp, beta, Ks)
    n, n1, s2 = blocks.n_obs, blocks.first_size, sigma**2
    quad = u @ bhat
    value = -0.5 * n * LOG_2PI - n * np.log(sigma) - 0.5 * fac.logdet - (rr - quad) / (2 * s2)
    lam_b = np.concatenate([fac.L1 @ bhat[:n1], fac.L2 @ bhat[n1:]])
    w = c - _g_times(blocks, lam_b)
    grad_beta = (resp.Xty - blocks.XtX @ beta - blocks.ZtX.T @ lam_b) / s2
    Sinv = _inverse(fac.CS)
    logdet_parts = [_first_logdet_grad(blocks, fac, Sinv, Ks[0]),
                    *_other_logdet_grads(blocks, fac, Sinv)]
    grad_K, offs = [], blocks.offsets
    for k, q in enumerate(blocks.q):
        wk = w[offs[k]:offs[k + 1]].reshape(-1, q)
        bk = bhat[offs[k]:offs[k + 1]].reshape(-1, q)
        grad_K.append(-logdet_parts[k] + wk.T @ bk / s2)
    grad_sigma = (-n / sigma + (rr - quad) / sigma**3
                  - sum(float(np.vdot(g, K)) for g, K in zip(grad_K, Ks, strict=True)) / sigma)
    return float(value), grad_beta, float(grad_sigma), [g / sigma for g in grad_K]


def draw_all_effects(
    blocks: FactorBlocks, resp: Response, beta: np.ndarray, sigma: float,
    chols: list[np.ndarray], rng: np.random.Generator,
) -> np.ndarray:
    """One exact draw of every factor's effects given the parameters, stacked (Q,).

    ``b = Lambda (bhat + sigma x)`` with ``x ~ N(0, A^{-1})`` drawn through the blocked
    Cholesky factor of ``A`` (``x = L^{-T} z``). Split with ``blocks.offsets``.
    """
    Ks = _roots(blocks, sigma, chols)
    _, _, fac, _, bhat = _pieces(blocks, resp, beta, Ks)
    n1, q1 = blocks.first_size, blocks.q[0]
    z = rng.standard_normal(n1 + blocks.m)
    x2 = sla.solve_triangular(fac.CS, z[n1:], lower=True, trans="T")
    z1 = z[:n1].reshape(-1, q1, 1)
    x1 = np.linalg.solve(fac.C11.transpose(0, 2, 1), z1).ravel() - fac.E @ x2
    x = np.concatenate([x1, x2])
    v = bhat + sigma * x
    return np.concatenate([fac.L1 @ v[:n1], fac.L2 @ v[n1:]])
