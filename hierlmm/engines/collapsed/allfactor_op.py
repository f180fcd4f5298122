"""A PyTensor Op around the numpy all-factor likelihood, so PyMC models can use it.

The Op computes the value and its closed-form gradient in one call
(:func:`~hierlmm.engines.collapsed.allfactor.allfactor_loglik_grad`, scipy sparse and
dense LAPACK); its ``grad`` returns the gradient outputs of the same node, which
PyTensor's merge step shares with the value, so one evaluation serves both. The
y-independent :class:`~hierlmm.engines.collapsed.blocks.FactorBlocks` live on the Op
(identified by a fingerprint of the design, part of the engine's structure key); the
y-dependent statistics are inputs (data containers), so a new response of the same
design reuses the compiled model.

The numba backend runs the Op's Python ``perform`` in object mode (registered here
without numba's generic warning); hierlmm always calls this log-density from Python
(:mod:`hierlmm.inference.pyfunc`), so nothing is lost.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import disconnected_type
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from hierlmm.engines.collapsed.allfactor import (
    Response,
    allfactor_loglik,
    allfactor_loglik_grad,
)
from hierlmm.engines.collapsed.blocks import FactorBlocks
from hierlmm.engines.python_ops import register_object_mode


def _arguments(inputs: list, n_factors: int) -> tuple:
    """The Op's inputs as ``(response, beta, sigma, chols)`` for the numpy likelihood."""
    beta, sigma, *rest = inputs
    chols, (Zty, Xty, yty) = rest[:n_factors], rest[n_factors:]
    resp = Response(np.asarray(Zty), np.asarray(Xty), float(yty))
    return resp, np.asarray(beta), float(sigma), [np.asarray(c) for c in chols]


class AllFactorLoglik(Op):
    """``(beta, sigma, L_1..L_K, Zty, Xty, yty) -> (value, d beta, d sigma, d L_1..d L_K)``.

    Parameters
    ----------
    blocks : FactorBlocks
        y-independent cross-products (not part of the graph).
    key : str
        Fingerprint of the design the blocks came from (Op identity).
    """

    __props__ = ("key",)

    def __init__(self, blocks: FactorBlocks, key: str) -> None:
        self.blocks, self.key = blocks, key

    @property
    def n_factors(self) -> int:
        return len(self.blocks.factors)

    def make_node(self, beta, sigma, *rest):
        chols = [pt.as_tensor_variable(c) for c in rest[: self.n_factors]]
        data = [pt.as_tensor_variable(x) for x in rest[self.n_factors:]]
        beta, sigma = pt.as_tensor_variable(beta), pt.as_tensor_variable(sigma)
        inputs = [beta, sigma, *chols, *data]
        outputs = [pt.dscalar(), pt.dvector(), pt.dscalar(), *(pt.dmatrix() for _ in chols)]
        return Apply(self, inputs, outputs)

    def perform(self, node, inputs, output_storage):
        value, g_beta, g_sigma, g_chols = allfactor_loglik_grad(
            self.blocks, *_arguments(inputs, self.n_factors))
        results = [np.asarray(value), g_beta, np.asarray(g_sigma), *g_chols]
        for storage, result in zip(output_storage, results, strict=True):
            storage[0] = np.asarray(result, dtype=np.float64)

    def pullback(self, inputs, outputs, cotangents):
        """Cotangent of the value times the gradient outputs of this very node."""
        g = cotangents[0]
        params = [g * d for d in outputs[1:]]
        return [*params, *(disconnected_type() for _ in inputs[len(params):])]

    def value_only(self) -> AllFactorLoglikValue:
        """The Op computing output 0 alone (no gradient: about a quarter of the cost)."""
        return AllFactorLoglikValue(self.blocks, self.key)

    def connection_pattern(self, node):
        n_params = 2 + self.n_factors
        n_out = len(node.outputs)
        return [[True] * n_out if i < n_params else [False] * n_out
                for i in range(len(node.inputs))]


class AllFactorLoglikValue(Op):
    """``(beta, sigma, L_1..L_K, Zty, Xty, yty) -> value``: :class:`AllFactorLoglik`'s
    first output without the gradient, for samplers that need values only
    (:mod:`hierlmm.inference.independence`). It has no gradient of its own.
    """

    __props__ = ("key",)

    def __init__(self, blocks: FactorBlocks, key: str) -> None:
        self.blocks, self.key = blocks, key

    def make_node(self, *inputs):
        return Apply(self, [pt.as_tensor_variable(x) for x in inputs], [pt.dscalar()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = np.asarray(allfactor_loglik(
            self.blocks, *_arguments(inputs, len(self.blocks.factors))), dtype=np.float64)


def allfactor_loglik_op(
    blocks: FactorBlocks, key: str, *, beta, sigma, chols, Zty, Xty, yty
) -> pt.TensorVariable:
    """The symbolic all-factor log-likelihood (scalar) with its gradient attached.

    Parameters
    ----------
    blocks : FactorBlocks
    key : str
        Fingerprint of the design.
    beta : TensorVariable, shape (p,)
    sigma : TensorVariable, scalar
    chols : list of TensorVariable, each (q_k, q_k), in ``blocks.factors`` order
    Zty, Xty, yty : TensorVariable
        Shapes (Q,), (p,), ().
    """
    return AllFactorLoglik(blocks, key)(beta, sigma, *chols, Zty, Xty, yty)[0]


register_object_mode(AllFactorLoglik, AllFactorLoglikValue)
