"""PyTensor Ops that run Python (numpy, scipy, numba kernels) inside a compiled graph.

PyTensor's numba backend compiles such an Op's ``perform`` in object mode and warns that
it does; hierlmm calls these log-densities from Python anyway
(:mod:`hierlmm.inference.pyfunc`), so nothing is lost and the warning is noise.
:func:`register_object_mode` registers the Op types without it.
"""

from __future__ import annotations

import warnings


def register_object_mode(*op_types: type) -> None:
    """Register ``op_types`` with PyTensor's numba backend as object-mode fallbacks,
    without numba's generic warning (a no-op when numba is not installed)."""
    try:
        from pytensor.link.numba.dispatch.basic import generate_fallback_impl, numba_funcify
    except ImportError:  # numba not installed: the C/Python linkers run perform directly
        return

    def _funcify(op, node=None, storage_map=None, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Numba will use object mode")
            return generate_fallback_impl(op, node, storage_map, **kwargs)

    for op_type in op_types:
        numba_funcify.register(op_type)(_funcify)
