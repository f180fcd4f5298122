"""Hand a PyMC model to nutpie through Python callbacks (public APIs only).

nutpie's default numba backend wraps the log-density in a C callback that numba compiles
from scratch in every process (10-30 s here, most of a small model's wall time). The
collapsed engine's log-density has few parameters and is cheap to call, so hierlmm
instead compiles it with PyTensor's own linker (its compiled code is cached on disk
across processes) and lets nutpie's Rust sampler call it from Python through
``nutpie.compiled_pyfunc.from_pyfunc``: a few tens of microseconds per gradient, no
per-process JIT.

The functions read the model's data containers (shared variables), so after
``pm.set_data`` on the model the same compiled functions evaluate the new data. All
chains call the same compiled functions, one call at a time (:class:`SerialFunction`):
PyTensor functions hold their input and output storage, and a private copy per chain
would link the whole graph again (about 0.4 s each) for no gain, as the callbacks hold
the GIL. The rewritten graphs are also kept on disk (:mod:`.graph_cache`), so a new
process skips PyTensor's graph rewrites.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from math import prod

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc.initial_point import make_initial_point_fn
from pymc.pytensorf import compile as compile_pymc
from pytensor.compile.builders import OpFromGraph
from pytensor.compile.rewriting import inline_ofg_node
from pytensor.graph import clone_replace
from pytensor.graph.traversal import apply_ancestors

from hierlmm._pytensor_setup import configure
from hierlmm.inference import graph_cache


class SerialFunction:
    """A compiled PyTensor function that several threads may call, one call at a time.

    PyTensor functions keep their input and output storage on the function object, so two
    overlapping calls would mix their values. nutpie calls one callback per chain, and
    the chains' calls hold the GIL anyway, so a lock costs nothing in throughput while
    a private copy per chain would link the whole graph again (about 0.4 s each).

    Parameters
    ----------
    function : pytensor Function
    """

    def __init__(self, function: pytensor.compile.Function) -> None:
        self.function = function
        # this class passes contiguous float64 vectors: PyTensor's input checks (about
        # 15 us a call, a fifth of a small model's gradient) can go
        function.trust_input = True
        self._lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        """``function(x)`` with the outputs copied out of the function's storage.

        Parameters
        ----------
        x : ndarray, shape (ndim,)
        """
        x = np.ascontiguousarray(x, dtype=np.float64)
        with self._lock:
            return [np.array(value, dtype="float64") for value in self.function(x)]


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
    serial_logp, serial_expand : SerialFunction
        ``logp_dlogp`` and ``expand`` behind a lock, for the chains' callbacks.
    logp : pytensor Function or None
        ``x (ndim,) -> [logp ()]`` without the gradient (compiled on request).
    slots : dict of str to (int, int)
        Where each value variable lies in ``x``: ``x[start:stop]``.
    """

    logp_dlogp: pytensor.compile.Function
    expand: pytensor.compile.Function
    initial_point: Callable[[int], np.ndarray]
    names: list[str]
    shapes: list[tuple[int, ...]]
    dims: dict[str, tuple[str, ...]]
    ndim: int
    serial_logp: SerialFunction
    serial_expand: SerialFunction
    logp: pytensor.compile.Function | None = None
    slots: dict[str, tuple[int, int]] = field(default_factory=dict)


def _flat_initial_point(model: pm.Model, value_names: list[str]) -> Callable[[int], np.ndarray]:
    """PyMC's jittered initial point, flat; its function is compiled at the first call
    (~0.5 s; the independence sampler starts its optimiser elsewhere and never needs it)."""
    lock = threading.Lock()
    point_fn: list[Callable] = []

    def initial_point(seed: int) -> np.ndarray:
        with lock:
            if not point_fn:
                point_fn.append(make_initial_point_fn(
                    model=model, jitter_rvs=set(model.free_RVs), return_transformed=True))
            point = point_fn[0](seed)
        return np.concatenate([np.ravel(point[name]) for name in value_names]).astype("float64")

    return initial_point


