"""Side-by-side comparison with statsmodels MixedLM (REML and ML) and naive OLS.

:func:`reml_fit` runs statsmodels' MixedLM on exactly the arrays hierlmm fitted (the
design's ``X``, ``y``, level codes and ``Z`` columns), so the fixed-effect names and
random-effect terms match hierlmm's. statsmodels fits one grouping factor (``groups``)
with correlated effects (``exog_re``; ``||`` via a diagonal ``free`` pattern) plus,
for factors nested in it with random intercepts only, variance components
(``exog_vc``). Other structures (crossed or partly nested factors, nested slopes) are
fitted as pure variance components: one group holding every row, no ``exog_re``, and one
variance component per (factor, term), statsmodels' recipe for crossed designs; this
needs uncorrelated effects (intercepts, or ``||`` slopes), and correlated ones are
reported as not fittable. Every warning statsmodels raises is caught and recorded,
never re-raised.

References
----------
Seabold, S. & Perktold, J. (2010). statsmodels: econometric and statistical modeling with
Python. Kish, L. (1965). *Survey Sampling* (design effect).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.stats import norm
from statsmodels.regression.mixed_linear_model import MixedLMParams, VCSpec

from hierlmm.design.design import Design, GroupDesign
from hierlmm.errors import SpecError
from hierlmm.families import get_family
from hierlmm.inference.draws import scalar_draws
from hierlmm.inference.summary import draw_stats, quantile_labels
from hierlmm.report.variance import (
    check_prob,
    design_effect,
    icc,
    nesting,
    shared_level_correlation,
)
from hierlmm.spec.schema import INTERCEPT

CANNOT_FIT = "statsmodels cannot fit this random-effects structure"
#: the single all-data group of a variance-components fit builds (n, n) matrices
MAX_VC_ROWS = 5_000
METHODS = ("reml", "ml")
FIT_ERRORS = (ValueError, np.linalg.LinAlgError, ZeroDivisionError, FloatingPointError)


@dataclass(frozen=True)
class MixedLMInputs:
    """Arrays handed to ``statsmodels.MixedLM`` (n rows, p fixed columns).

    Attributes
    ----------
    endog : ndarray, shape (n,)
    exog : pandas.DataFrame, shape (n, p), columns ``Design.fixed_names``
    groups : ndarray of int64, shape (n,)
        Level codes of the outer grouping factor.
    exog_re : pandas.DataFrame, shape (n, q), columns the outer factor's terms
    exog_vc : VCSpec or None
        One indicator block per nested intercept-only factor and outer level; for a
        variance-components fit one (n, levels) block per (factor, term).
    free : MixedLMParams or None
        Diagonal covariance pattern when the outer factor is uncorrelated (``||``).
    outer : str or None
        The outer factor; None for a variance-components fit (one all-data group, no
        ``exog_re``). ``inner`` lists the variance-component factors.
    inner : tuple of str
    vc_terms : tuple of (str, str)
        ``(factor, term)`` of each variance component, in ``exog_vc`` order.
    """

    endog: np.ndarray
    exog: pd.DataFrame
    groups: np.ndarray
    exog_re: pd.DataFrame
    exog_vc: Any
    free: Any
    outer: str | None
    inner: tuple[str, ...]
    vc_terms: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class FrequentistFit:
    """A statsmodels MixedLM fit and what happened during it.

    Attributes
    ----------
    method : {"reml", "ml"}
    result : statsmodels MixedLMResultsWrapper or None
        None when statsmodels cannot fit the structure or the fit failed.
    inputs : MixedLMInputs or None
    warnings : tuple of str
        ``"Category: message"`` of each distinct warning statsmodels raised.
    note : str or None
        Why ``result`` is None, or the warnings joined; None when all went well.
    """

    method: str
    result: Any
    inputs: MixedLMInputs | None
    warnings: tuple[str, ...]
    note: str | None


def _design(fit_or_design) -> Design:
    if isinstance(fit_or_design, Design):
        return fit_or_design
    design = getattr(fit_or_design, "design", None)
    if not isinstance(design, Design):
        raise SpecError(
            f"expected a Fit or a Design, got {type(fit_or_design).__name__}; pass the "
            "result of hierlmm.fit(...) or its .design"
        )
    return design


def _indicator_blocks(outer: GroupDesign, inner: GroupDesign) -> list[np.ndarray]:
    """Per outer level (code order), the (n_o, k_o) indicators of the inner levels in it."""
    order = np.argsort(outer.codes, kind="stable")  # rows grouped, data order within
    blocks = np.split(inner.codes[order], np.cumsum(outer.counts)[:-1])
    mats = []
    for codes in blocks:
        _, inv = np.unique(codes, return_inverse=True)
        mat = np.zeros((codes.size, int(inv.max()) + 1 if codes.size else 0))
        mat[np.arange(codes.size), inv] = 1.0
        mats.append(mat)
    return mats


def _structure(design: Design) -> tuple[GroupDesign, list[GroupDesign]] | str:
    """(outer factor, nested intercept-only factors), or why statsmodels cannot fit it."""
    groups = list(design.groups)
    if not groups:
        return "the model has no random effects"
    nest = nesting([g.codes for g in groups])  # nest[j, i]: i nested in j
    outers = [j for j in range(len(groups)) if nest[j].sum() == len(groups) - 1]
    if len(groups) > 1 and not outers:
        return f"{CANNOT_FIT} (crossed or partly nested factors {[g.factor for g in groups]})"
    outer = groups[outers[0]] if outers else groups[0]
    inner = [g for g in groups if g is not outer]
    sloped = [g.factor for g in inner if g.terms != (INTERCEPT,)]
    if sloped:
        return f"{CANNOT_FIT} (nested factor(s) {sloped} have random slopes)"
    return outer, inner


def _level_block(group: GroupDesign, k: int) -> np.ndarray:
    """(n, levels) matrix with row i's effect column ``Z[i, k]`` at its level's column."""
    block = np.zeros((group.codes.size, group.n_levels))
    block[np.arange(group.codes.size), group.codes] = group.Z[:, k]
    return block


def variance_component_inputs(design: Design) -> MixedLMInputs | str:
    """Crossed or partly nested factors as pure variance components, or why not.

    statsmodels' recipe for crossed designs: every row in one group, no group-level
    random effects (``exog_re`` with no columns) and one variance component per
    (factor, term), whose design block holds the term's column at each row's level.

    Returns
    -------
    MixedLMInputs or str
        ``outer`` None, ``vc_terms`` the (factor, term) pairs; a reason when a factor has
        correlated effects or the data have more than :data:`MAX_VC_ROWS` rows.
    """
    correlated = [g.factor for g in design.groups if g.correlated and g.q > 1]
    if correlated:
        return (f"{CANNOT_FIT} (crossed or partly nested factors with correlated effects: "
                f"{correlated})")
    if design.n > MAX_VC_ROWS:
        return (f"{CANNOT_FIT} quickly (crossed factors as variance components need one "
                f"n x n system; n = {design.n} > {MAX_VC_ROWS})")
    terms = tuple((g.factor, t) for g in design.groups for t in g.terms)
    blocks = [[_level_block(g, k)] for g in design.groups for k in range(g.q)]
    names = [f"{t}|{f}" for f, t in terms]
    colnames = [[[str(c) for c in range(b[0].shape[1])]] for b in blocks]
    return MixedLMInputs(
        endog=design.y,
        exog=pd.DataFrame(design.X, columns=list(design.fixed_names)),
        groups=np.zeros(design.n, dtype=np.int64),
        exog_re=pd.DataFrame(index=range(design.n)),
        exog_vc=VCSpec(names, colnames, blocks),
        free=None,
        outer=None,
        inner=tuple(dict.fromkeys(f for f, _ in terms)),
        vc_terms=terms,
    )


def mixedlm_inputs(design: Design) -> MixedLMInputs | str:
    """The statsmodels MixedLM arrays for ``design``, or why it cannot be fitted.

    One outer factor with nested intercept-only factors as variance components when the
    design has that shape; otherwise :func:`variance_component_inputs`.
    """
    found = _structure(design)
    if isinstance(found, str):
        return variance_component_inputs(design) if design.groups else found
    outer, inner = found
    exog_vc = None
    if inner:
        mats = [_indicator_blocks(outer, g) for g in inner]
        colnames = [[[str(c) for c in range(m.shape[1])] for m in ms] for ms in mats]
        exog_vc = VCSpec([g.factor for g in inner], colnames, mats)
    free = None
    if not outer.correlated and outer.q > 1:
        free = MixedLMParams.from_components(
            fe_params=np.ones(design.p), cov_re=np.eye(outer.q), vcomp=np.ones(len(inner))
        )
    return MixedLMInputs(
        endog=design.y,
        exog=pd.DataFrame(design.X, columns=list(design.fixed_names)),
        groups=outer.codes,
        exog_re=pd.DataFrame(outer.Z, columns=list(outer.terms)),
        exog_vc=exog_vc,
        free=free,
        outer=outer.factor,
        inner=tuple(g.factor for g in inner),
        vc_terms=tuple((g.factor, INTERCEPT) for g in inner),
    )


def _run_recording(call) -> tuple[Any, tuple[str, ...], str | None]:
    """Run ``call()`` recording every warning; return (result or None, warnings, error)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, error = call(), None
        except FIT_ERRORS as exc:
            result, error = None, f"statsmodels failed: {type(exc).__name__}: {exc}"
    messages = tuple(dict.fromkeys(f"{w.category.__name__}: {w.message}" for w in caught))
    return result, messages, error


