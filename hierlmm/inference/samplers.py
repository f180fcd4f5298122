"""Run NUTS on a built model with the chosen backend; return a DataTree and timings.

``"nutpie"`` (default) compiles the model with numba and samples in Rust; ``"pymc"``
uses PyMC's own NUTS; ``"numpyro"`` and ``"blackjax"`` go through PyMC's JAX bridge and
need the ``jax`` extra.
"""

from __future__ import annotations

import importlib.util
import time
import warnings
from dataclasses import dataclass

import pymc as pm
import xarray as xr

from hierlmm.errors import FitError, SpecError
from hierlmm.inference.pyfunc_backend import compile_pyfunc_model


@dataclass(frozen=True)
class SamplerSettings:
    """NUTS settings shared by every backend."""

    draws: int
    tune: int
    chains: int
    seed: int
    progress: bool
    target_accept: float


def _check_backend(sampler: str) -> None:
    if sampler in ("numpyro", "blackjax"):
        for module in ("jax", sampler):
            if importlib.util.find_spec(module) is None:
                raise SpecError(
                    f'sampler="{sampler}" needs the JAX extra: pip install "hierlmm[jax]"; '
                    'or use sampler="nutpie"'
                )


def _sample_nutpie(
    model: pm.Model, settings: SamplerSettings, var_names: list[str], python_callback: bool
) -> tuple[xr.DataTree, dict[str, float]]:
    import nutpie

    start = time.perf_counter()
    if python_callback:
        compiled = compile_pyfunc_model(model, var_names=var_names, mode="NUMBA")
    else:
        compiled = nutpie.compile_pymc_model(model, var_names=var_names)
    compiled_at = time.perf_counter()
    tree = nutpie.sample(
        compiled,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        seed=settings.seed,
        progress_bar=settings.progress,
        target_accept=settings.target_accept,
        save_warmup=False,
        # Python callbacks hold the GIL: parallel chains would only contend for it.
        cores=1 if python_callback else None,
    )
    done = time.perf_counter()
    return tree, {"compile_s": compiled_at - start, "sample_s": done - compiled_at}


def _sample_pymc_api(
    model: pm.Model, settings: SamplerSettings, var_names: list[str], backend: str
) -> tuple[xr.DataTree, dict[str, float]]:
    start = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, message=".*[Ee]xperimental.*")
        tree = pm.sample(
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
    # PyMC compiles inside pm.sample; its time is counted as sampling here.
    return tree, {"compile_s": 0.0, "sample_s": time.perf_counter() - start}


def run_sampler(
    model: pm.Model,
    *,
    sampler: str,
    settings: SamplerSettings,
    var_names: list[str],
    python_callback: bool = False,
) -> tuple[xr.DataTree, dict[str, float]]:
    """Sample ``model``; return the DataTree (posterior, sample_stats) and timings.

    Parameters
    ----------
    model : pm.Model
    sampler : {"nutpie", "pymc", "numpyro", "blackjax"}
    settings : SamplerSettings
    var_names : list of str
        Variables to keep in the posterior.
    python_callback : bool
        nutpie only: compile the log-density with PyTensor's cached linker and call it
        from Python (see :mod:`hierlmm.inference.pyfunc_backend`) instead of numba's
        per-process C callback; right for models with few parameters.
    """
    _check_backend(sampler)
    try:
        if sampler == "nutpie":
            return _sample_nutpie(model, settings, var_names, python_callback)
        return _sample_pymc_api(model, settings, var_names, sampler)
    except (RuntimeError, ValueError) as exc:
        raise FitError(f"sampler {sampler!r} failed: {exc}".splitlines()[0]) from exc
