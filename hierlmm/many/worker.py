"""Fit one chunk of outcomes in this process: compile once, swap the response per outcome.

A worker builds the design once per chunk (the placeholder response replaced by each
outcome), standardizes it per outcome (:mod:`hierlmm.model.scaling`), and samples the
model compiled for the structure key through :mod:`hierlmm.inference.samplers`, whose
in-process cache holds the compiled model for the worker's lifetime: each process
compiles once per design shape, and every later outcome only sets its data (the
collapsed engine's ``Z'y``, ``X'y``, ``y'y`` and the data-scaled prior scales).
Only scalar summaries (and, when asked, the scalar draws) leave the worker.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from arviz_stats.base import array_stats

from hierlmm._pytensor_setup import configure
from hierlmm.design import build_design
from hierlmm.design.design import Design
from hierlmm.engines.base import model_coords
from hierlmm.errors import DataError
from hierlmm.families import get_family
from hierlmm.inference.draws import scalar_draws
from hierlmm.inference.quiet import quiet_info
from hierlmm.inference.samplers import SamplerSettings, compile_count, compiled_model
from hierlmm.many.labels import DIAGNOSTICS, PARTITION_STATS, STATS, parameter_labels
from hierlmm.many.outcomes import with_placeholder
from hierlmm.many.partition import components, variance_fractions
from hierlmm.many.rawtrace import sample_raw
from hierlmm.many.seeds import outcome_seed
from hierlmm.model import names
from hierlmm.model.builder import plan_model
from hierlmm.model.scaling import standardize, unscale_draws
from hierlmm.spec.schema import ModelSpec


@dataclass(frozen=True)
class BatchSettings:
    """Sampler settings shared by every outcome of a batch."""

    draws: int
    tune: int
    chains: int
    seed: int
    engine: str
    backend: str  # "nutpie-numba", "nutpie-python" or "jax"
    target_accept: float
    keep_draws: bool
    cores: int | None = None
    min_ess: float | None = None  # see :func:`rescues`


@dataclass(frozen=True)
class Task:
    """One chunk: outcome indices (k,), their seeds (k,) and responses (n, k)."""

    spec: ModelSpec
    rows: pd.DataFrame
    indices: np.ndarray
    seeds: np.ndarray
    values: np.ndarray
    settings: BatchSettings


@dataclass(frozen=True)
class ChunkResult:
    """What a chunk hands back (shapes for k outcomes, P parameters, C components).

    Attributes
    ----------
    indices, seeds : ndarray, shape (k,)
    stats : ndarray, shape (k, P, len(STATS))
    partition : ndarray, shape (k, C, len(PARTITION_STATS))
    diagnostics : ndarray, shape (k, len(DIAGNOSTICS))
    status, errors : tuple of str, length k
        ``"ok"`` or ``"error"``, and the error message ("" when ok).
    draws : ndarray, shape (k, chain, draw, P), float32, or None
    compiles : int
        Models compiled by this chunk (0 once the worker's cache holds the structure).
    pid : int
    seconds : float
    """

    indices: np.ndarray
    seeds: np.ndarray
    stats: np.ndarray
    partition: np.ndarray
    diagnostics: np.ndarray
    status: tuple[str, ...]
    errors: tuple[str, ...]
    draws: np.ndarray | None
    compiles: int
    pid: int
    seconds: float


def base_design(spec: ModelSpec, rows: pd.DataFrame) -> Design:
    """The design of ``rows`` with the placeholder response (raises on bad rows)."""
    return build_design(spec, with_placeholder(rows, spec.response), na_action="raise")


def _check_response(y: np.ndarray) -> None:
    if not np.all(np.isfinite(y)):
        raise DataError(f"{int(np.sum(~np.isfinite(y)))} missing or infinite value(s); "
                        "outcomes must be complete (rows are never dropped silently)")
    if np.ptp(y) == 0:
        raise DataError("the response is constant; there is no variance to model")


def _sample_one(design: Design, spec: ModelSpec, y: np.ndarray, seed: int,
                settings: BatchSettings) -> tuple:
    plan, inputs, keep, scaling = _prepare(design, spec, y, settings.engine)
    entry, _ = compiled_model(plan.structure_key(inputs), lambda: plan.build(inputs),
                              backend=settings.backend, var_names=keep)
    run = SamplerSettings(settings.draws, settings.tune, settings.chains, seed, False,
                          settings.target_accept, settings.cores)
    posterior, divergences, sample_s = sample_raw(entry, inputs, run, keep,
                                                  model_coords(design))
    return (unscale_draws(posterior, scaling), divergences, sample_s,
            get_family(spec.family).parameters)


def _summaries(values: np.ndarray) -> np.ndarray:
    """Statistics of many outcomes' scalar draws at once (as
    :func:`~hierlmm.inference.summary.draw_stats`, vectorised over outcomes and parameters).

    Parameters
    ----------
    values : ndarray, shape (k, chain, draw, P)

    Returns
    -------
    ndarray, shape (k, P, len(STATS))
        R-hat and ESS are NaN for a parameter whose draws are constant or not finite.
    """
    k, chains, n_draws, n_par = values.shape
    flat = values.reshape(k, chains * n_draws, n_par)
    lo, hi = np.quantile(flat, [0.05, 0.95], axis=1)
    nan = np.full((k, n_par), np.nan)
    stats = np.stack([flat.mean(axis=1), flat.std(axis=1, ddof=1), lo, hi, nan, nan.copy(),
                      np.mean(flat > 0, axis=1)], axis=2)
    ok = np.all(np.isfinite(flat), axis=1) & (np.ptp(flat, axis=1) > 0)  # (k, P)
    if ok.any():  # one call for the whole chunk: the per-call overhead dominates
        filler = np.arange(chains * n_draws, dtype=float).reshape(chains, n_draws)
        safe = np.where(ok[:, None, None, :], values, filler[None, :, :, None])
        rhat = array_stats.rhat(safe, chain_axis=1, draw_axis=2)
        ess = array_stats.ess(safe, chain_axis=1, draw_axis=2, method="bulk")
        stats[..., 4] = np.where(ok, rhat, np.nan)
        stats[..., 5] = np.where(ok, ess, np.nan)
    return stats


def _scalar_values(posterior, design: Design, parameters: tuple[str, ...]) -> np.ndarray:
    """The scalar parameters' draws, shape (chain, draw, P)."""
    return np.stack([i.values for i in scalar_draws(posterior, design, parameters)], -1)


