"""Batched q x q linear algebra of the collapsed Gaussian likelihood, unrolled (PyTensor).

For every level j of the collapsed factor the likelihood needs the Cholesky factor of
``A_j = I_q + K' S_j K`` (``S_j = Z_j'Z_j``, ``K = L / sigma``) and a triangular solve
with ``u_j = K' Z_j'r_j``. With q small (1 to ~6) and L large, the fastest portable
PyTensor graph is not a batched LAPACK call (one call per 2 x 2 matrix) but the Cholesky
algorithm written out at graph-build time over length-L vectors: a q x q matrix per level
is a dict of (L,) vectors, every step is elementwise, and PyTensor fuses the forward pass
into one loop (checked with the numba, C and Python backends; no ``Scan``). Products of
two scalars are avoided because PyTensor hoists them into extra loop inputs, and the
compiled loops slow down markedly with many inputs.

Reverse-mode autodiff of the unrolled graph materialises dozens of intermediate (L,)
vectors, so :func:`group_terms_sum` wraps the forward pass in an inlined
``OpFromGraph`` whose pullback is the closed form (with ``w_j = A_j^{-1} u_j``), about
3x faster for q = 2 and 3::

    d sum_j log det A_j / dK   = 2 sum_j S_j K A_j^{-1}
    d sum_j u_j'A_j^{-1}u_j/dK = 2 sum_j (Z_j'r_j w_j' - S_j K w_j w_j')
    d sum_j u_j'A_j^{-1}u_j/d(Z_j'r_j) = 2 K w_j
    d log det A_j / dS_j = K A_j^{-1} K',   d u_j'A_j^{-1}u_j / dS_j = -K w_j w_j' K'

(the last two only when ``S_j`` depends on parameters, e.g. the ``R^{-1}``-weighted
``Z_j'W_j Z_j`` of AR(1)/CAR(1) residuals: ``zz_gradient=True``).

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


def _scalars(K: TensorVariable, q: int) -> list:
    """``k[c][a]`` is the scalar ``K[c, a]``."""
    return [[K[c, a] for a in range(q)] for c in range(q)]


def _matvec_cols(k: list, cols: list, q: int, transpose: bool) -> list:
    """Columns of ``K' X`` (transpose) or ``K X`` for X given as q (L,) vectors."""
    if transpose:
        return [_sum([k[c][a] * cols[c] for c in range(q)]) for a in range(q)]
    return [_sum([k[a][c] * cols[c] for c in range(q)]) for a in range(q)]


def precision_entries(k: list, zz: dict, q: int) -> dict:
    """Lower entries of ``A_j = I + K' S_j K``: ``A[(a, b)]`` (L,), a >= b.

    Factored as ``T = S_j K`` then ``K' T`` so that every product is scalar x vector:
    products of two scalars would be hoisted out of the fused loop as extra inputs.
    """
    T = [[_sum([_sym(zz, c, d) * k[d][b] for d in range(q)]) for b in range(q)]
         for c in range(q)]  # fmt: skip
    return {
        (a, b): _sum([k[c][a] * T[c][b] for c in range(q)]) + (1.0 if a == b else 0.0)
        for a, b in lower_pairs(q)
    }


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


def group_terms(K: TensorVariable, zz: dict, zr: list, q: int) -> tuple:
    """Per-level ``log det A_j`` (L,), ``u_j'A_j^{-1}u_j`` (L,), and ``C``, ``v``.

    Parameters
    ----------
    K : TensorVariable, shape (q, q)
        ``chol / sigma``.
    zz : dict
        ``zz[(c, d)]``, c <= d: (L,) entries of ``Z_j'Z_j``.
    zr : list of TensorVariable
        q vectors (L,): entries of ``Z_j'r_j``.
    q : int
        Number of effects.
    """
    k = _scalars(K, q)
    C, logdet = unrolled_cholesky(precision_entries(k, zz, q), q)
    v = forward_substitution(C, _matvec_cols(k, zr, q, transpose=True), q)
    return logdet, _sum([vi**2 for vi in v]), C, v


