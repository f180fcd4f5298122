"""Batched q x q linear algebra of the collapsed Gaussian likelihood, unrolled (PyTensor).

For every level j of the collapsed factor the likelihood needs the Cholesky factor of
``A_j = I_q + K' S_j K`` (``S_j = Z_j'Z_j``, ``K = L / sigma``) and a triangular solve
with ``u_j = K' Z_j'r_j``. With q small (1 to ~6) and L large, the fastest portable
PyTensor graph is not a batched LAPACK call but the Cholesky algorithm written out at
graph-build time over length-L vectors: a q x q matrix per level is a dict of (L,)
vectors, every step is elementwise, and PyTensor fuses the whole forward pass into one
loop (numba, C and JAX backends alike; no ``Scan``).

Reverse-mode autodiff of that unrolled graph keeps O(q^3) intermediate vectors alive, so
:func:`group_terms_sum` wraps the forward pass in an inlined ``OpFromGraph`` whose
pullback is the closed form (with ``w_j = A_j^{-1} u_j``)::

    d sum_j log det A_j / dK   = 2 sum_j S_j K A_j^{-1}
    d sum_j u_j'A_j^{-1}u_j/dK = 2 sum_j (Z_j'r_j w_j' - S_j K w_j w_j')
    d sum_j u_j'A_j^{-1}u_j/d(Z_j'r_j) = 2 K w_j

Storage conventions: ``zz[(c, d)]`` for ``c <= d`` holds ``S_j[c, d]`` (L,); ``zr[c]``
holds ``(Z_j'r_j)[c]`` (L,); lower-triangular factors are dicts keyed ``(i, j)``, i >= j.
"""

from __future__ import annotations

import pytensor.tensor as pt
from pytensor.compile.builders import OpFromGraph
from pytensor.gradient import DisconnectedType
from pytensor.tensor.variable import TensorVariable


def _sum(terms: list) -> TensorVariable:
    """Sum of a non-empty list of tensors (keeps the graph free of ``0 + x`` nodes)."""
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def _sym(M: dict, a: int, b: int) -> TensorVariable:
    """Entry (a, b) of a symmetric matrix stored with keys (max, min) or (min, max)."""
    return M[(a, b)] if (a, b) in M else M[(b, a)]


def lower_pairs(q: int) -> list[tuple[int, int]]:
    """Index pairs (a, b), a >= b, of a q x q lower triangle, row by row."""
    return [(a, b) for a in range(q) for b in range(a + 1)]


def precision_offdiag(K: TensorVariable, ZtZ: TensorVariable, q: int) -> TensorVariable:
    """Lower entries of ``K' S_j K`` as an (L, q(q+1)/2) matrix, in :func:`lower_pairs` order.

    One BLAS product ``vec(S_j)' M`` with ``M[:, (a, b)] = vec(outer(K[:, a], K[:, b]))``,
    so only q(q+1)/2 vectors reach the fused loop whatever q is.
    """
    M = pt.stack([pt.outer(K[:, a], K[:, b]).reshape((q * q,)) for a, b in lower_pairs(q)],
                 axis=1)  # fmt: skip
    return ZtZ.reshape((ZtZ.shape[0], q * q)) @ M  # (L, q*q) @ (q*q, q(q+1)/2)


def unrolled_cholesky(A: dict, q: int) -> tuple[dict, TensorVariable]:
    """Cholesky factor ``C`` (dict of (L,) entries) and ``log det A`` (L,).

    The log-determinant takes one ``log`` of the product of the q pivots (each pivot of
    ``I + PSD`` is >= 1), which is the costly transcendental in the loop.
    """
    C: dict = {}
    det = None
    for j in range(q):
        pivot = A[j, j] - _sum([C[j, m] ** 2 for m in range(j)]) if j else A[j, j]
        det = pivot if det is None else det * pivot
        C[j, j] = pt.sqrt(pivot)
        for i in range(j + 1, q):
            acc = A[i, j] - _sum([C[i, m] * C[j, m] for m in range(j)]) if j else A[i, j]
            C[i, j] = acc / C[j, j]
    return C, pt.log(det)


