"""``hierlmm.fit``: formula or spec + data -> :class:`Fit`.

Orchestration only: the design stage encodes the data, the model stage standardizes it
(:mod:`hierlmm.model.scaling`, so the units never matter to the sampler) and picks the
family and the engine, :mod:`hierlmm.inference.samplers` compiles once per structure and
samples, and the engine finishes the posterior (exact effects of integrated-out factors).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from hierlmm._pytensor_setup import configure
from hierlmm.design import build_design
from hierlmm.design.design import Design
from hierlmm.engines.base import Engine, model_coords
from hierlmm.errors import ConvergenceWarning, FitError, SpecError
from hierlmm.families import get_family
from hierlmm.inference.advice import convergence_advice
from hierlmm.inference.compile_notice import compile_notice
from hierlmm.inference.diagnostics import ESS_MIN, convergence_problems
from hierlmm.inference.interrupts import InterruptGuard
from hierlmm.inference.loglik import loglik_dataset
from hierlmm.inference.memory import check_draws_memory
from hierlmm.inference.quiet import quiet_info
from hierlmm.inference.result import Fit
from hierlmm.inference.samplers import (
    SamplerSettings,
    backend_for,
    check_sampler,
    compiled_model,
    run_sampler,
)
from hierlmm.model import names
from hierlmm.model.builder import plan_model
from hierlmm.model.scaling import standardize, unscale_draws
from hierlmm.options import (
    MAX_CHAINS,
    MAX_DRAWS,
    Family,
    NaAction,
    Sampler,
    check_count,
    check_option,
)
from hierlmm.options import Engine as EngineName
from hierlmm.spec.formula import check_spec_terms, parse_formula
from hierlmm.spec.schema import ModelSpec, PriorSpec, ResidualSpec, with_residual
from hierlmm.spec.units import check_units

LOGLIK_BUDGET = 50_000_000  # cells (chain * draw * obs) kept eagerly in log_likelihood
#: A failed independence run chosen by "auto" is redone this many times longer (thinned
#: back to ``draws``) when its ESS, grown in proportion, would reach ESS_MIN. Measured on
#: hard logistic posteriors (100 groups x 6 binary visits, 16 draws of the bernoulli
#: prior, quadrature engine, 4 x 1,000): 6 first runs failed (min bulk ESS 58-573); the
#: 4x run passed on 4 (~13 s each), nutpie on the sampled engine on none (R-hat up to
#: 1.072, ESS 59-426, 5-12 s). The ESS grew 2.4-8.3x, except one run that stuck on a
#: heavy proposal (573 -> 24); of the runs below ESS 100, the 4x run passed on 1 of 3.
LONGER_THIN = 4
logger = logging.getLogger("hierlmm")
PACKAGE_DIR = str(Path(__file__).parents[1]) + os.sep  # warnings point past its frames


def _as_spec(
    formula_or_spec: str | ModelSpec, priors: PriorSpec | None, family: str | None,
    link: str | None = None,
) -> ModelSpec:
    if priors is not None and not isinstance(priors, PriorSpec):
        raise SpecError(
            f"priors must be a hierlmm.PriorSpec, got {type(priors).__name__}; "
            "e.g. PriorSpec(sd_scale=1.0)"
        )
    if isinstance(formula_or_spec, str):
        return parse_formula(formula_or_spec, priors=priors, family=family, link=link)
    if isinstance(formula_or_spec, ModelSpec):
        spec = check_spec_terms(formula_or_spec)
        changes = {"priors": priors, "family": family, "link": link}
        return replace(spec, **{k: v for k, v in changes.items() if v is not None})
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
    for name, value, low, high in (("draws", draws, 1, MAX_DRAWS), ("tune", tune, 1, MAX_DRAWS),
                                   ("chains", chains, 1, MAX_CHAINS)):
        check_count(name, value, low, high)
    if not 0 < target_accept < 1:
        raise SpecError(f"target_accept={target_accept!r} must lie strictly between 0 and 1")


def _relabel(posterior: xr.Dataset, design: Design) -> xr.Dataset:
    """Coordinates from ``design`` (a reused compiled model may carry older labels)."""
    coords = {k: v for k, v in model_coords(design).items() if k in posterior.dims}
    return posterior.assign_coords(coords)


def _assemble(
    tree: xr.DataTree, posterior: xr.Dataset, design: Design, plan: Engine,
    extra: dict[str, xr.Dataset],
) -> xr.DataTree:
    """DataTree with posterior, sample_stats, observed_data and, within budget,
    log_likelihood, or the engine's extra groups (thinned effects of very large fits)."""
    groups = {"posterior": posterior, "sample_stats": tree["sample_stats"].to_dataset()}
    cells = posterior.sizes["chain"] * posterior.sizes["draw"] * design.n
    groups.update(extra)
    if not extra and cells <= LOGLIK_BUDGET:
        groups["log_likelihood"] = loglik_dataset(posterior, design, plan.family)
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
    sampler: Sampler = "auto",
    engine: EngineName = "auto",
    progress: bool = True,
    na_action: NaAction = "raise",
    family: Family | None = None,
    priors: PriorSpec | None = None,
    residual: ResidualSpec | None = None,
    target_accept: float = 0.9,
    warn_convergence: bool = True,
    units: Mapping[str, str] | None = None,
    link: str | None = None,
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
    sampler : {"auto", "nutpie", "pymc", "numpyro", "blackjax", "independence"}
        ``"auto"`` runs nutpie's NUTS, except on the collapsed engine with

        - every factor of a large crossed or nested design integrated out (one
          log-density costs a dense Cholesky), or
        - one grouping factor, at most 8 parameters and ``chains * tune >= 2000``
          (sleepstudy with the defaults: about 1 s instead of about 5 s),

        where it runs ``"independence"``: independence Metropolis-Hastings from a
        Laplace-fitted split-t, one log-density per draw
        (:mod:`hierlmm.inference.independence`; its warm-up is a Laplace fit plus
        ``tune`` proposals per chain, at most 10 on the all-factor path). In the second
        case (and on the quadrature engine, see ``engine``) a run whose diagnostics fail
        (R-hat, bulk ESS) is redone four times longer and thinned back to ``draws``
        (``Fit.settings["thin"]``) when its ESS, four times larger, would pass; a run
        that fails (no proper mode), misses by more, or fails again is redone with
        nutpie (on the sampled engine when the quadrature engine's run failed: NUTS is
        several times faster there). ``Fit.timings["independence_s"]`` says what the
        earlier tries cost; ``Fit.sampler`` and ``Fit.engine`` record what ran.
    engine : {"auto", "collapsed", "sampled", "quadrature"}
        ``"auto"`` integrates Gaussian random effects out analytically (collapsed) and
        samples every effect of other families (sampled). ``"quadrature"``: a GLMM with
        one grouping factor (bernoulli/binomial logit, poisson/negbinomial log, at most
        3 effects per level) with its effects integrated out by adaptive Gauss-Hermite
        quadrature and drawn after sampling; several times faster per effective draw on
        large designs (``benchmarks/glmm_bench.py``).
    progress : bool
        Show a progress bar while sampling, and a notice (a spinner on terminals, an
        updated line in notebooks) while the model compiles for more than 1.5 s.
    na_action : {"raise", "drop"}
        ``"drop"`` removes rows with missing values in used columns and reports the count.
    family : {"gaussian", "student_t", "bernoulli", "binomial", "poisson", "negbinomial"}
        Response family (see :mod:`hierlmm.families`); by default the spec's own
        (``"gaussian"`` for a formula, ``"binomial"`` for ``p(s, n)`` / ``cbind(s, f)``).
        Non-Gaussian families are fitted by the sampled engine (non-centred effects).
    priors : PriorSpec, optional
        Multipliers of the data-scaled default priors.
    residual : ResidualSpec, optional
        Residual structure, e.g. ``ResidualSpec(kind="ar1", time="visit",
        group="Subject")`` or ``kind="car1"`` for real-valued times; by default the
        spec's own (iid unless set). See docs/model-files.md, ``[residual]``.
    target_accept : float
        NUTS target acceptance rate.
    warn_convergence : bool
        Emit :class:`ConvergenceWarning` when diagnostics fail common thresholds.
    units : mapping of str to str, optional
        Unit of data columns the model reads, e.g. ``{"Reaction": "ms", "Days": "days"}``:
        labels only, shown on figure axes and in report.html (``Fit.units``). A key that
        is not a column of the model raises :class:`SpecError`.
    link : str, optional
        Link function, e.g. ``"probit"`` for a binary outcome; by default the spec's own
        (the family's default link).

    Returns
    -------
    Fit

    Examples
    --------
    >>> import hierlmm
    >>> sleep = hierlmm.datasets.load("sleepstudy")
    >>> fit = hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleep, draws=50, tune=50,
    ...                   chains=1, seed=1, progress=False, warn_convergence=False)
    >>> fit.spec.formula
    'Reaction ~ 1 + Days + (1 + Days | Subject)'
    >>> fit.posterior["b_Subject"].shape  # (chain, draw, level, term)
    (1, 50, 18, 2)
    """
    return _fit(formula_or_spec, data, draws=draws, tune=tune, chains=chains, seed=seed,
                sampler=sampler, engine=engine, progress=progress, na_action=na_action,
                family=family, priors=priors, residual=residual, target_accept=target_accept,
                warn_convergence=warn_convergence, units=units, link=link)


def _fit(
    formula_or_spec: str | ModelSpec, data: pd.DataFrame, *, draws: int, tune: int,
    chains: int, seed: int | None, sampler: Sampler, engine: EngineName, progress: bool,
    na_action: NaAction, family: Family | None, priors: PriorSpec | None,
    residual: ResidualSpec | None, target_accept: float, warn_convergence: bool,
    units: Mapping[str, str] | None, link: str | None, thin: int = 1,
) -> Fit:
    """:func:`fit`, with the independence sampler's chains ``thin`` times longer and
    thinned (a redo after a narrow miss, :func:`_redo`)."""
    start = time.perf_counter()
    configure()
    spec = with_residual(_as_spec(formula_or_spec, priors, family, link), residual)
    check_option("sampler", sampler, Sampler)
    check_option("engine", engine, EngineName)
    check_option("na_action", na_action, NaAction)
    _check_counts(draws, tune, chains, target_accept)
    units = check_units(units, spec)
    seed = _check_seed(seed)
    design = build_design(spec, data, na_action=na_action)
    if design.n_dropped:
        logger.warning(
            "dropped %d row(s) with missing values (na_action='drop')", design.n_dropped
        )
    scaled, scaling = standardize(design, get_family(spec.family, spec.link))
    plan = plan_model(design=scaled, spec=spec, engine=engine, sampler=sampler)
    requested, sampler = sampler, plan.choose_sampler(chains * tune)
    check_sampler(sampler)
    # "auto" chose the independence sampler on a design NUTS fits quickly too: a run
    # that fails (no proper mode) or fails its diagnostics is redone with nutpie on the
    # engine's redo engine
    redo = requested == "auto" and sampler == "independence" \
        and plan.cheap_independence(chains * tune)
    again = dict(
        formula_or_spec=formula_or_spec, data=data, draws=draws, tune=tune, chains=chains,
        seed=seed, engine=engine, sampler=requested, progress=progress, na_action=na_action,
        family=family, priors=priors, residual=residual, target_accept=target_accept,
        warn_convergence=warn_convergence, units=units, link=link)
    with_nuts = {**again, "engine": plan.redo_engine(), "sampler": "nutpie"}
    check_draws_memory(plan, draws, chains)
    inputs = plan.inputs()
    keep = plan.kept_variables()
    built_at = time.perf_counter()
    # Ctrl-C from compiling to the exact effects: KeyboardInterrupt, never a partial
    # posterior (the samplers catch it and return what they have)
    with InterruptGuard(), quiet_info("pymc", enabled=not progress):
        with compile_notice(enabled=progress):  # a notice only if compiling takes a while
            entry, compile_s = compiled_model(
                plan.structure_key(inputs), lambda: plan.build(inputs),
                backend=backend_for(sampler, plan.prefers_python_callback()), var_names=keep,
                mode=plan.compile_mode(sampler),
            )
        settings = SamplerSettings(draws, tune, chains, seed, progress, target_accept)
        exact = plan.exact_conditional() if sampler == "independence" else None
        try:
            tree, sample_s = run_sampler(entry, inputs=inputs, settings=settings,
                                         var_names=keep, exact=exact,
                                         independence=replace(plan.independence_settings(tune),
                                                              thin=thin))
        except FitError as exc:
            if not redo:
                raise
            return _redo(f"failed ({exc})", time.perf_counter() - start, with_nuts)
        recover_start = time.perf_counter()
        posterior = _relabel(tree["posterior"].to_dataset()[keep], design)
        posterior, extra = plan.finish(posterior, seed)  # in internal units
        posterior = unscale_draws(posterior, scaling)
        extra = {name: unscale_draws(group, scaling) for name, group in extra.items()}
    idata = _assemble(tree, posterior, design, plan, extra)
    timings = {
        "build_s": built_at - start,
        "compile_s": compile_s,
        "sample_s": sample_s,
        "recover_s": time.perf_counter() - recover_start,
    }
    timings["total_s"] = time.perf_counter() - start
    result = Fit(
        idata=idata, spec=spec, design=design, engine=plan.name, sampler=sampler, seed=seed,
        timings=timings,
        settings={"draws": draws, "tune": tune, "chains": chains,
                  "target_accept": target_accept, "na_action": na_action,
                  "units": units, **({"thin": thin} if thin > 1 else {})},
    )
    problems = convergence_problems(result.diagnostics()) if redo else []
    if problems:
        what = f"failed its diagnostics ({'; '.join(problems)})"
        if thin == 1 and LONGER_THIN * result.diagnostics()["min_ess_bulk"] >= ESS_MIN:
            return _redo(what, result.timings["total_s"], {**again, "thin": LONGER_THIN})
        return _redo(what, result.timings["total_s"], with_nuts)
    if warn_convergence:
        _warn_if_unconverged(result)
    return result


def _redo(what: str, first_s: float, arguments: dict[str, Any]) -> Fit:
    """Fit again with ``arguments`` after an independence-sampler run chosen by
    ``"auto"`` ``what`` (failed, or failed its diagnostics): longer (``thin`` > 1), or
    with ``sampler="nutpie"`` on ``arguments["engine"]``. The earlier tries' seconds
    (``first_s``) add up in ``timings["independence_s"]`` and ``"total_s"``."""
    thin = arguments.get("thin", 1)
    how = (f"{thin} times longer, keeping one draw in {thin}" if thin > 1
           else f"with nutpie on the {arguments['engine']} engine")
    logger.info("the independence sampler %s; sampling again %s", what, how)
    result = _fit(**{**arguments, "warn_convergence": False})  # warned here, once
    result.timings["independence_s"] = result.timings.get("independence_s", 0.0) + first_s
    result.timings["total_s"] += first_s
    if arguments["warn_convergence"]:
        _warn_if_unconverged(result)
    return result


def _warn_if_unconverged(result: Fit) -> None:
    diag = result.diagnostics()
    problems = convergence_problems(diag)
    if problems:
        settings = {**result.settings, "sampler": result.sampler, "engine": result.engine,
                    "redone": "independence_s" in result.timings}
        advice = convergence_advice(diag, result.design, settings, result.spec)
        warnings.warn(
            "convergence diagnostics failed: " + "; ".join(problems)
            + f". Likely cause and remedy: {advice}.",
            ConvergenceWarning,
            skip_file_prefixes=(PACKAGE_DIR,),  # the user's line that called fit()
        )