def _pullback_graph(K, zz: dict, zr: list, g_logdet, g_quad, q: int) -> list:
    """Closed-form vector-Jacobian product of :func:`group_terms_sum` (see module doc).

    With ``w = A^{-1} u`` and ``B = g_logdet A^{-1} - g_quad w w'`` per level:
    ``dK = 2 sum_j (S_j K B_j + g_quad Z_j'r_j w_j')`` and ``d(Z_j'r_j) = 2 g_quad K w_j``.
    Returns ``[dK (q, q), d(Z'r)[0] (L,), ..., d(Z'r)[q-1] (L,)]`` and, per stored
    entry ``(c, d)`` of ``S_j``, ``d S[(c, d)]`` (L,) (``K B K'``, doubled off the
    diagonal as each stored entry stands for two).
    """
    k = _scalars(K, q)
    _, _, C, v = group_terms(K, zz, zr, q)
    w = back_substitution(C, v, q)
    Ainv = inverse_from_cholesky(C, q)
    B = {ab: g_logdet * Ainv[ab] - g_quad * (w[ab[0]] * w[ab[1]]) for ab in Ainv}
    KB = [[_sum([k[d][e] * _sym(B, e, a) for e in range(q)]) for a in range(q)]
          for d in range(q)]  # fmt: skip
    gw = [g_quad * w_a for w_a in w]
    gK = pt.stack([
        pt.stack([
            2.0 * pt.sum(_sum([_sym(zz, c, d) * KB[d][a] for d in range(q)]) + zr[c] * gw[a])
            for a in range(q)
        ])
        for c in range(q)
    ])  # fmt: skip
    g_zr = [2.0 * g for g in _matvec_cols(k, gw, q, transpose=False)]
    g_zz = {
        (c, d): (1.0 if c == d else 2.0)
        * _sum([KB[c][a] * k[d][a] for a in range(q)])
        for c in range(q) for d in range(c, q)
    }
    return [gK, *g_zr], g_zz


def _pullback(q: int, keys: list, zz_gradient: bool = False):
    """Pullback callable for the ``OpFromGraph`` of :func:`group_terms_sum`."""

    def pullback(inputs, outputs, cotangents):
        K, cols = inputs[0], inputs[1:]
        g_logdet, g_quad = (
            pt.constant(0.0) if isinstance(g.type, DisconnectedType) else g for g in cotangents
        )
        zz = dict(zip(keys, cols[: len(keys)], strict=True))
        (gK, *g_zr), g_zz = _pullback_graph(
            K, zz, list(cols[len(keys) :]), g_logdet, g_quad, q
        )
        if zz_gradient:
            return [gK, *(g_zz[key] for key in keys), *g_zr]
        return [gK, *(DisconnectedType()() for _ in keys), *g_zr]

    return pullback


def group_terms_sum(
    K: TensorVariable, zz: dict, zr: list, q: int, zz_gradient: bool = False
) -> tuple[TensorVariable, TensorVariable]:
    """``sum_j log det A_j`` and ``sum_j u_j'A_j^{-1}u_j`` (scalars), closed-form gradient.

    Same arguments as :func:`group_terms`. The ``zz`` entries are treated as data (no
    gradient flows to them) unless ``zz_gradient`` is True.
    """
    keys = sorted(zz)
    outer = [pt.as_tensor_variable(K), *(zz[key] for key in keys), *zr]
    inner = [x.type() for x in outer]
    inner_zz = dict(zip(keys, inner[1 : 1 + len(keys)], strict=True))
    logdet, vtv, _, _ = group_terms(inner[0], inner_zz, inner[1 + len(keys) :], q)
    op = OpFromGraph(
        inner,
        [pt.sum(logdet), pt.sum(vtv)],
        inline=True,
        pullback=_pullback(q, keys, zz_gradient),
        name="collapsed_group_terms",
        # K feeds both sums, Z'r only the quadratic form; Z'Z is data (no gradient)
        connection_pattern=[[True, True]] + [[zz_gradient, zz_gradient]] * len(keys)
        + [[False, True]] * q,
    )
    logdet_sum, vtv_sum = op(*outer)
    return logdet_sum, vtv_sum