def _values(sampled: dict[int, tuple], design: Design, parameters: tuple[str, ...],
            failed: dict[int, str]) -> dict[int, np.ndarray]:
    """Scalar draws (chain, draw, P) of each sampled outcome; an outcome whose summaries
    cannot be formed moves to ``failed`` (in place)."""
    values = {}
    for j, (posterior, _, _) in sampled.items():
        try:
            values[j] = _scalar_values(posterior, design, parameters)
        except Exception as exc:  # one failing outcome never stops the batch
            failed[j] = f"{type(exc).__name__}: {exc}"
    return values


def _partition(posterior, design: Design) -> np.ndarray:
    flat = posterior.stack(sample=("chain", "draw")).transpose("sample", ...)
    sds = {g.factor: flat[names.sd(g.factor)].values for g in design.groups}
    corrs = {g.factor: flat[names.corr(g.factor)].values if names.corr(g.factor) in flat
             else None for g in design.groups}
    sigma = flat[names.SIGMA].values if names.SIGMA in flat else np.ones(flat.sizes["sample"])
    fractions = variance_fractions(design, flat[names.BETA].values, sds, corrs, sigma)
    lo, hi = np.quantile(fractions, [0.05, 0.95], axis=0)
    return np.stack([fractions.mean(axis=0), lo, hi], axis=1)


def _prepare(design: Design, spec: ModelSpec, y: np.ndarray, engine: str) -> tuple:
    """Scaled inputs of one outcome: ``(plan, inputs, kept variables, scaling)``."""
    _check_response(y)
    scaled, scaling = standardize(replace(design, y=y), get_family(spec.family))
    # fit_many always runs NUTS: the engine's rules for NUTS apply
    plan = plan_model(design=scaled, spec=spec, engine=engine, sampler="nutpie")
    return plan, plan.inputs(), plan.kept_variables(), scaling


def _jax_outcomes(design: Design, task: Task, failed: dict[int, str]) -> dict[int, tuple]:
    """Posterior (user units) and divergences of each outcome, sampled in JAX batches."""
    from hierlmm.many import jaxpath

    settings, prepared = task.settings, {}
    for j in range(len(task.indices)):
        try:
            prepared[j] = _prepare(design, task.spec, task.values[:, j], settings.engine)
        except Exception as exc:  # recorded as this outcome's error
            failed[j] = f"{type(exc).__name__}: {exc}"
    done, order = {}, list(prepared)
    for start in range(0, len(order), jaxpath.BATCH_OUTCOMES):
        batch = order[start:start + jaxpath.BATCH_OUTCOMES]
        plan, inputs, keep, _ = prepared[batch[0]]
        key = plan.structure_key(inputs)
        entry, _ = compiled_model(key, lambda p=plan, i=inputs: p.build(i),
                                  backend="jax", var_names=keep)
        t0 = time.perf_counter()
        try:
            sampler = jaxpath.batch_sampler(
                entry, key, keep, inputs, draws=settings.draws, tune=settings.tune,
                chains=settings.chains, target_accept=settings.target_accept)
            results = jaxpath.sample_batch(sampler, [prepared[j][1] for j in batch],
                                           task.seeds[batch], model_coords(design))
        except Exception as exc:  # the whole batch failed: recorded per outcome
            failed.update({j: f"{type(exc).__name__}: {exc}" for j in batch})
            continue
        seconds = (time.perf_counter() - t0) / len(batch)
        for j, (posterior, div) in zip(batch, results, strict=True):
            done[j] = (unscale_draws(posterior, prepared[j][3]), div, seconds)
    return done


def _nutpie_outcome(design: Design, task: Task, j: int) -> tuple:
    posterior, div, sample_s, _ = _sample_one(design, task.spec, task.values[:, j],
                                              int(task.seeds[j]), task.settings)
    return posterior, div, sample_s


