"""``hierlmm.fit_many``: one model, many outcomes, compiled once per worker process."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hierlmm.errors import SpecError
from hierlmm.families import get_family
from hierlmm.inference.fit import _as_spec, _check_counts, _check_seed
from hierlmm.inference.progress import progress_bar
from hierlmm.many import jaxpath
from hierlmm.many.executors import check_executor, default_workers, run_tasks
from hierlmm.many.labels import parameter_labels
from hierlmm.many.outcomes import resolve_outcomes
from hierlmm.many.partition import components
from hierlmm.many.result import ManyFits, assemble
from hierlmm.many.seeds import outcome_seeds
from hierlmm.many.store import ChunkStore
from hierlmm.many.worker import BatchSettings, ChunkResult, Task, base_design
from hierlmm.options import Engine as EngineName
from hierlmm.options import check_option
from hierlmm.spec.schema import ModelSpec

NUMBA_MIN_PER_WORKER = 20  # outcomes per worker above which a compiled sampler pays off
BACKENDS = {"auto": None, "numba": "nutpie-numba", "python": "nutpie-python", "jax": "jax"}


def _backend(backend: str, per_worker: float) -> str:
    if backend not in BACKENDS:
        raise SpecError(f"backend={backend!r} must be one of {sorted(BACKENDS)}")
    if backend == "jax" and not jaxpath.available():
        raise SpecError('backend="jax" needs jax and blackjax: pip install jax blackjax; '
                        'or use backend="auto"')
    if backend == "auto":
        if per_worker < NUMBA_MIN_PER_WORKER:
            return "nutpie-python"
        return "jax" if jaxpath.available() else "nutpie-numba"
    return BACKENDS[backend]


def _default_chunk(m: int, workers: int, backend: str) -> int:
    """About 4 tasks per worker, at most 50 outcomes; whole JAX batches for ``"jax"``."""
    size = min(50, max(1, math.ceil(m / (4 * workers))))
    if backend == "jax":
        batch = jaxpath.BATCH_OUTCOMES
        size = batch * max(1, math.ceil(size / batch)) if m > batch else size
    return size


def _check_min_ess(min_ess: float | None) -> float | None:
    if min_ess is not None and (isinstance(min_ess, bool)
                            or not (isinstance(min_ess, int | float) and min_ess > 0)):
        raise SpecError(f"min_ess must be a positive number or None, got {min_ess!r}")
    return None if min_ess is None else float(min_ess)


def _chunks(indices: np.ndarray, size: int) -> list[np.ndarray]:
    return [indices[i:i + size] for i in range(0, len(indices), size)]


def fit_many(
    formula_or_spec: str | ModelSpec,
    data: pd.DataFrame,
    outcomes: object,
    *,
    draws: int = 500,
    tune: int = 500,
    chains: int = 4,
    seed: int | None = None,
    engine: EngineName = "auto",
    executor: object = None,
    workers: int | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    store: str | Path | None = None,
    keep_draws: bool = False,
    backend: str = "auto",
    target_accept: float = 0.9,
    min_ess: float | None = 400.0,
) -> ManyFits:
    """Fit one mixed model to many outcomes sharing the same rows.

    The formula's response is a **placeholder**: ``"y ~ Days + (Days | Subject)"`` names
    no column; each outcome takes its place in turn (any name works; a column of
    ``data`` with that name is ignored).

    Parameters
    ----------
    formula_or_spec : str or ModelSpec
    data : pandas.DataFrame, shape (n, k)
        The rows: grouping factors and covariates.
    outcomes : list of str, pandas.DataFrame (n, m) or ndarray (n, m)
        Column names of ``data``, or responses aligned with ``data``'s rows.
    draws, tune, chains : int
    seed : int, optional
        Batch seed; outcome ``j`` is sampled with
        :func:`hierlmm.many.seeds.outcome_seed` ``(seed, j)``, whatever the chunking or
        the number of workers.
    engine : {"auto", "collapsed", "sampled", "quadrature"}
    executor : {None, "serial", "processes"}, dask.distributed.Client or str
        None: local processes, one per core. A string with ``://`` is a Dask scheduler
        address. Each worker process compiles once per design shape.
    workers : int, optional
        Local processes (default: one per core).
    chunk_size : int, optional
        Outcomes per task (default: about 4 tasks per worker, at most 50 outcomes; with
        ``backend="jax"`` rounded up to whole batches of ``BATCH_OUTCOMES``).
    progress : bool
        A progress bar counting outcomes.
    store : path, optional
        Zarr store: each finished chunk is written at once, and a rerun with the same
        store and settings skips them (resume after an interruption).
    keep_draws : bool
        Keep the scalar draws: ``m * chains * draws * P * 4`` bytes. Otherwise only
        summaries are kept, whatever the draws: at most about ``m * P * 1000`` bytes in
        this process at its peak (the tables are built at the end; measured: 10,000
        outcomes with P = 6 took 62 MB more than 1,000 did, 487 against 425 MB), plus
        under 1 GB per worker process whatever ``m``.
    backend : {"auto", "numba", "python", "jax"}
        nutpie's numba C callback (a slower compile per process, faster sampling) or the
        PyTensor log-density called from Python; ``"auto"`` picks, from 20
        outcomes per worker, ``"jax"`` when jax and blackjax are installed, else numba.
        ``"jax"`` (optional: needs ``jax`` and ``blackjax``)
        samples :data:`hierlmm.many.jaxpath.BATCH_OUTCOMES` outcomes x ``chains`` at once
        with vmapped blackjax NUTS and per-chain window adaptation (one trace and XLA
        compile per process; tested on the Gaussian collapsed model only; runs on a GPU when
        JAX sees one). Its draws differ from nutpie's (another sampler) and agree in
        Monte Carlo error.
    target_accept : float
    min_ess : float or None
        An outcome whose min bulk ESS falls below this is sampled once more with a
        seed derived from its own, and the two runs are pooled (``2 * chains`` chains;
        ``outcomes["rescued"]`` marks it), when ``chains * draws >= 4 * min_ess``; see
        :func:`hierlmm.many.worker.rescues`. It catches the rare poorly adapted chain
        (about 1 outcome in 1,000 at 4 x 500 draws) at the cost of one more run for that
        outcome. None turns it off.

    Returns
    -------
    ManyFits

    Examples
    --------
    >>> sim = hierlmm.datasets.simulate_many_sleepstudy(2, seed=1)
    >>> many = hierlmm.fit_many(sim.formula, sim.data, sim.outcomes, draws=100, tune=100,
    ...                         chains=2, seed=1, executor="serial", progress=False)
    >>> many.outcomes["status"].tolist()
    ['ok', 'ok']
    """
    start = time.perf_counter()
    spec = _as_spec(formula_or_spec, None, None)
    check_option("engine", engine, EngineName)
    _check_counts(draws, tune, chains, target_accept)
    min_ess = _check_min_ess(min_ess)
    seed = _check_seed(seed)
    names, values, rows = resolve_outcomes(data, outcomes)
    design = base_design(spec, rows)
    executor = check_executor(executor)
    workers = 1 if executor == "serial" else int(workers or default_workers())
    m = len(names)
    chosen = _backend(backend, m / workers)
    chunk_size = int(chunk_size or _default_chunk(m, workers, chosen))
    settings = BatchSettings(draws, tune, chains, seed, engine, chosen, target_accept,
                             keep_draws, cores=None if executor == "serial" else 1,
                             min_ess=min_ess)
    meta = {"formula": spec.formula, "outcomes": list(names), "draws": draws, "tune": tune,
            "chains": chains, "seed": seed, "engine": engine, "backend": settings.backend,
            "target_accept": target_accept, "keep_draws": keep_draws, "min_ess": min_ess}
    chunk_store = ChunkStore(store, meta) if store is not None else None
    results: list[ChunkResult] = chunk_store.finished() if chunk_store else []
    skipped = sum(len(r.indices) for r in results)
    done = set(np.concatenate([r.indices for r in results]).tolist()) if results else set()
    todo = np.array([j for j in range(m) if j not in done], dtype=np.int64)
    tasks = [Task(spec, rows, idx, outcome_seeds(seed, idx), values[:, idx], settings)
             for idx in _chunks(todo, chunk_size)]
    with progress_bar(progress, m, "outcomes", skipped) as advance:
        for result in run_tasks(tasks, executor, workers):
            if chunk_store is not None:
                chunk_store.write(result)
            results.append(result)
            advance(len(result.indices))
    family = get_family(spec.family)
    total = time.perf_counter() - start
    timings = {"total_s": total, "per_outcome_s": total / max(1, m - skipped),
               "compiles": sum(r.compiles for r in results),
               "worker_processes": len({r.pid for r in results if r.pid}),
               "skipped": skipped}
    return assemble(results, names, parameter_labels(design, family.parameters),
                    components(design), {**meta, "workers": workers,
                                         "chunk_size": chunk_size}, timings)
