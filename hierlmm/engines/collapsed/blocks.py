"""Cross-product blocks of every grouping factor at once, for the all-factor marginal.

The random-effect columns of all factors, ``Z = [Z_1 | Z_2 | ...]`` (never formed), are
ordered with the *first* factor (most effects) in front and the others behind it. Its
cross-product ``G = Z'Z`` is kept as MixedModels.jl keeps its ``A`` blocks:

- ``G11``: the first factor's diagonal block, block-diagonal, stored as (L1, q1, q1);
- ``G12``: the first factor against all others, (L1 q1, m), scipy CSR when every
  factor has one effect and it is large and sparse (InstEval's students x lecturers),
  dense otherwise: when more than :data:`DENSE_FILL` of it is filled (every subject
  meets every item), small (:data:`DENSE_CELLS`) or with random slopes;
- ``G22``: all other factors against each other, dense (m, m), where ``m`` is their
  number of effects.

With ``ZtX`` (Q, p), ``X'X``, ``Z'y``, ``X'y``, ``y'y`` (``Q = L1 q1 + m``) they are all
the likelihood and the exact effect draws read. Memory is O(nnz(G) + Q p + m^2); no
n x Q matrix is formed (each block is assembled from (row, column, value) triplets).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from hierlmm.design.design import Design, GroupDesign
from hierlmm.engines.collapsed.stats import group_crossprod

DENSE_FILL = 0.2  # G12 kept dense above this fraction of filled cells
DENSE_CELLS = 1_000_000  # ... or when it has at most this many cells


def _effect_index(group: GroupDesign, a: int) -> np.ndarray:
    """Column of effect ``a`` of each row's level in the factor's own block, (n,)."""
    return group.codes.astype(np.int64) * group.q + a


def _cross(g: GroupDesign, h: GroupDesign) -> sp.csr_array:
    """``Z_g' Z_h`` as a sparse (L_g q_g, L_h q_h) array, duplicates summed."""
    rows, cols, vals = [], [], []
    for a in range(g.q):
        for b in range(h.q):
            rows.append(_effect_index(g, a))
            cols.append(_effect_index(h, b))
            vals.append(g.Z[:, a] * h.Z[:, b])
    shape = (g.n_levels * g.q, h.n_levels * h.q)
    coo = sp.coo_array(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=shape
    )
    return coo.tocsr()


@dataclass(frozen=True)
class FactorBlocks:
    """The factors' cross-products in the order the likelihood uses.

    Attributes
    ----------
    factors : tuple of str
        Factor names, first factor first.
    q : tuple of int
        Effects per level of each factor.
    n_levels : tuple of int
    G11 : ndarray, shape (L1, q1, q1)
    G12 : scipy.sparse.csr_array or ndarray, shape (L1 q1, m)
    G22 : ndarray, shape (m, m)
    ZtX : ndarray, shape (Q, p)
    XtX : ndarray, shape (p, p)
    n_obs : int
    fingerprint : str
        :func:`design_fingerprint` of the design: equal blocks share it.
    """

    factors: tuple[str, ...]
    q: tuple[int, ...]
    n_levels: tuple[int, ...]
    G11: np.ndarray
    G12: sp.csr_array | np.ndarray
    G22: np.ndarray
    ZtX: np.ndarray
    XtX: np.ndarray
    n_obs: int
    fingerprint: str = ""

    @property
    def first_size(self) -> int:
        """``L1 q1``, the first factor's number of effects."""
        return self.n_levels[0] * self.q[0]

    @property
    def m(self) -> int:
        """Number of effects of all other factors (the dense block's size)."""
        return int(sum(L * q for L, q in zip(self.n_levels[1:], self.q[1:], strict=True)))

    @property
    def offsets(self) -> np.ndarray:
        """Start of each factor's effects in the stacked vector, plus the total (k + 1,)."""
        return np.cumsum([0, *(L * q for L, q in zip(self.n_levels, self.q, strict=True))])

    @cached_property
    def G12_csc(self) -> sp.csc_array | None:
        """``G12`` as CSC when it is sparse (the Schur kernel reads both layouts)."""
        return sp.csc_array(self.G12) if self.is_sparse else None

    @cached_property
    def G22_upper(self) -> sp.csr_array | None:
        """The upper triangle of ``G22`` (with its diagonal) as canonical CSR, when ``G12``
        is sparse (every q is 1: ``G22`` is then mostly zeros, e.g. InstEval's lecturer
        block is diagonal)."""
        if not self.is_sparse:
            return None
        upper = sp.csr_array(sp.triu(sp.csr_array(self.G22)))
        upper.sum_duplicates()
        upper.sort_indices()
        return upper

    @property
    def is_sparse(self) -> bool:
        """Whether ``G12`` is a scipy sparse array."""
        return sp.issparse(self.G12)


def design_fingerprint(design: Design) -> str:
    """A hash of the arrays the y-independent blocks depend on (codes, Z, X)."""
    h = hashlib.sha1()
    for g in design.groups:
        for arr in (g.codes, g.Z, np.asarray(g.n_levels)):
            h.update(np.ascontiguousarray(arr).tobytes())
    h.update(np.ascontiguousarray(design.X).tobytes())
    return h.hexdigest()


def order_groups(groups: tuple[GroupDesign, ...]) -> tuple[GroupDesign, ...]:
    """The factor with most effects first, the others in design order."""
    first = max(groups, key=lambda g: g.n_levels * g.q)
    return (first, *(g for g in groups if g.factor != first.factor))


def dense_size(groups: tuple[GroupDesign, ...]) -> int:
    """``m``: effects of every factor but the first, the size of the dense block."""
    return sum(g.n_levels * g.q for g in order_groups(groups)[1:])


def sparse_ok(groups: tuple[GroupDesign, ...], nnz: int) -> bool:
    """Whether ``G12`` is kept sparse: single-effect factors, large and mostly empty."""
    cells = groups[0].n_levels * groups[0].q * dense_size(groups)
    single = all(g.q == 1 for g in groups)
    return single and cells > DENSE_CELLS and nnz <= DENSE_FILL * cells


def factor_blocks(design: Design) -> FactorBlocks:
    """The y-independent :class:`FactorBlocks` of a design with at least two factors."""
    groups = order_groups(design.groups)
    first, others = groups[0], groups[1:]
    diag = group_crossprod(first.codes, first.Z, first.Z, first.n_levels)  # (L1, q1, q1)
    G12 = sp.hstack([_cross(first, h) for h in others], format="csr")
    if not sparse_ok(groups, G12.nnz):
        G12 = G12.toarray()
    G22 = sp.bmat([[_cross(g, h) for h in others] for g in others]).toarray()
    ZtX = np.concatenate(
        [group_crossprod(g.codes, g.Z, design.X, g.n_levels).reshape(-1, design.p)
         for g in groups]
    )
    return FactorBlocks(
        factors=tuple(g.factor for g in groups), q=tuple(g.q for g in groups),
        n_levels=tuple(g.n_levels for g in groups), G11=0.5 * (diag + diag.transpose(0, 2, 1)),
        G12=G12, G22=0.5 * (G22 + G22.T), ZtX=ZtX, XtX=design.X.T @ design.X, n_obs=design.n,
        fingerprint=design_fingerprint(design),
    )


def response_blocks(design: Design, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``Z'y`` (Q,), ``X'y`` (p,) and ``y'y`` for a response ``y`` (n,), O(n q)."""
    Zty = np.concatenate(
        [group_crossprod(g.codes, g.Z, y, g.n_levels).reshape(-1)
         for g in order_groups(design.groups)]
    )
    return Zty, design.X.T @ y, float(y @ y)
