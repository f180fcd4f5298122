"""Sample with nutpie and read its raw Arrow trace straight into numpy.

nutpie's default result conversion (Arrow -> ArviZ DataTree, with a package-metadata
lookup per call) cost about as much as sampling this small model itself. A batch needs
only the kept scalar variables after warm-up and the divergence count, so this module
asks nutpie for its raw trace (``return_raw_trace=True``, public) and converts just those
columns: a few milliseconds per outcome.
"""

from __future__ import annotations

import time

import numpy as np
import pyarrow
import xarray as xr

from hierlmm.errors import FitError
from hierlmm.inference.samplers import CompiledModel, SamplerSettings


def _column(batch, name: str) -> tuple[np.ndarray, list[str]]:
    col = batch.column(name)
    meta = col.field.metadata
    shape = [int(s) for s in meta.get(b"shape", b"").decode().split(",") if s]
    dims = [d for d in meta.get(b"dims", b"").decode().split(",") if d]
    values = pyarrow.array(col)
    if hasattr(values, "flatten"):
        values = values.flatten()
    return values.to_numpy(False).reshape((batch.num_rows, *shape)), dims


def _flag(batch, name: str) -> np.ndarray:
    return np.asarray(pyarrow.array(batch.column(name)).to_numpy(False), dtype=bool)


def raw_to_posterior(
    draw_batches: list, stat_batches: list, var_names: list[str],
    coords: dict[str, list[str]],
) -> tuple[xr.Dataset, int]:
    """Posterior draws after warm-up as a Dataset ``(chain, draw, ...)``, and divergences."""
    arrays: dict[str, list[np.ndarray]] = {name: [] for name in var_names}
    dims: dict[str, list[str]] = {}
    divergences = 0
    for draws, stats in zip(draw_batches, stat_batches, strict=True):
        kept = ~_flag(stats, "tuning")
        divergences += int(_flag(stats, "diverging")[kept].sum())
        for name in var_names:
            values, dims[name] = _column(draws, name)
            arrays[name].append(values[kept])
    data = {name: (("chain", "draw", *dims[name]), np.stack(arrays[name]))
            for name in var_names}
    used = {d for name in var_names for d in dims[name]}
    return xr.Dataset(data, coords={k: v for k, v in coords.items() if k in used}), divergences


def sample_raw(
    entry: CompiledModel, inputs: dict[str, np.ndarray], settings: SamplerSettings,
    var_names: list[str], coords: dict[str, list[str]],
) -> tuple[xr.Dataset, int, float]:
    """Sample ``entry`` on ``inputs`` with nutpie; posterior, divergences and seconds."""
    import nutpie

    start = time.perf_counter()
    try:
        with entry.lock:
            compiled = entry.with_inputs(inputs)
            raw = nutpie.sample(
                compiled, draws=settings.draws, tune=settings.tune, chains=settings.chains,
                seed=settings.seed, progress_bar=False, target_accept=settings.target_accept,
                save_warmup=False, return_raw_trace=True,
                cores=1 if entry.backend == "nutpie-python" else settings.cores,
            )
    except (RuntimeError, ValueError) as exc:
        raise FitError(f"sampler {entry.backend!r} failed: {exc}".splitlines()[0]) from exc
    posterior, divergences = raw_to_posterior(*raw.get_arrow_trace(), var_names, coords)
    return posterior, divergences, time.perf_counter() - start