def forward_substitution(C: dict, u: list, q: int) -> list:
    """Solve ``C v = u`` for lower-triangular ``C``; returns q (L,) vectors."""
    v: list = []
    for i in range(q):
        acc = u[i] - _sum([C[i, m] * v[m] for m in range(i)]) if i else u[i]
        v.append(acc / C[i, i])
    return v


def back_substitution(C: dict, v: list, q: int) -> list:
    """Solve ``C' w = v`` for lower-triangular ``C``; returns q (L,) vectors."""
    w: list = [None] * q
    for i in reversed(range(q)):
        later = [C[m, i] * w[m] for m in range(i + 1, q)]
        w[i] = ((v[i] - _sum(later)) if later else v[i]) / C[i, i]
    return w


def inverse_from_cholesky(C: dict, q: int) -> dict:
    """Lower entries of ``A^{-1} = C^{-T} C^{-1}``, dict of (L,) vectors."""
    inv: dict = {}
    for i in range(q):
        inv[i, i] = 1.0 / C[i, i]
        for j in range(i):
            inv[i, j] = -_sum([C[i, m] * inv[m, j] for m in range(j, i)]) * inv[i, i]
    return {
        (a, b): _sum([inv[m, a] * inv[m, b] for m in range(a, q)])
        for a in range(q)
        for b in range(a + 1)
    }


def group_terms(A_low: TensorVariable, U: TensorVariable, q: int) -> tuple:
    """Per-level ``log det A_j`` (L,), ``u_j'A_j^{-1}u_j`` (L,), and ``C``, ``v``.

    Parameters
    ----------
    A_low : TensorVariable, shape (L, q(q+1)/2)
        Lower entries of ``K' S_j K`` (without the identity), :func:`lower_pairs` order.
    U : TensorVariable, shape (L, q)
        ``u_j = K' Z_j' r_j`` per level.
    q : int
        Number of effects.
    """
    A = {
        ab: A_low[:, m] + (1.0 if ab[0] == ab[1] else 0.0)
        for m, ab in enumerate(lower_pairs(q))
    }
    C, logdet = unrolled_cholesky(A, q)
    v = forward_substitution(C, [U[:, a] for a in range(q)], q)
    return logdet, _sum([vi**2 for vi in v]), C, v


def _pullback(q: int):
    """Closed-form vector-Jacobian product of :func:`group_terms_sum`'s inner graph.

    With ``w = A^{-1} u``: d log det A / dA = A^{-1}, d u'A^{-1}u / dA = -w w',
    d u'A^{-1}u / du = 2 w; off-diagonal entries of the packed lower triangle count twice.
    """

    def pullback(inputs, outputs, cotangents):
        A_low, U = inputs
        g_logdet, g_vtv = (
            pt.constant(0.0) if isinstance(g.type, DisconnectedType) else g for g in cotangents
        )
        _, _, C, v = group_terms(A_low, U, q)
        w = back_substitution(C, v, q)
        Ainv = inverse_from_cholesky(C, q)
        g_A = [
            (1.0 if a == b else 2.0) * (g_logdet * Ainv[a, b] - g_vtv * w[a] * w[b])
            for a, b in lower_pairs(q)
        ]
        g_U = [2.0 * g_vtv * w_a for w_a in w]
        return [pt.stack(g_A, axis=1), pt.stack(g_U, axis=1)]

    return pullback


def group_terms_sum(
    A_low: TensorVariable, U: TensorVariable, q: int
) -> tuple[TensorVariable, TensorVariable]:
    """``sum_j log det A_j`` and ``sum_j u_j'A_j^{-1}u_j`` (scalars), closed-form gradient.

    Same arguments as :func:`group_terms`.
    """
    inner = [A_low.type(), U.type()]
    logdet, vtv, _, _ = group_terms(*inner, q)
    op = OpFromGraph(
        inner,
        [pt.sum(logdet), pt.sum(vtv)],
        inline=True,
        pullback=_pullback(q),
        name="collapsed_group_terms",
        connection_pattern=[[True, True], [False, True]],  # U enters the quadratic form only
    )
    logdet_sum, vtv_sum = op(A_low, U)
    return logdet_sum, vtv_sum