def reml_fit(fit_or_design, method: str = "reml") -> FrequentistFit:
    """Fit the model's fixed and random effects with statsmodels MixedLM.

    The call is ``sm.MixedLM(y, X, groups=codes, exog_re=Z, exog_vc=vc).fit(reml=...,
    free=free)`` on the arrays of :func:`mixedlm_inputs`; for ``Reaction ~ Days +
    (Days | Subject)`` this is the same model, with the same numbers, as
    ``smf.mixedlm("Reaction ~ Days", df, groups=df["Subject"], re_formula="~Days")``.

    Parameters
    ----------
    fit_or_design : Fit or Design
    method : {"reml", "ml"}

    Returns
    -------
    FrequentistFit
        Never raises for a structure statsmodels cannot fit: ``result`` is None and
        ``note`` says why. Warnings are recorded in ``warnings`` and ``note``.
    """
    if method not in METHODS:
        raise SpecError(f"method={method!r} is not recognised; choose one of {METHODS}")
    inputs = mixedlm_inputs(_design(fit_or_design))
    if isinstance(inputs, str):
        return FrequentistFit(method, None, None, (), inputs)

    def call():
        model = sm.MixedLM(inputs.endog, inputs.exog, groups=inputs.groups,
                           exog_re=inputs.exog_re, exog_vc=inputs.exog_vc)
        kwargs = {} if inputs.free is None else {"free": inputs.free,
                                                 "method": ["bfgs", "lbfgs"]}
        return model.fit(reml=method == "reml", **kwargs)

    result, messages, error = _run_recording(call)
    note = error or ("; ".join(messages) if messages else None)
    return FrequentistFit(method, result, inputs, messages, note)


