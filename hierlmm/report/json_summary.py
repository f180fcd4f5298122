"""``summary.json``: a machine-readable digest of a fit.

Layout (``S`` is ``{"mean", "median", "sd", "q05", "q95", "rhat", "ess_bulk"}``)::

    {"model": {"formula", "family", "link", "n_obs", "groups": {factor: n_levels}, "engine",
               "sampler", "seed", "n_dropped"},
     "fixed": {term: S},
     "random": {factor: {"sd": {term: S}, "corr": {"A,B": S}}},
     "residual": {"sigma": S, ...},   (the family's parameters, e.g. also "nu", and
                                       "phi" for AR(1)/CAR(1) residuals)
     "diagnostics": {"divergences", "max_rhat", "min_ess_bulk"},
     "timing": {"build_s", "compile_s", "sample_s", "recover_s", "total_s"},
     "icc": {factor: {"cluster_size", "note", "icc": S, "corr_same": S,
                      "design_effect": S}},
     "variance_components": {"factors": {factor: {term: {"variance": S, "sd": S,
                                                         "share": S}}},
                             "residual": {"variance": S, "sd": S, "share": S}},
     "residual_correlation": {lag: S},   (AR(1)/CAR(1) fits only: implied correlation
                                           at lags 1..5, or at 1..5 median time gaps)
     "r2": {"R2_marginal": S, "R2_conditional": S, "var_fixed": S, "var_random": S,
            "var_residual": S}}

``residual`` holds the family's own parameters: ``sigma`` (gaussian), ``sigma`` and
``nu`` (student_t), the NB2 ``shape`` (negbinomial), nothing for bernoulli, binomial and
poisson; plus ``phi`` for AR(1)/CAR(1) residuals. ``r2`` follows Nakagawa & Schielzeth on
the latent scale (:mod:`hierlmm.report.glmm_variance`).

``icc`` has one entry per factor with a random intercept (empty without one); a slope
term has no ``"share"`` (see :func:`hierlmm.report.variance.variance_components`).

Each top-level key is produced by one function in :data:`SECTIONS`; a new report adds its
key by appending ``(name, builder)`` there (or by passing ``extra`` to
:func:`summary_dict`). Missing numbers (NaN, inf) are written as ``null``, so the file is
strict JSON.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from hierlmm.inference.summary import STAT_COLUMNS
from hierlmm.report.autocorrelation import residual_correlation
from hierlmm.report.glmm_variance import r_squared
from hierlmm.report.variance import icc, variance_components

SectionBuilder = Callable[[Any, pd.DataFrame], Any]
TIMING_KEYS = ("build_s", "compile_s", "sample_s", "recover_s", "total_s")
DIAGNOSTIC_KEYS = ("divergences", "max_rhat", "min_ess_bulk")


def _stats(row: pd.Series) -> dict[str, float | None]:
    """One summary row as ``S``: the seven statistics, NaN as ``None``."""
    return {column: _number(row[column]) for column in STAT_COLUMNS}


def _number(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def model_section(fit, table: pd.DataFrame) -> dict[str, Any]:
    """Formula, family, size, grouping factors with their level counts, engine, seed."""
    design = fit.design
    return {
        "formula": fit.spec.formula,
        "family": fit.spec.family,
        "link": fit.spec.link_name,
        "n_obs": design.n,
        "groups": {g.factor: g.n_levels for g in design.groups},
        "engine": fit.engine,
        "sampler": fit.sampler,
        "seed": int(fit.seed),
        "n_dropped": int(design.n_dropped),
    }


def fixed_section(fit, table: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Fixed effects by design-column name (``"Intercept"``, ``"Days"``, ``"C(g)[b]"``)."""
    rows = table[table["kind"] == "fixed"]
    return {str(row["term"]): _stats(row) for _, row in rows.iterrows()}


def random_section(fit, table: pd.DataFrame) -> dict[str, dict[str, dict]]:
    """Per grouping factor, SDs by term and correlations by ``"A,B"`` (empty if none)."""
    out: dict[str, dict[str, dict]] = {}
    for g in fit.design.groups:
        rows = table[table["factor"] == g.factor]
        out[g.factor] = {
            kind: {str(r["term"]): _stats(r) for _, r in rows[rows["kind"] == kind].iterrows()}
            for kind in ("sd", "corr")
        }
    return out


