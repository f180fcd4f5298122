"""Compile a model once per structure and run NUTS on it with the chosen backend.

``"nutpie"`` samples in Rust, calling either a PyTensor-compiled log-density from Python
(:mod:`hierlmm.inference.pyfunc`, for cheap log-densities) or nutpie's numba C callback;
``"pymc"`` uses PyMC's own NUTS; ``"numpyro"`` and ``"blackjax"`` go through PyMC's JAX
bridge and need the ``jax`` extra. ``"independence"`` is not NUTS: independence
Metropolis-Hastings from a Laplace-fitted t (:mod:`hierlmm.inference.independence`), one
log-density value per draw, for collapsed models whose every evaluation is costly.
``"auto"`` (the default of :func:`hierlmm.fit`) lets the engine choose
(:meth:`hierlmm.engines.base.Engine.choose_sampler`).

**Compile once per design shape.** Every array a model reads is a data container, so a
compiled model is kept in a small in-process cache keyed by the engine's structure key
(:meth:`hierlmm.engines.base.Engine.structure_key`). A second fit with another response,
or other data of the same shapes, sets the new data (``pm.set_data``; nutpie's
``with_data``) and samples without compiling again. The cache holds at most
:data:`CACHE_SIZE` models; a lock per entry serialises fits that share one.
"""

from __future__ import annotations

import importlib.util
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr

from hierlmm.engines.base import IndependenceSettings
from hierlmm.errors import FitError, SpecError
from hierlmm.inference.independence import (
    WARMUP_MAX,
    Evaluator,
    ExactBlock,
    sample_independence,
    split_evaluations,
    to_datatree,
    warmup_per_chain,
)
from hierlmm.inference.pyfunc import (
    PyFuncDensity,
    SerialFunction,
    compile_density,
    nutpie_model,
)

