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

summed over each factor's diagonal blocks (see the last paragraph for the diagonal
blocks of ``G Lambda A^{-1}``).

Why this route (measured on the 2-core development machine while other jobs loaded it,
load average 5-9; dense BLAS ran at about 4.5 GFLOP/s): the candidates were (i) this
blocked Cholesky with NUTS on the few remaining parameters, (ii) a general sparse
Cholesky with Takahashi selected inverses, (iii) exact blocked Gibbs (one joint draw of
all effects per iteration, then the variances). In 300 x 300 every subject meets every
item, so ``S`` is dense and (ii) reduces to (i) with more overhead. InstEval's ``S`` is
not dense (measured in session 11: 21.7% of its entries are non-zero; with a
minimum-degree ordering its factor has 45% of the dense triangle's entries and 21% of
its multiply-adds, the last 545 of 1,142 columns being dense), but the non-zeros are
scattered: at 64-column tiles every tile of the factor is non-zero, and a panel
factorisation with gathered rows scatters ~7M entries a call, so the saving needs a
supernodal sparse code (CHOLMOD's kind; no wheel is installable here). That is the
remaining route to a ~2x cheaper InstEval value; not built. (iii) needs the same m x m
Cholesky per iteration plus conjugate variance updates that hierlmm's half-normal / LKJ
priors do not have (Metropolis steps instead), and centred Gibbs mixes slowly on a
weakly identified SD (InstEval's 14 departments). (i) keeps the priors and every
diagnostic unchanged, so it was chosen. Its cost on the idle 2-core machine (one BLAS
thread, after session 11's kernels): InstEval one value ~17 ms (the blocked Cholesky of
S ~10 ms in :mod:`.dense_cholesky`, forming S from the sparse ``G12`` ~3.5 ms in
:mod:`.sparse_gram`, one 3-column solve ~1.3 ms, the rest bookkeeping), value + gradient
~51 ms (LAPACK ``potri`` for ``S^{-1}`` adds ~26 ms); both release the GIL, so proposals
evaluated on two threads side by side cost ~11 ms each (:mod:`hierlmm.engines.threads`).
NUTS spends several gradients per draw, so for such designs ``sampler="auto"`` runs the
independence sampler on this likelihood instead (:mod:`hierlmm.inference.independence`:
one value per draw, the fixed effects drawn from their exact conditional,
:func:`fixed_effects_normal`), and keeps NUTS where a gradient is cheap
(:func:`~hierlmm.engines.collapsed.engine.integrates_all`).

The gradient with respect to each ``L_k`` uses ``Lambda' G Lambda A^{-1} = I - A^{-1}``,
so only the diagonal blocks of ``A^{-1}`` are needed (the first factor's from
``A11^{-1} + E S^{-1} E'``, the others' from ``S^{-1}``); ``K_k`` is invertible because
sampled SDs are positive.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from hierlmm.engines.collapsed.blocks import FactorBlocks
from hierlmm.engines.collapsed.dense_cholesky import (
    cho_solve_lower,
    cholesky_lower,
    inverse_lower,
    solve_lower_t,
)
from hierlmm.engines.collapsed.sparse_gram import gram_trace, schur_cholesky

LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class Roots:
    """``Lambda = blockdiag(I (x) K_k)`` of a run of factors, applied without forming it.

    Attributes
    ----------
    Ks : list of ndarray, each (q_k, q_k)
    sizes : list of int
        ``L_k q_k`` per factor.
    """

    Ks: list[np.ndarray]
    sizes: list[int]

    @property
    def diagonal(self) -> np.ndarray:
        """The diagonal of ``Lambda`` when every q_k is 1, (sum L_k,)."""
        return np.concatenate([np.full(n, K[0, 0]) for K, n in zip(self.Ks, self.sizes,
                                                                     strict=True)])

    def rows(self, M: np.ndarray, transpose: bool = False) -> np.ndarray:
        """``Lambda M`` (``Lambda' M``) for a dense ``M`` (size, ...)."""
        M = np.asarray(M)
        out, start, rest = np.empty(M.shape), 0, int(np.prod(M.shape[1:], dtype=np.int64))
        for K, n in zip(self.Ks, self.sizes, strict=True):
            chunk, q = M[start:start + n], K.shape[0]
            if q == 1:
                out[start:start + n] = K[0, 0] * chunk
            else:  # (q, q) @ (L, q, rest): one small matrix product per level
                blocks = chunk.reshape(-1, q, rest)
                out[start:start + n] = np.matmul(K.T if transpose else K,
                                                 blocks).reshape(chunk.shape)
            start += n
        return out

    def cols(self, M: np.ndarray) -> np.ndarray:
        """``M Lambda`` for a dense ``M`` (..., size)."""
        return self.rows(np.asarray(M).T, transpose=True).T


def _block_apply(blocks3: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``blockdiag(blocks3) @ M``: blocks (L, q, q), dense ``M`` (L q, ...)."""
    L, q = blocks3.shape[0], blocks3.shape[1]
    rest = int(np.prod(np.shape(M)[1:], dtype=np.int64))
    return np.matmul(blocks3, np.reshape(M, (L, q, rest))).reshape(np.shape(M))


@dataclass(frozen=True)
class ScaledSparse:
    """``diag(left) G diag(right)`` for a sparse ``G`` (L1, m), applied without forming it.

    Attributes
    ----------
    G : scipy.sparse.csr_array, shape (L1, m)
    left : ndarray, shape (L1,)
    right : ndarray, shape (m,)
    G_csc : scipy.sparse.csc_array, optional
        ``G`` as CSC, for :meth:`gram_trace`.
    """

    G: sp.csr_array
    left: np.ndarray
    right: np.ndarray
    G_csc: sp.csc_array | None = None

    @property
    def T(self) -> ScaledSparse:  # noqa: N802 (numpy's name)
        return ScaledSparse(self.G.T, self.right, self.left)

    def __matmul__(self, v: np.ndarray) -> np.ndarray:
        """``diag(left) G diag(right) v`` for ``v`` (m,) or (m, k)."""
        right = self.right if np.ndim(v) == 1 else self.right[:, None]
        left = self.left if np.ndim(v) == 1 else self.left[:, None]
        return left * (self.G @ (right * v))

    def gram_trace(self, Sinv_lower: np.ndarray) -> float:
        """``trace(S^{-1} M'M)`` of this matrix ``M`` for a symmetric ``S^{-1}`` (m, m)
        given by its lower triangle, Fortran-ordered (as :func:`_inverse` returns it)."""
        return gram_trace(self.G, self.G_csc, self.left, self.right, Sinv_lower.T)


@dataclass(frozen=True)
class Factorization:
    """The blocked Cholesky of ``A = I + Lambda' G Lambda`` at one parameter value.

    Attributes
    ----------
    R1, R2 : Roots
        ``Lambda`` of the first factor and of the others.
    C11, A11inv : ndarray, shape (L1, q1, q1)
        Cholesky factors and inverses of the first factor's diagonal blocks of ``A``.
    B, E : (L1 q1, m), ScaledSparse or dense
        ``A12 = Lambda_1' G12 Lambda_2`` and ``A11^{-1} A12``.
    CS : ndarray, shape (m, m)
        Lower Cholesky factor of the Schur complement ``S = A22 - A12' A11^{-1} A12``.
    response_solves : dict
        Filled by :func:`fixed_effects_normal`: ``"Zty"`` (Q,) and the solves
        ``A^{-1} [W, Lambda'Z'y]`` (Q, p + 1) with ``W = Lambda'Z'X``, so that the
        log-likelihood at any ``beta`` for that response needs no further solve
        (``bhat = A^{-1}Lambda'Z'y - A^{-1}W beta``): the independence sampler asks for
        the conditional and then the log-density at the same roots.
    """

    R1: Roots
    R2: Roots
    C11: np.ndarray
    A11inv: np.ndarray
    B: object
    E: object
    CS: np.ndarray
    response_solves: dict = field(default_factory=dict, compare=False)

    @property
    def logdet(self) -> float:
        """``log det A``."""
        d11 = np.log(np.diagonal(self.C11, axis1=1, axis2=2)).sum()
        return 2.0 * (d11 + np.log(np.diag(self.CS)).sum())

    def solve(self, u: np.ndarray, n1: int) -> np.ndarray:
        """``A^{-1} u`` for a stacked ``u``: a vector (Q,) or k right-hand sides (Q, k)."""
        y1 = _block_apply(self.A11inv, u[:n1])
        z2 = cho_solve_lower(self.CS, u[n1:] - self.B.T @ y1)
        return np.concatenate([y1 - self.E @ z2, z2])


_LAST = threading.local()  # per thread: (blocks, roots, Factorization) of its last one


def factorize(blocks: FactorBlocks, Ks: list[np.ndarray]) -> Factorization:
    """Blocked Cholesky of ``A = I + Lambda' G Lambda`` for whitened roots ``K_k``.

    The last factorisation of each thread is kept: the independence sampler asks for
    the fixed effects' conditional and then the log-density at the same roots (threads
    evaluate different proposals, :mod:`hierlmm.engines.threads`).

    Parameters
    ----------
    blocks : FactorBlocks
    Ks : list of ndarray, each (q_k, q_k)
        ``L_k / sigma`` per factor, in ``blocks.factors`` order.
    """
    last = getattr(_LAST, "entry", None)
    if last is not None and _same_blocks(last[0], blocks) and _same_roots(last[1], Ks):
        return last[2]
    fac = _factorize(blocks, Ks)
    _LAST.entry = (blocks, [np.array(K, dtype=np.float64) for K in Ks], fac)  # one entry a
    return fac  # thread: a factorisation holds an m x m matrix


def _same_blocks(a: FactorBlocks, b: FactorBlocks) -> bool:
    """The same object, or blocks of one design (a reused compiled model's own copy)."""
    return a is b or (bool(a.fingerprint) and a.fingerprint == b.fingerprint
                      and a.is_sparse == b.is_sparse)


def _same_roots(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    """Equal roots up to rounding (the sampler's two routes to sigma and L_k may differ
    in the last bit; such a difference changes the factorisation by as little)."""
    return len(a) == len(b) and all(
        np.shape(x) == np.shape(y) and np.allclose(x, y, rtol=1e-12, atol=0.0)
        for x, y in zip(a, b, strict=True))


def _factorize(blocks: FactorBlocks, Ks: list[np.ndarray]) -> Factorization:
    sizes = [n * q for n, q in zip(blocks.n_levels, blocks.q, strict=True)]
    R1, R2 = Roots(Ks[:1], sizes[:1]), Roots(Ks[1:], sizes[1:])
    K1 = Ks[0]
    A11 = np.eye(K1.shape[0]) + np.einsum("ba,lbc,cd->lad", K1, blocks.G11, K1)
    C11 = np.linalg.cholesky(A11)
    A11inv = np.linalg.inv(A11)
    if blocks.is_sparse:  # every q is 1: S = Lambda_2 (G22 - G21 W G12) Lambda_2 + I
        k1, lam2 = float(K1[0, 0]), R2.diagonal
        B = ScaledSparse(blocks.G12, np.full(blocks.first_size, k1), lam2)
        E = ScaledSparse(blocks.G12, k1 * A11inv[:, 0, 0], lam2, blocks.G12_csc)
        CS = schur_cholesky(blocks.G12, blocks.G12_csc, blocks.G22_upper,
                            k1**2 * A11inv[:, 0, 0], lam2)
    else:
        B = R2.cols(R1.rows(blocks.G12, transpose=True))
        E = _block_apply(A11inv, B)
        S = R2.rows(R2.cols(blocks.G22), transpose=True) - B.T @ E
        S[np.diag_indices_from(S)] += 1.0
        CS = cholesky_lower(S)  # reads the lower half, without the GIL
    return Factorization(R1=R1, R2=R2, C11=C11, A11inv=A11inv, B=B, E=E, CS=CS)


def _roots(blocks: FactorBlocks, sigma: float, chols: list[np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(c, dtype=np.float64) / sigma for c in chols]


def _g_times(blocks: FactorBlocks, v: np.ndarray) -> np.ndarray:
    """``G v`` for a stacked vector ``v`` (Q,)."""
    n1, q1 = blocks.first_size, blocks.q[0]
    v1, v2 = v[:n1], v[n1:]
    g1 = np.einsum("lab,lb->la", blocks.G11, v1.reshape(-1, q1)).ravel() + blocks.G12 @ v2
    return np.concatenate([g1, blocks.G12.T @ v1 + blocks.G22 @ v2])


def _inverse_diagonal_sums(blocks, fac, Sinv) -> list[np.ndarray]:
    """``sum_j (A^{-1})_{kj,kj}`` for every factor k, each (q_k, q_k).

    First factor: ``A11^{-1} + E S^{-1} E'`` on its diagonal blocks; the others: the
    diagonal blocks of ``S^{-1}``. The cross term costs one product with the pattern of
    the Schur complement's own (sparse ``E'E``, or ``E S^{-1}`` when dense). ``Sinv``
    is the lower triangle only when ``E`` is sparse (every q is 1), full otherwise.
    """
    q1 = blocks.q[0]
    first = fac.A11inv.sum(axis=0)
    if isinstance(fac.E, ScaledSparse):  # every q is 1: diagonal blocks are diagonal
        first = first + fac.E.gram_trace(Sinv)
    else:
        ES = (fac.E @ Sinv).reshape(-1, q1, Sinv.shape[0])
        first = first + np.einsum("jat,jbt->ab", ES, fac.E.reshape(ES.shape))
    out, start = [first], 0
    for n_levels, q in zip(blocks.n_levels[1:], blocks.q[1:], strict=True):
        idx = start + np.arange(n_levels * q).reshape(n_levels, q)
        out.append(Sinv[idx[:, :, None], idx[:, None, :]].sum(axis=0))
        start += n_levels * q
    return out


def _logdet_grads(blocks, fac, Sinv, Ks) -> list[np.ndarray]:
    """``sum_j [G Lambda A^{-1}]_{kj,kj}`` per factor, each (q_k, q_k).

    From ``Lambda' G Lambda A^{-1} = I - A^{-1}``: the diagonal blocks of factor k are
    ``K_k^{-T} (I - (A^{-1})_{kj,kj})`` (K_k is invertible: sampled SDs are positive).
    """
    out = []
    for K, n_levels, inv_sum in zip(Ks, blocks.n_levels, _inverse_diagonal_sums(
            blocks, fac, Sinv), strict=True):
        rhs = n_levels * np.eye(K.shape[0]) - inv_sum
        out.append(sla.solve_triangular(K, rhs, lower=True, trans="T"))
    return out


def _inverse(CS: np.ndarray, full: bool = True) -> np.ndarray:
    """``S^{-1}`` from its lower Cholesky factor (LAPACK potri, without the GIL): full
    symmetric, or the lower triangle with zeros above (``CS`` is zero above its
    diagonal)."""
    inv = inverse_lower(CS)
    return inv + np.tril(inv, -1).T if full else inv


@dataclass(frozen=True)
class Response:
    """y-dependent statistics: ``Z'y`` (Q,), ``X'y`` (p,), ``y'y``."""

    Zty: np.ndarray
    Xty: np.ndarray
    yty: float


def _lam_t(fac: Factorization, v: np.ndarray, n1: int) -> np.ndarray:
    """``Lambda' v`` for a stacked (Q,) or (Q, k) array."""
    return np.concatenate([fac.R1.rows(v[:n1], transpose=True),
                           fac.R2.rows(v[n1:], transpose=True)])


def _pieces(blocks, resp, beta, Ks):
    """Residual statistics, the factorisation, ``u`` and ``bhat``."""
    beta = np.asarray(beta, dtype=np.float64)
    c = resp.Zty - blocks.ZtX @ beta
    rr = resp.yty - 2.0 * beta @ resp.Xty + beta @ blocks.XtX @ beta
    fac = factorize(blocks, Ks)
    n1, memo = blocks.first_size, fac.response_solves
    if memo and np.array_equal(memo["Zty"], resp.Zty):
        p = beta.size  # u and A^{-1}u are linear in beta: no solve (see Factorization)
        W_y, solved = memo["rhs"], memo["solved"]
        return c, rr, fac, W_y[:, p] - W_y[:, :p] @ beta, solved[:, p] - solved[:, :p] @ beta
    u = _lam_t(fac, c, n1)
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
    lam_b = np.concatenate([fac.R1.rows(bhat[:n1]), fac.R2.rows(bhat[n1:])])
    w = c - _g_times(blocks, lam_b)
    grad_beta = (resp.Xty - blocks.XtX @ beta - blocks.ZtX.T @ lam_b) / s2
    Sinv = _inverse(fac.CS, full=not blocks.is_sparse)
    logdet_parts = _logdet_grads(blocks, fac, Sinv, Ks)
    grad_K, offs = [], blocks.offsets
    for k, q in enumerate(blocks.q):
        wk = w[offs[k]:offs[k + 1]].reshape(-1, q)
        bk = bhat[offs[k]:offs[k + 1]].reshape(-1, q)
        grad_K.append(-logdet_parts[k] + wk.T @ bk / s2)
    grad_sigma = (-n / sigma + (rr - quad) / sigma**3
                  - sum(float(np.vdot(g, K)) for g, K in zip(grad_K, Ks, strict=True)) / sigma)
    return float(value), grad_beta, float(grad_sigma), [g / sigma for g in grad_K]


def fixed_effects_normal(
    blocks: FactorBlocks, resp: Response, sigma: float, chols: list[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """The likelihood as a function of ``beta``: ``-beta'P beta / 2 + h'beta + const``.

    With every factor integrated out, ``y ~ N(X beta, sigma^2 (I + Z Lambda Lambda' Z'))``
    whose inverse is ``(I - Z Lambda A^{-1} Lambda' Z') / sigma^2``, so
    ``P = (X'X - W'A^{-1}W) / sigma^2`` and ``h = (X'y - W'A^{-1}Lambda'Z'y) / sigma^2``
    with ``W = Lambda'Z'X`` (p solves with the blocked factor).

    Returns
    -------
    precision : ndarray, shape (p, p)
    linear : ndarray, shape (p,)
    """
    fac = factorize(blocks, _roots(blocks, sigma, chols))
    n1, p = blocks.first_size, blocks.XtX.shape[0]
    rhs = _lam_t(fac, np.column_stack([blocks.ZtX, resp.Zty]), n1)  # [W, Lambda'Z'y]
    solved = fac.solve(rhs, n1)  # (Q, p + 1): one solve with the factor for both
    fac.response_solves.update(Zty=np.array(resp.Zty), rhs=rhs, solved=solved)
    W, solved_W = rhs[:, :p], solved[:, :p]
    precision = (blocks.XtX - W.T @ solved_W) / sigma**2
    linear = (resp.Xty - solved_W.T @ rhs[:, p]) / sigma**2
    return 0.5 * (precision + precision.T), linear


def reml_loglik(
    blocks: FactorBlocks, resp: Response, sigma: float, chols: list[np.ndarray],
) -> tuple[float, np.ndarray]:
    """The restricted (REML) log-likelihood and the GLS fixed effects at one parameter value.

    ``log L_R = log p(y | beta_hat) + p/2 log(2 pi) - 1/2 log det(X'V^{-1}X)``, i.e.
    ``-1/2 [(n - p) log 2 pi + log|V| + log|X'V^{-1}X| + r'V^{-1}r]`` at the GLS
    ``beta_hat``; lme4's REML criterion is ``-2 log L_R``.

    Returns
    -------
    value : float
    beta_hat : ndarray, shape (p,)
    """
    P, h = fixed_effects_normal(blocks, resp, sigma, chols)
    beta = np.linalg.solve(P, h)
    value = (allfactor_loglik(blocks, resp, beta, sigma, chols)
             + 0.5 * P.shape[0] * LOG_2PI - 0.5 * np.linalg.slogdet(P)[1])
    return float(value), beta


def draw_all_effects(
    blocks: FactorBlocks, resp: Response, beta: np.ndarray, sigma: float,
    chols: list[np.ndarray], rng: np.random.Generator | None = None,
    normals: np.ndarray | None = None,
) -> np.ndarray:
    """One exact draw of every factor's effects given the parameters, stacked (Q,).

    ``b = Lambda (bhat + sigma x)`` with ``x ~ N(0, A^{-1})`` drawn through the blocked
    Cholesky factor of ``A`` (``x = L^{-T} z``). Split with ``blocks.offsets``.

    Parameters
    ----------
    rng : numpy.random.Generator, optional
        Draws ``z``, shape (Q,), unless ``normals`` gives it.
    normals : ndarray, shape (Q,), optional
    """
    Ks = _roots(blocks, sigma, chols)
    _, _, fac, _, bhat = _pieces(blocks, resp, beta, Ks)
    n1, q1 = blocks.first_size, blocks.q[0]
    z = rng.standard_normal(n1 + blocks.m) if normals is None else normals
    x2 = solve_lower_t(fac.CS, z[n1:])
    z1 = z[:n1].reshape(-1, q1, 1)
    x1 = np.linalg.solve(fac.C11.transpose(0, 2, 1), z1).ravel() - fac.E @ x2
    x = np.concatenate([x1, x2])
    v = bhat + sigma * x
    return np.concatenate([fac.R1.rows(v[:n1]), fac.R2.rows(v[n1:])])