def residual_section(fit, table: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """The family's own parameters: the residual SD ``sigma`` (and e.g. ``nu``), and the
    AR(1)/CAR(1) correlation ``phi``."""
    rows = table[table["kind"].isin(("sigma", "family", "residual"))]
    return {str(name): _stats(row) for name, row in rows.iterrows()}


def diagnostics_section(fit, table: pd.DataFrame) -> dict[str, float | int | None]:
    """Divergent transitions, worst R-hat and smallest bulk ESS over the summary rows."""
    diag = fit.diagnostics()
    return {
        "divergences": int(diag["divergences"]),
        "max_rhat": _number(diag["max_rhat"]),
        "min_ess_bulk": _number(diag["min_ess_bulk"]),
    }


def timing_section(fit, table: pd.DataFrame) -> dict[str, float | None]:
    """Wall-clock seconds of each stage (``null`` for a stage that did not run)."""
    return {key: _number(fit.timings.get(key, math.nan)) for key in TIMING_KEYS}


def icc_section(fit, table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """ICC, shared-level correlation and design effect of each random-intercept factor."""
    out: dict[str, dict[str, Any]] = {}
    for _, row in icc(fit).iterrows():
        entry = out.setdefault(str(row["factor"]), {
            "cluster_size": _number(row["cluster_size"]),
            "note": None if pd.isna(row["note"]) else str(row["note"]),
        })
        entry[str(row["quantity"])] = _stats(row)
    return out


def variance_components_section(fit, table: pd.DataFrame) -> dict[str, dict]:
    """Variance, SD and share of each factor's terms and of the residual."""
    factors: dict[str, dict[str, dict]] = {g.factor: {} for g in fit.design.groups}
    residual: dict[str, dict] = {}
    for _, row in variance_components(fit).iterrows():
        if row["factor"] is None:
            residual[str(row["quantity"])] = _stats(row)
        else:
            terms = factors[str(row["factor"])]
            terms.setdefault(str(row["term"]), {})[str(row["quantity"])] = _stats(row)
    return {"factors": factors, "residual": residual}


def residual_correlation_section(fit, table: pd.DataFrame) -> dict[str, dict]:
    """AR(1)/CAR(1) fits: implied residual correlation by lag (observations or time)."""
    corr = residual_correlation(fit)
    return {f"{lag:g}": _stats(row) for lag, row in corr.iterrows()}
def r2_section(fit, table: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """Marginal and conditional R² with the variances behind them (any family)."""
    return {str(name): _stats(row) for name, row in r_squared(fit).iterrows()}


SECTIONS: list[tuple[str, SectionBuilder]] = [
    ("model", model_section),
    ("fixed", fixed_section),
    ("random", random_section),
    ("residual", residual_section),
    ("diagnostics", diagnostics_section),
    ("timing", timing_section),
    ("icc", icc_section),
    ("variance_components", variance_components_section),
    ("r2", r2_section),
]


def summary_dict(fit, extra: Mapping[str, SectionBuilder] | None = None) -> dict[str, Any]:
    """Build the ``summary.json`` content of ``fit``.

    Parameters
    ----------
    fit : Fit
    extra : mapping of str to callable, optional
        Further top-level keys, each built by ``builder(fit, table)`` where ``table`` is
        ``fit.summary()``; added after the :data:`SECTIONS`.

    Returns
    -------
    dict
        JSON-ready: only dicts, lists, str, int, float and ``None`` (no NaN).
    """
    table = fit.summary()
    builders = list(SECTIONS)
    if not fit.design.residual.is_iid:
        builders.append(("residual_correlation", residual_correlation_section))
    builders += list((extra or {}).items())
    return {name: _finite(builder(fit, table)) for name, builder in builders}


def _finite(value: Any) -> Any:
    """Replace NaN/inf floats with ``None`` anywhere in nested dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_summary_json(
    fit, path: str | os.PathLike[str], extra: Mapping[str, SectionBuilder] | None = None
) -> Path:
    """Write :func:`summary_dict` (with ``extra`` keys) to ``path`` as indented strict
    JSON; return the path."""
    path = Path(path)
    text = json.dumps(summary_dict(fit, extra), indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path
