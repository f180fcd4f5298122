"""Hand a PyMC model to nutpie through Python callbacks instead of a numba C callback.

nutpie's default numba backend wraps the log-density in a C callback that numba compiles
from scratch in every process (10-30 s here, most of a small model's wall time). The
collapsed engine's log-density has few parameters and is cheap to call, so hierlmm
instead compiles it with PyTensor's own linker (whose compiled code is cached on disk
across processes) and lets nutpie's Rust sampler call it from Python: a few tens of
microseconds per gradient, no per-process JIT.

Each chain gets its own copy of the compiled functions: PyTensor functions hold their
input and output storage and are not safe to call from several threads at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pymc as pm


def _private_nutpie():
    """nutpie's model-to-functions helpers (private API, pinned by tests)."""
    from nutpie.compile_pymc import _make_functions, _prepare_dims_and_coords, _wrap_with_lock
    from nutpie.compiled_pyfunc import from_pyfunc

    return _make_functions, _prepare_dims_and_coords, _wrap_with_lock, from_pyfunc


def _initial_point_fn(model: pm.Model, wrap_with_lock: Callable) -> Callable:
    from pymc.initial_point import make_initial_point_fn

    return wrap_with_lock(
        make_initial_point_fn(
            model=model,
            default_strategy="support_point",
            jitter_rvs=set(model.free_RVs),
            return_transformed=True,
        )
    )


def compile_pyfunc_model(model: pm.Model, *, var_names: Iterable[str], mode: str = "FAST_RUN"):
    """Compile ``model`` for ``nutpie.sample`` with Python-callback log-density.

    Parameters
    ----------
    model : pm.Model
    var_names : iterable of str
        Variables to store in the trace.
    mode : str
        PyTensor compile mode for the log-density and its gradient.

    Returns
    -------
    nutpie compiled model (``PyFuncModel``)
    """
    make_functions, prepare_dims, wrap_with_lock, from_pyfunc = _private_nutpie()
    n_dim, _, logp_fn, expand_fn, initial_point_fn, shape_info, reparam = make_functions(
        model,
        mode=mode,
        compute_grad=True,
        join_expanded=False,
        pymc_initial_point_fn=_initial_point_fn(model, wrap_with_lock),
        var_names=list(var_names),
    )
    names, _, shapes = shape_info

    def make_logp_fn() -> Callable:
        fn = logp_fn.copy(share_memory=False)

        def logp(x, **_shared):
            value, grad = fn(x)
            return float(value), np.array(grad, dtype="float64")

        return logp

    def make_expand_fn(seed1, seed2, chain) -> Callable:
        fn = expand_fn.copy(share_memory=False)

        def expand(x, **_shared):
            values = fn(x)
            return {
                name: np.array(value, dtype="float64").reshape(shape)
                for name, value, shape in zip(names, values, shapes, strict=True)
            }

        return expand

    dims, coords = prepare_dims(model, shape_info, reparam)
    return from_pyfunc(
        ndim=n_dim,
        make_logp_fn=make_logp_fn,
        make_expand_fn=make_expand_fn,
        make_initial_point_fn=initial_point_fn,
        expanded_dtypes=[np.dtype("float64")] * len(names),
        expanded_shapes=shapes,
        expanded_names=names,
        dims=dims,
        coords=coords,
        reparameterized_names=reparam,
    )
