"""Hand a PyMC model to nutpie through Python callbacks (public APIs only).

nutpie's default numba backend wraps the log-density in a C callback that numba compiles
from scratch in every process (10-30 s here, most of a small model's wall time). The
collapsed engine's log-density has few parameters and is cheap to call, so hierlmm
instead compiles it with PyTensor's own linker (its compiled code is cached on disk
across processes) and lets nutpie's Rust sampler call it from Python through
``nutpie.compiled_pyfunc.from_pyfunc``: a few tens of microseconds per gradient, no
per-process JIT.

The functions read the model's data containers (shared variables), so after
``pm.set_data`` on the model the same compiled functions evaluate the new data. Each
chain gets its own copy of the compiled functions (PyTensor functions hold their input
and output storage and are not safe to call from several threads at once); copies share
the data containers. Making a copy links the whole graph again (about 0.4 s), so copies
are pooled: a chain takes one from the pool, and once nutpie has released the chain's
callback the next fit of the same compiled model (same design shape, new data) reuses
it.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from math import prod

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc.initial_point import make_initial_point_fn
from pymc.pytensorf import compile as compile_pymc
from pytensor.graph import clone_replace


class FunctionPool:
    """Thread-safe pool of private copies of one compiled PyTensor function.

    A copy is lent to a borrower (one chain's callback) and is free again once the
    borrower has been garbage-collected; nothing runs at collection time (no finalizer a
    Ctrl-C could interrupt), the next :meth:`lend` simply finds the copy free.

    Parameters
    ----------
    function : pytensor Function
        The compiled function; copies share its data containers (shared variables).
    """

    def __init__(self, function: pytensor.compile.function.types.Function) -> None:
        self._function = function
        self._copies: list[list] = []  # [copy, weak reference to its borrower]
        self._lock = threading.Lock()

    @property
    def copies_made(self) -> int:
        """How many copies this pool has made (lent or free)."""
        return len(self._copies)

    def lend(self, borrower: object):
        """A copy of the function that no live borrower holds, now held by ``borrower``."""
        with self._lock:
            for entry in self._copies:
                if entry[1]() is None:
                    entry[1] = weakref.ref(borrower)
                    return entry[0]
        copy = self._function.copy(share_memory=False)
        with self._lock:
            self._copies.append([copy, weakref.ref(borrower)])
        return copy


class _Borrower:
    """A weak-referenceable token whose lifetime is that of one chain's callback."""


@dataclass(frozen=True)
class PyFuncDensity:
    """Compiled log-density, gradient and trace expansion of a model.

    Attributes
    ----------
    logp_dlogp : pytensor Function
        ``x (ndim,) -> (logp (), grad (ndim,))`` on the unconstrained space.
    expand : pytensor Function
        ``x (ndim,) -> [one array per kept variable]``.
    initial_point : callable
        ``seed -> x (ndim,)``: PyMC's jittered support point, flattened.
    names, shapes : list
        Kept variables and their shapes.
    dims : dict of str to tuple of str
    ndim : int
    logp_pool, expand_pool : FunctionPool
        Per-chain copies of ``logp_dlogp`` and ``expand``, reused across fits.
    """

    logp_dlogp: pytensor.compile.function.types.Function
    expand: pytensor.compile.function.types.Function
    initial_point: Callable[[int], np.ndarray]
    names: list[str]
    shapes: list[tuple[int, ...]]
    dims: dict[str, tuple[str, ...]]
    ndim: int
    logp_pool: FunctionPool
    expand_pool: FunctionPool


def _flat_initial_point(model: pm.Model, value_names: list[str]) -> Callable[[int], np.ndarray]:
    point_fn = make_initial_point_fn(
        model=model, jitter_rvs=set(model.free_RVs), return_transformed=True
    )
    lock = threading.Lock()

    def initial_point(seed: int) -> np.ndarray:
        with lock:
            point = point_fn(seed)
        return np.concatenate([np.ravel(point[name]) for name in value_names]).astype("float64")

    return initial_point


def compile_density(
    model: pm.Model, *, var_names: Iterable[str], mode: str = "NUMBA"
) -> PyFuncDensity:
    """Compile ``model``'s log-density with its gradient, and the kept variables.

    Parameters
    ----------
    model : pm.Model
    var_names : iterable of str
        Variables (free or deterministic) to store in the trace.
    mode : str
        PyTensor compile mode.
    """
    start = model.initial_point()
    value_vars = model.value_vars
    value_shapes = [np.shape(start[v.name]) for v in value_vars]
    sizes = [int(prod(s)) for s in value_shapes]
    ndim = int(sum(sizes))
    joined = pt.TensorType("float64", shape=(ndim,))("unconstrained_point")
    offsets = np.cumsum([0, *sizes])
    replacements = {
        v: joined[offsets[k] : offsets[k + 1]].reshape(shape).astype(v.dtype)
        for k, (v, shape) in enumerate(zip(value_vars, value_shapes, strict=True))
    }
    logp = model.logp()
    grad = pt.concatenate([g.ravel() for g in pt.grad(logp, value_vars)])
    wanted = set(var_names)
    kept = [v for v in model.unobserved_value_vars if v.name in wanted]
    logp, grad, *kept = clone_replace([logp, grad, *kept], replacements)
    with model:
        logp_dlogp = compile_pymc([joined], [logp, grad], mode=mode)
        expand = compile_pymc([joined], kept, mode=mode)
    x0 = np.concatenate([np.ravel(start[v.name]) for v in value_vars]).astype("float64")
    names = [v.name for v in model.unobserved_value_vars if v.name in wanted]
    shapes = [np.shape(value) for value in expand(x0)]
    logp_dlogp(x0)  # a cold numba cache compiles on the first call: count it as compile time
    dims = {k: tuple(v) for k, v in model.named_vars_to_dims.items() if k in wanted}
    initial_point = _flat_initial_point(model, [v.name for v in value_vars])
    return PyFuncDensity(logp_dlogp, expand, initial_point, names, shapes, dims, ndim,
                         FunctionPool(logp_dlogp), FunctionPool(expand))


def nutpie_model(density: PyFuncDensity, coords: dict[str, list]):
    """The nutpie compiled model (``PyFuncModel``) over ``density``.

    Parameters
    ----------
    density : PyFuncDensity
    coords : dict of str to list
        Coordinates of every dim named in ``density.dims``.
    """
    from nutpie.compiled_pyfunc import from_pyfunc

    def make_logp_fn() -> Callable:
        token = _Borrower()
        fn = density.logp_pool.lend(token)

        def logp(x, **_shared):
            value, grad = fn(x)
            return float(value), np.array(grad, dtype="float64")

        logp.token = token  # the copy goes back to the pool when nutpie drops ``logp``
        return logp

    def make_expand_fn(seed1, seed2, chain) -> Callable:
        token = _Borrower()
        fn = density.expand_pool.lend(token)

        def expand(x, **_shared):
            return {
                name: np.array(value, dtype="float64").reshape(shape)
                for name, value, shape in zip(density.names, fn(x), density.shapes, strict=True)
            }

        expand.token = token
        return expand

    return from_pyfunc(
        ndim=density.ndim,
        make_logp_fn=make_logp_fn,
        make_expand_fn=make_expand_fn,
        make_initial_point_fn=density.initial_point,
        expanded_dtypes=[np.dtype("float64")] * len(density.names),
        expanded_shapes=density.shapes,
        expanded_names=density.names,
        dims=density.dims,
        coords={k: list(v) for k, v in coords.items()},
    )
