"""``hierlmm.fit``: formula or spec + data -> :class:`Fit`."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import xarray as xr

from hierlmm.design import build_design
from hierlmm.design.design import Design
from hierlmm.errors import ConvergenceWarning, SpecError
from hierlmm.inference.collapsed import add_collapsed_effects
from hierlmm.inference.loglik import loglik_dataset
from hierlmm.inference.result import Fit
from hierlmm.inference.samplers import SamplerSettings, run_sampler
from hierlmm.model import names
from hierlmm.model.builder import BuiltModel, build_model
from hierlmm.options import Engine, NaAction, Sampler, check_option
from hierlmm.spec.formula import check_spec_terms, parse_formula
from hierlmm.spec.schema import ModelSpec, PriorSpec

PYFUNC_MAX_EFFECTS = 10_000  # collapsed levels x effects up to which Python callbacks win
LOGLIK_BUDGET = 50_000_000  # cells (chain * draw * obs) kept eagerly in log_likelihood


def _as_spec(formula_or_spec: str | ModelSpec, priors: PriorSpec | None) -> ModelSpec:
    if priors is not None and not isinstance(priors, PriorSpec):
        raise SpecError(
            f"priors must be a hierlmm.PriorSpec, got {type(priors).__name__}; "
            "e.g. PriorSpec(sd_scale=1.0)"
        )
    if isinstance(formula_or_spec, str):
        return parse_formula(formula_or_spec, priors=priors)
    if isinstance(formula_or_spec, ModelSpec):
        spec = check_spec_terms(formula_or_spec)
        if priors is not None:
            from dataclasses import replace

            spec = replace(spec, priors=priors)
        return spec
    raise SpecError(
        f"fit() takes a formula string or a ModelSpec, got {type(formula_or_spec).__name__}"
    )


def _check_seed(seed: object) -> int:
    """Return a usable seed, drawing one from the OS when ``seed`` is None."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**31))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise SpecError(f"seed={seed!r} must be a non-negative integer (or None)")
    return int(seed)