def ols_fit(fit_or_design):
    """Naive OLS of ``y`` on the fixed-effects design ``X``, ignoring all clustering.

    Returns
    -------
    statsmodels RegressionResultsWrapper
        ``sm.OLS(y, X).fit()`` with ``X`` a DataFrame named by ``Design.fixed_names``.
    """
    design = _design(fit_or_design)
    return sm.OLS(design.y, pd.DataFrame(design.X, columns=list(design.fixed_names))).fit()


def _mixed_estimates(freq: FrequentistFit, design: Design) -> dict[str, tuple[float, float]]:
    """Parameter name (as in :func:`scalar_draws`) -> (estimate, SE); SE NaN for variances."""
    res, nan = freq.result, float("nan")
    if res is None:
        return {}
    with np.errstate(invalid="ignore"):  # a singular Hessian (boundary fit): SE NaN
        bse = res.bse_fe
    out = {name: (float(res.fe_params[name]), float(bse[name])) for name in design.fixed_names}
    if freq.inputs.outer is not None:
        out.update(_outer_estimates(res, design.group(freq.inputs.outer)))
    vcomp = np.asarray(res.vcomp, dtype=float)
    for (factor, term), var in zip(freq.inputs.vc_terms, vcomp, strict=True):
        out[f"sd({term}|{factor})"] = (float(np.sqrt(max(var, 0.0))), nan)
    out["sigma"] = (float(np.sqrt(res.scale)), nan)
    out.update(_point_design_effects(out, design))
    return out


def _outer_estimates(res, outer: GroupDesign) -> dict[str, tuple[float, float]]:
    """SDs and correlations of the outer factor from ``res.cov_re``; SEs NaN."""
    nan = float("nan")
    cov = np.asarray(res.cov_re, dtype=float)  # (q, q)
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    out = {}
    for i, a in enumerate(outer.terms):
        out[f"sd({a}|{outer.factor})"] = (float(sd[i]), nan)
        for j in range(i + 1, outer.q):
            denom = sd[i] * sd[j]
            value = cov[i, j] / denom if denom > 0 else nan
            out[f"corr({a},{outer.terms[j]}|{outer.factor})"] = (float(value), nan)
    return out