def compile_density(
    model: pm.Model, *, var_names: Iterable[str], mode: str = "NUMBA",
    cache_key: object | None = None, with_value: bool = False,
) -> PyFuncDensity:
    """Compile ``model``'s log-density with its gradient, and the kept variables.

    Parameters
    ----------
    model : pm.Model
    var_names : iterable of str
        Variables (free or deterministic) to store in the trace.
    mode : str
        PyTensor compile mode.
    cache_key : object, optional
        The model's structure key: the rewritten graphs are kept on disk under it and a
        later process loads them instead of building and rewriting them again
        (:mod:`hierlmm.inference.graph_cache`); None compiles without that cache.
    with_value : bool
        Also compile the log-density alone (``PyFuncDensity.logp``), with every Op that
        offers a cheaper value-only form (``op.value_only()``) swapped for it.
    """
    configure()  # registers hierlmm's PyTensor modes
    var_names = list(var_names)
    kind = "pyfunc+value" if with_value else "pyfunc"
    key = None if cache_key is None else (cache_key, tuple(var_names), kind)
    shared = graph_cache.model_shared(model)
    cached = None if key is None else graph_cache.load(key, mode, shared)
    if cached is None:
        functions, meta = _compile_graphs(model, var_names, mode, with_value)
        if key is not None:
            graph_cache.store(key, mode, functions, meta)
    else:
        functions, meta = cached
    logp_dlogp, expand, *value = functions
    initial_point = _flat_initial_point(model, [v.name for v in model.value_vars])
    x0 = np.zeros(meta["ndim"])  # any point: shapes, and a first call to warm the functions
    shapes = [np.shape(value) for value in expand(x0)]
    for function in (logp_dlogp, *value):  # a cold numba cache compiles on the first call:
        function(x0)  # count it as compile time
    wanted = set(var_names)
    dims = {k: tuple(v) for k, v in model.named_vars_to_dims.items() if k in wanted}
    return PyFuncDensity(logp_dlogp, expand, initial_point, meta["names"], shapes, dims,
                         meta["ndim"], SerialFunction(logp_dlogp), SerialFunction(expand),
                         value[0] if value else None,
                         {k: tuple(v) for k, v in meta.get("slots", {}).items()})


def _value_only(value: pt.TensorVariable) -> pt.TensorVariable:
    """``value`` with every node whose Op offers ``value_only()`` (an Op computing its
    first output without the gradient outputs) replaced by that Op."""
    replacements = {
        node.outputs[0]: node.op.value_only()(*node.inputs)
        for node in apply_ancestors([value]) if hasattr(node.op, "value_only")
    }
    return clone_replace(value, replacements) if replacements else value


def _inlined(outputs: list) -> list:
    """``outputs`` with every ``OpFromGraph`` node replaced by its inner graph.

    An ``OpFromGraph`` (e.g. PyTensor's ``Pad``, which PyMC's correlation transform
    uses) runs one compiled inner function kept on the Op itself, so copies of a compiled
    function (``Function.copy()``, one per sampler thread) would share that inner
    function's storage and corrupt each other's values when called at once.
    """
    while True:
        node = next((n for n in apply_ancestors(outputs) if isinstance(n.op, OpFromGraph)),
                    None)
        if node is None:
            return outputs
        outputs = clone_replace(outputs, dict(zip(node.outputs, inline_ofg_node(node),
                                                  strict=True)))


def _compile_graphs(
    model: pm.Model, var_names: list[str], mode: str, with_value: bool = False,
) -> tuple[list, dict]:
    """Build and compile ``[logp_dlogp, expand]`` (and ``logp``) of ``model`` on one flat
    point.

    Returns the functions and ``{"ndim": int, "names": kept variable names}``.
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
    wanted = set(var_names)
    kept = [v for v in model.unobserved_value_vars if v.name in wanted]
    logp, *kept = _inlined([model.logp(), *kept])
    grad = pt.concatenate([g.ravel() for g in pt.grad(logp, value_vars)])
    names = [v.name for v in kept]
    logp, grad, *kept = clone_replace([logp, grad, *kept], replacements)
    with model:
        functions = [compile_pymc([joined], [logp, grad], mode=mode),
                     compile_pymc([joined], kept, mode=mode)]
        if with_value:
            functions.append(compile_pymc([joined], [_value_only(logp)], mode=mode))
    slots = {v.name: (int(offsets[k]), int(offsets[k + 1])) for k, v in enumerate(value_vars)}
    return functions, {"ndim": ndim, "names": names, "slots": slots}


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
        def logp(x, **_shared):
            value, grad = density.serial_logp(x)
            return float(value), grad

        return logp

    def make_expand_fn(seed1, seed2, chain) -> Callable:
        def expand(x, **_shared):
            values = density.serial_expand(x)
            return {name: value.reshape(shape) for name, value, shape
                    in zip(density.names, values, density.shapes, strict=True)}

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