def _check_counts(draws: int, tune: int, chains: int, target_accept: float) -> None:
    for name, value, low in (("draws", draws, 1), ("tune", tune, 1), ("chains", chains, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise SpecError(f"{name}={value!r} must be an integer >= {low}")
    if not 0 < target_accept < 1:
        raise SpecError(f"target_accept={target_accept!r} must lie strictly between 0 and 1")


def prefers_python_callback(built: BuiltModel, design: Design) -> bool:
    """Whether nutpie should call a PyTensor-compiled log-density from Python.

    Measured here (2 cores): for small collapsed models the numba C-callback compile
    (7-30 s per process) dwarfs sampling, so Python callbacks (about 1 s to compile, from
    the disk cache) win; from about 10,000 collapsed effects on, each gradient costs
    enough that the C callback's lower overhead and parallel chains win (sim 10,000 x 20:
    sampling 2.5 s against 10 s).
    """
    if built.engine != "collapsed":
        return False
    group = design.group(built.collapsed_factor)
    return group.n_levels * group.q < PYFUNC_MAX_EFFECTS


def _kept_variables(built: BuiltModel, design: Design) -> list[str]:
    keep = [names.BETA, names.SIGMA]
    for g in design.groups:
        keep.append(names.sd(g.factor))
        if g.correlated and g.q > 1:
            keep.append(names.corr(g.factor))
        if g.factor != built.collapsed_factor:
            keep.append(names.effects(g.factor))
    return keep


def _assemble(
    tree: xr.DataTree, posterior: xr.Dataset, design: Design, effects_summary: xr.Dataset | None
) -> xr.DataTree:
    """DataTree with posterior, sample_stats, observed_data and, within budget,
    log_likelihood (or, for very many levels, a ``group_effects`` summary)."""
    groups = {"posterior": posterior, "sample_stats": tree["sample_stats"].to_dataset()}
    cells = posterior.sizes["chain"] * posterior.sizes["draw"] * design.n
    if effects_summary is not None:
        groups["group_effects"] = effects_summary
    elif cells <= LOGLIK_BUDGET:
        groups["log_likelihood"] = loglik_dataset(posterior, design)
    groups["observed_data"] = xr.Dataset(
        {names.RESPONSE: ((names.OBS_DIM,), design.y)}, coords={names.OBS_DIM: np.arange(design.n)}
    )
    return xr.DataTree.from_dict(groups)


def fit(
    formula_or_spec: str | ModelSpec,
    data: pd.DataFrame,
    *,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    seed: int | None = None,
    sampler: Sampler = "nutpie",
    engine: Engine = "auto",
    progress: bool = True,
    na_action: NaAction = "raise",
    priors: PriorSpec | None = None,
    target_accept: float = 0.9,
    warn_convergence: bool = True,
) -> Fit:
    """Fit a Bayesian linear mixed model.

    Parameters
    ----------
    formula_or_spec : str or ModelSpec
        lme4 formula such as ``"Reaction ~ Days + (Days | Subject)"``, or a spec.
    data : pandas.DataFrame
        One row per observation.
    draws, tune, chains : int
        Posterior draws and warm-up iterations per chain, number of chains.
    seed : int, optional
        Seed of the sampler and of the exact draws of collapsed random effects. When
        omitted a seed is drawn from the OS and stored in ``Fit.seed``, so any fit can be
        reproduced.
    sampler : {"nutpie", "pymc", "numpyro", "blackjax"}
    engine : {"auto", "collapsed", "sampled"}
        ``"auto"`` integrates Gaussian random effects out analytically (collapsed).
    progress : bool
        Show a progress bar while sampling.
    na_action : {"raise", "drop"}
        ``"drop"`` removes rows with missing values in used columns and reports the count.
    priors : PriorSpec, optional
        Multipliers of the data-scaled default priors.
    target_accept : float
        NUTS target acceptance rate.
    warn_convergence : bool
        Emit :class:`ConvergenceWarning` when diagnostics fail common thresholds.

    Returns
    -------
    Fit
    """
    start = time.perf_counter()
    spec = _as_spec(formula_or_spec, priors)
    check_option("sampler", sampler, Sampler)
    check_option("engine", engine, Engine)
    check_option("na_action", na_action, NaAction)
    _check_counts(draws, tune, chains, target_accept)
    seed = _check_seed(seed)
    design = build_design(spec, data, na_action=na_action)
    if design.n_dropped:
        print(f"hierlmm: dropped {design.n_dropped} row(s) with missing values (na_action='drop')")
    built = build_model(design=design, spec=spec, engine=engine)
    built_at = time.perf_counter()
    settings = SamplerSettings(draws, tune, chains, seed, progress, target_accept)
    keep = _kept_variables(built, design)
    tree, timings = run_sampler(
        built.model, sampler=sampler, settings=settings, var_names=keep,
        python_callback=prefers_python_callback(built, design),
    )
    recover_start = time.perf_counter()
    posterior = tree["posterior"].to_dataset()[keep]
    effects_summary = None
    if built.collapsed_factor is not None:
        posterior, effects_summary = add_collapsed_effects(
            posterior, design=design, factor=built.collapsed_factor, seed=seed
        )
    idata = _assemble(tree, posterior, design, effects_summary)
    timings = {
        "build_s": built_at - start,
        **timings,
        "recover_s": time.perf_counter() - recover_start,
    }
    timings["total_s"] = time.perf_counter() - start
    result = Fit(
        idata=idata, spec=spec, design=design, engine=built.engine, sampler=sampler, seed=seed,
        timings=timings,
        settings={"draws": draws, "tune": tune, "chains": chains,
                  "target_accept": target_accept, "na_action": na_action},
    )
    if warn_convergence:
        _warn_if_unconverged(result)
    return result


def _warn_if_unconverged(result: Fit) -> None:
    from hierlmm.inference.diagnostics import convergence_problems

    problems = convergence_problems(result.diagnostics())
    if problems:
        warnings.warn(
            "convergence diagnostics failed: " + "; ".join(problems)
            + ". Run longer chains (draws/tune), raise target_accept, or simplify the "
            "random-effects structure.",
            ConvergenceWarning,
            stacklevel=3,
        )