def _posteriors(design: Design, task: Task) -> tuple[dict[int, tuple], dict[int, str]]:
    """``{j: (posterior in user units, divergences, seconds)}`` of the outcomes of
    ``task`` that sampled, and ``{j: error}`` of those that failed."""
    failed: dict[int, str] = {}
    sampled = _jax_outcomes(design, task, failed) if task.settings.backend == "jax" else {}
    done = {}
    for j in range(len(task.indices)):
        if j in failed:
            continue
        try:
            done[j] = sampled.pop(j) if task.settings.backend == "jax" \
                else _nutpie_outcome(design, task, j)
        except Exception as exc:  # one failing outcome never stops the batch
            failed[j] = f"{type(exc).__name__}: {exc}"
    return done, failed


def rescues(settings: BatchSettings, min_ess: np.ndarray) -> np.ndarray:
    """Which outcomes (by their min bulk ESS, shape (k,)) get a second run.

    With ``settings.min_ess`` set and ``chains * draws`` at least 4 times it (a run that
    long normally reaches it: the threshold flags a rare poorly adapted chain, not a
    short run), an outcome below it is sampled once more with the seed
    ``outcome_seed(its seed, 1)``, and its two runs are pooled: the posterior then has
    ``draws`` draws of ``2 * chains`` chains, stored as ``chains`` chains of
    ``2 * draws`` (chain ``c`` of the second run after chain ``c`` of the first), so
    that split R-hat and ESS see the ``2 * chains`` chains; kept draws hold every other
    draw of these. ``ManyFits.outcomes["rescued"]`` marks them.
    """
    if settings.min_ess is None or settings.chains * settings.draws < 4 * settings.min_ess:
        return np.zeros(min_ess.shape, dtype=bool)
    return ~(min_ess >= settings.min_ess)  # NaN counts as low


def _pooled(first: tuple, second: tuple) -> tuple:
    """Two runs of one outcome as one (see :func:`rescues`)."""
    import xarray as xr

    runs = [run[0].drop_vars("draw", errors="ignore") for run in (first, second)]
    glued = xr.concat(runs, dim="draw", coords="minimal", compat="override", join="override")
    return glued, first[1] + second[1], first[2] + second[2]


def _second_runs(design: Design, task: Task, low: list[int],
                 sampled: dict[int, tuple]) -> None:
    """Pool a second run into ``sampled[j]`` for each ``j`` in ``low`` (in place)."""
    again = replace(task, indices=task.indices[low], values=task.values[:, low],
                    seeds=np.array([outcome_seed(int(task.seeds[j]), 1) for j in low]))
    more, _ = _posteriors(design, again)
    for i, j in enumerate(low):
        if i in more:  # a failed second run leaves the first as it was
            sampled[j] = _pooled(sampled[j], more[i])


def run_chunk(task: Task) -> ChunkResult:
    """Fit every outcome of ``task``; a failing outcome is recorded, never raised."""
    start, compiles = time.perf_counter(), compile_count()
    configure()
    design = base_design(task.spec, task.rows)
    params = get_family(task.spec.family).parameters
    n_par = len(parameter_labels(design, params))
    k, settings = len(task.indices), task.settings
    stats = np.full((k, n_par, len(STATS)), np.nan)
    part = np.full((k, len(components(design)), len(PARTITION_STATS)), np.nan)
    diag = np.full((k, len(DIAGNOSTICS)), np.nan)
    draws = (np.full((k, settings.chains, settings.draws, n_par), np.nan, dtype=np.float32)
             if settings.keep_draws else None)
    status, errors, low = ["ok"] * k, [""] * k, []
    with quiet_info("pymc", enabled=True):
        sampled, failed = _posteriors(design, task)
        values = _values(sampled, design, params, failed)
        done = sorted(values)
        if done:
            stats[done] = _summaries(np.stack([values[j] for j in done]))
            min_ess = np.fmin.reduce(stats[done, :, 5], axis=1)  # NaN only if all are
            low = [j for j, r in zip(done, rescues(settings, min_ess), strict=True) if r]
            if low:
                _second_runs(design, task, low, sampled)
                values.update(_values({j: sampled[j] for j in low}, design, params, failed))
                stats[low] = _summaries(np.stack([values[j] for j in low]))
    for j in done:
        if j not in failed:  # (a second run's draws may have failed their summaries)
            try:
                part[j] = _partition(sampled[j][0], design)
            except Exception as exc:  # one failing outcome never stops the batch
                failed[j] = f"{type(exc).__name__}: {exc}"
        if j in failed:
            stats[j] = np.nan
            continue
        diag[j] = [sampled[j][1], np.nanmax(stats[j, :, 4]), np.nanmin(stats[j, :, 5]),
                   sampled[j][2], float(j in low)]
        if draws is not None:
            draws[j] = values[j][:, ::2] if j in low else values[j]
    for j, message in failed.items():
        status[j], errors[j] = "error", message
    return ChunkResult(task.indices, task.seeds, stats, part, diag, tuple(status),
                       tuple(errors), draws, compile_count() - compiles, os.getpid(),
                       time.perf_counter() - start)