def _point_design_effects(est: dict, design: Design) -> dict[str, tuple[float, float]]:
    groups = [g for g in design.groups if INTERCEPT in g.terms]
    if not groups:
        return {}
    tau2 = np.array([[[est[f"sd({INTERCEPT}|{g.factor})"][0] ** 2 for g in groups]]])
    sigma2 = np.array([[est["sigma"][0] ** 2]])
    shared = shared_level_correlation(tau2, sigma2, nesting([g.codes for g in groups]))[0, 0]
    out = {}
    for k, g in enumerate(groups):
        deff = design_effect(shared[k], design.n / g.n_levels)
        out[f"design_effect({g.factor})"] = (float(deff), float("nan"))
    return out


def _wald(prefix: str, est: float, se: float, z: float, names: tuple[str, str]) -> dict:
    lo = est - z * se if np.isfinite(se) else float("nan")
    hi = est + z * se if np.isfinite(se) else float("nan")
    return {prefix: est, f"{prefix}_se": se, f"{prefix}_{names[0]}": lo,
            f"{prefix}_{names[1]}": hi}


def _bayes_rows(fit, prob: float) -> list[dict]:
    lo, hi = quantile_labels(prob)
    rows = []
    parameters = get_family(fit.spec.family, fit.spec.link).parameters
    for item in scalar_draws(fit.posterior, fit.design, parameters):
        s = draw_stats(item.values, prob)
        rows.append({"parameter": item.parameter, "kind": item.kind, "factor": item.factor,
                     "term": item.term, "hierlmm_mean": s["mean"], "hierlmm_sd": s["sd"],
                     f"hierlmm_{lo}": s[lo], f"hierlmm_{hi}": s[hi]})
    deff = icc(fit, prob)
    for _, r in deff[deff["quantity"] == "design_effect"].iterrows():
        rows.append({"parameter": r["parameter"], "kind": "design_effect", "factor": r["factor"],
                     "term": None, "hierlmm_mean": r["mean"], "hierlmm_sd": r["sd"],
                     f"hierlmm_{lo}": r[lo], f"hierlmm_{hi}": r[hi]})
    return rows


def _note(fits: dict[str, FrequentistFit]) -> str | None:
    notes = [f"{m.upper()}: {f.note}" for m, f in fits.items() if f.note]
    if len(notes) == 2 and fits["reml"].note == fits["ml"].note and fits["reml"].result is None:
        return fits["reml"].note
    return "; ".join(notes) or None


def frequentist_comparison(fit, prob: float = 0.9) -> pd.DataFrame:
    """hierlmm posterior next to statsmodels REML, ML and naive OLS estimates.

    Parameters
    ----------
    fit : Fit
    prob : float
        Mass of the posterior interval and of the Wald intervals (estimate +- z SE).

    Returns
    -------
    pandas.DataFrame
        One row per parameter of :func:`hierlmm.inference.draws.scalar_draws` (fixed effects,
        ``sd(...)``, ``corr(...)``, ``sigma``) plus ``design_effect(<factor>)`` rows
        (``1 + (m - 1) * corr_same``, see :func:`hierlmm.report.variance.icc`). Columns
        ``parameter, kind, factor, term``; ``hierlmm_mean, hierlmm_sd, hierlmm_q05,
        hierlmm_q95``; for each of ``reml``, ``ml``, ``ols``: the estimate, ``_se``,
        ``_q05``, ``_q95`` (SEs and intervals for fixed effects only; OLS also gives
        ``sigma``, its residual SD); ``note`` (statsmodels warnings, or that it cannot
        fit the structure). Interval suffixes follow ``prob``.
    """
    prob = check_prob(prob)
    design = fit.design
    z = float(norm.ppf((1 + prob) / 2))
    labels = quantile_labels(prob)
    fits = {m: reml_fit(design, m) for m in METHODS}
    estimates = {m: _mixed_estimates(f, design) for m, f in fits.items()}
    ols = ols_fit(design)
    estimates["ols"] = {name: (float(ols.params[name]), float(ols.bse[name]))
                        for name in design.fixed_names}
    estimates["ols"]["sigma"] = (float(np.sqrt(ols.scale)), float("nan"))
    note = _note(fits)
    rows = []
    for row in _bayes_rows(fit, prob):
        for method in (*METHODS, "ols"):
            est, se = estimates[method].get(row["parameter"], (float("nan"), float("nan")))
            row.update(_wald(method, est, se, z, labels))
        row["note"] = note
        rows.append(row)
    table = pd.DataFrame(rows)
    for column in ("factor", "term", "note"):
        table[column] = table[column].astype(object).where(table[column].notna(), None)
    return table

