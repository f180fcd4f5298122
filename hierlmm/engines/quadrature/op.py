"""PyTensor Ops around :func:`~hierlmm.engines.quadrature.likelihood.marginal_loglik`.

:class:`QuadratureLoglik` returns the value and its gradient in one call (its
``pullback`` reuses the gradient outputs of the same node, as
:mod:`hierlmm.engines.collapsed.allfactor_op` does); :class:`QuadratureLoglikValue`
computes the value alone for value-only samplers (``value_only()``, swapped in by
:mod:`hierlmm.inference.pyfunc`). The sorted data live on the Op, identified by their
fingerprint (part of the engine's structure key).
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from hierlmm.engines.python_ops import register_object_mode
from hierlmm.engines.quadrature.likelihood import LevelData, marginal_loglik


class QuadratureLoglik(Op):
    """``(beta, L, shape, y) -> (value, d beta, d L, d shape)``; ``y`` (n,) is the response
    sorted by level (a data container), not differentiated.

    Parameters
    ----------
    data : LevelData
    key : str
        ``data.key`` (Op identity).
    """

    __props__ = ("key",)

    def __init__(self, data: LevelData, key: str) -> None:
        self.data, self.key = data, key

    def make_node(self, beta, chol, shape, y):
        inputs = [pt.as_tensor_variable(x).astype("float64") for x in (beta, chol, shape, y)]
        outputs = [pt.dscalar(), pt.dvector(), pt.dmatrix(), pt.dscalar()]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage):
        beta, chol, shape, y = inputs
        value, grad = marginal_loglik(self.data, beta, chol, float(shape), gradient=True, y=y)
        if grad is None:  # a level's mode failed: a zero gradient with the -inf value
            results = [value, np.zeros_like(beta), np.zeros_like(chol), 0.0]
        else:
            results = [value, grad.beta, grad.chol, grad.shape]
        for storage, result in zip(output_storage, results, strict=True):
            storage[0] = np.asarray(result, dtype=np.float64)

    def pullback(self, inputs, outputs, cotangents):
        """Cotangent of the value times the gradient outputs of this very node."""
        g = cotangents[0]
        return [*(g * d for d in outputs[1:]), disconnected_type()]

    def connection_pattern(self, node):
        n_out = len(node.outputs)
        return [[True] * n_out, [True] * n_out, [True] * n_out, [False] * n_out]

    def value_only(self) -> QuadratureLoglikValue:
        """The Op computing output 0 alone (no gradient pass)."""
        return QuadratureLoglikValue(self.data, self.key)


class QuadratureLoglikValue(Op):
    """``(beta, L, shape, y) -> value``: :class:`QuadratureLoglik` without the gradient."""

    __props__ = ("key",)

    def __init__(self, data: LevelData, key: str) -> None:
        self.data, self.key = data, key

    def make_node(self, *inputs):
        return Apply(self, [pt.as_tensor_variable(x) for x in inputs], [pt.dscalar()])

    def perform(self, node, inputs, output_storage):
        beta, chol, shape, y = inputs
        value, _ = marginal_loglik(self.data, beta, chol, float(shape), y=y)
        output_storage[0][0] = np.asarray(value, dtype=np.float64)


def quadrature_loglik_op(data: LevelData, *, beta, chol, shape, y) -> pt.TensorVariable:
    """The symbolic marginal log-likelihood (scalar) with its gradient attached.

    Parameters
    ----------
    data : LevelData
    beta : TensorVariable, shape (p,)
    chol : TensorVariable, shape (q, q)
    shape : TensorVariable or float
        The negative binomial shape (a constant 1.0 for other families).
    y : TensorVariable, shape (n,)
        The response sorted by level.
    """
    return QuadratureLoglik(data, data.key)(beta, chol, shape, y)[0]


register_object_mode(QuadratureLoglik, QuadratureLoglikValue)