CACHE_SIZE = 16


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings shared by every backend."""

    draws: int
    tune: int
    chains: int
    seed: int
    progress: bool
    target_accept: float
    cores: int | None = None  # threads for the numba backend's chains (None: all cores)


@dataclass
class CompiledModel:
    """A model compiled for one backend, reusable with new data of the same shapes.

    Attributes
    ----------
    model : pm.Model
    backend : {"nutpie-python", "nutpie-numba", "pymc", "numpyro", "blackjax", "independence"}
    compiled : object or None
        nutpie's compiled model, the :class:`PyFuncDensity` of the independence sampler,
        or None for PyMC's API (which compiles inside ``pm.sample``).
    lock : threading.Lock
    """

    model: pm.Model
    backend: str
    compiled: Any = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def with_inputs(self, inputs: dict[str, np.ndarray]) -> Any:
        """Point the model (and nutpie's copy) at ``inputs``; return what to sample."""
        pm.set_data(inputs, model=self.model)  # also read by the initial-point functions
        if self.backend != "nutpie-numba":
            return self.compiled
        known = {var.name for var in self.compiled.shared_var_keys}
        return self.compiled.with_data(**{k: v for k, v in inputs.items() if k in known})


_CACHE: OrderedDict[tuple, CompiledModel] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_COMPILES = [0]  # models compiled in this process (cache misses), see compile_count()


def compile_count() -> int:
    """How many models this process has compiled (cache misses) since it started."""
    return _COMPILES[0]


def clear_cache() -> None:
    """Forget every compiled model (the next fit of each structure compiles again)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def check_sampler(sampler: str) -> None:
    """Raise :class:`SpecError` if the sampler's optional dependencies are missing."""
    if sampler in ("numpyro", "blackjax"):
        for module in ("jax", sampler):
            if importlib.util.find_spec(module) is None:
                raise SpecError(
                    f'sampler="{sampler}" needs the JAX extra: pip install "hierlmm[jax]"; '
                    'or use sampler="nutpie"'
                )


def backend_for(sampler: str, python_callback: bool) -> str:
    """The backend a (resolved, not ``"auto"``) sampler name and the engine's preference
    select."""
    if sampler != "nutpie":
        return sampler
    return "nutpie-python" if python_callback else "nutpie-numba"


def _compile(model: pm.Model, backend: str, var_names: list[str], key: tuple,
             mode: str) -> CompiledModel:
    if backend == "nutpie-python":
        density = compile_density(model, var_names=var_names, cache_key=key, mode=mode)
        compiled = nutpie_model(density, model.coords)
    elif backend == "independence":
        compiled = compile_density(model, var_names=var_names, cache_key=key, mode=mode,
                                   with_value=True)
    elif backend == "nutpie-numba":
        import nutpie  # imported here: with arviz and matplotlib, ~1 s

        compiled = nutpie.compile_pymc_model(model, var_names=var_names)
    else:
        compiled = None
    return CompiledModel(model=model, backend=backend, compiled=compiled)


def compiled_model(
    key: tuple, build: Callable[[], pm.Model], *, backend: str, var_names: list[str],
    mode: str = "NUMBA",
) -> tuple[CompiledModel, float]:
    """The cached compiled model of ``key``, compiling it on a miss.

    Parameters
    ----------
    key : tuple
        Structure key of the model (plus nothing that varies with the data).
    build : callable
        Builds the ``pm.Model`` on a miss.
    backend : str
        From :func:`backend_for`.
    var_names : list of str
        Variables to keep in the trace.
    mode : str
        PyTensor mode of the Python-callback and independence backends' functions
        (:meth:`hierlmm.engines.base.Engine.compile_mode`).

    Returns
    -------
    CompiledModel
    compile_s : float
        Seconds spent building and compiling (near zero on a hit).
    """
    start = time.perf_counter()
    full_key = (backend, mode, tuple(var_names), key)
    with _CACHE_LOCK:
        entry = _CACHE.get(full_key)
        if entry is not None:
            _CACHE.move_to_end(full_key)
            return entry, time.perf_counter() - start
    entry = _compile(build(), backend, var_names, full_key, mode)
    with _CACHE_LOCK:
        _COMPILES[0] += 1
        _CACHE[full_key] = entry
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return entry, time.perf_counter() - start


def _sample_nutpie(compiled: Any, settings: SamplerSettings, backend: str) -> xr.DataTree:
    import nutpie

    return nutpie.sample(
        compiled,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        seed=settings.seed,
        progress_bar=settings.progress,
        target_accept=settings.target_accept,
        save_warmup=False,
        # Python callbacks hold the GIL: parallel chains would only contend for it.
        cores=1 if backend == "nutpie-python" else settings.cores,
    )


def _exact_block(density: PyFuncDensity, exact: Any,
                 expand: Callable | None = None) -> ExactBlock | None:
    """The engine's exact conditional (:meth:`Engine.exact_conditional`) on ``x``, read
    through ``expand`` (default: the density's shared, locked expansion)."""
    if exact is None or exact.name not in density.slots:
        return None
    start, stop = density.slots[exact.name]
    expand = density.serial_expand if expand is None else expand

    def conditional(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return exact(dict(zip(density.names, expand(x), strict=True)))

    return ExactBlock(np.arange(start, stop), conditional)


def _extra_evaluators(density: PyFuncDensity, exact: Any, threads: int) -> list[Evaluator]:
    """``threads - 1`` evaluators with their own copies of the compiled value and
    expansion functions (a copy shares the compiled code; ~10 ms each)."""
    out = []
    for _ in range(threads - 1):
        expand = SerialFunction(density.expand.copy())
        out.append(Evaluator(density.logp.copy(), _exact_block(density, exact, expand),
                             SerialFunction(density.logp_dlogp.copy())))
    return out


def _sample_independence(
    density: PyFuncDensity, settings: SamplerSettings, coords: dict, exact: Any,
    options: IndependenceSettings,
) -> xr.DataTree:
    from threadpoolctl import threadpool_limits

    from hierlmm.inference.progress import progress_bar

    block = _exact_block(density, exact)
    d_free = density.ndim - (0 if block is None else block.index.size)
    warmup = warmup_per_chain(d_free, settings.chains, settings.tune, options.warmup)
    steps = settings.draws * options.thin
    total = split_evaluations(d_free, options.probes) + settings.chains * (steps + warmup)
    # one BLAS thread: OpenBLAS's second thread made the Schur complement's products
    # and Cholesky erratic here (sim300x300: 32-160 ms a factorisation, 32 ms on one);
    # expensive log-densities run on several threads instead (proposals side by side)
    with progress_bar(settings.progress, total, "log-densities") as tick, \
            threadpool_limits(1, user_api="blas"):
        run = sample_independence(
            # the optimiser starts at the origin of the unconstrained scale (standardised
            # data: unit SDs and sigma, zero effects and correlations), not at PyMC's
            # jittered initial point, whose function costs ~0.5 s to compile
            density.serial_logp, density.logp, np.zeros(density.ndim),
            draws=settings.draws, tune=settings.tune, chains=settings.chains,
            seed=settings.seed, tick=tick, exact=block, warmup=options.warmup,
            extra=_extra_evaluators(density, exact, options.threads), probes=options.probes,
            thin=options.thin,
        )
    return to_datatree(run, density.expand, density.names, density.shapes, density.dims,
                       coords)


def _sample_pymc_api(
    model: pm.Model, settings: SamplerSettings, var_names: list[str], backend: str
) -> xr.DataTree:
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, message=".*[Ee]xperimental.*")
        return pm.sample(
            draws=settings.draws,
            tune=settings.tune,
            chains=settings.chains,
            cores=1,
            random_seed=settings.seed,
            progressbar=settings.progress,
            nuts_sampler=backend,
            target_accept=settings.target_accept,
            var_names=var_names,
            compute_convergence_checks=False,
        )


def run_sampler(
    entry: CompiledModel,
    *,
    inputs: dict[str, np.ndarray],
    settings: SamplerSettings,
    var_names: list[str],
    exact: Any = None,
    independence: IndependenceSettings | None = None,
) -> tuple[xr.DataTree, float]:
    """Sample ``entry``'s model on ``inputs``; return the DataTree and seconds taken.

    PyMC's own samplers compile inside ``pm.sample``; that time counts as sampling.
    ``exact`` is the engine's exact conditional block and ``independence`` its settings
    for the independence sampler (only used by it; default: :data:`WARMUP_MAX` warm-up
    proposals a chain, one thread, a plain t; see
    :meth:`hierlmm.engines.base.Engine.independence_settings`).
    """
    start = time.perf_counter()
    try:
        with entry.lock:
            compiled = entry.with_inputs(inputs)
            if entry.backend.startswith("nutpie"):
                tree = _sample_nutpie(compiled, settings, entry.backend)
            elif entry.backend == "independence":
                options = independence or IndependenceSettings(WARMUP_MAX)
                tree = _sample_independence(compiled, settings, entry.model.coords, exact,
                                            options)
            else:
                tree = _sample_pymc_api(entry.model, settings, var_names, entry.backend)
    except (RuntimeError, ValueError) as exc:
        raise FitError(f"sampler {entry.backend!r} failed: {exc}".splitlines()[0]) from exc
    return tree, time.perf_counter() - start
