"""Report tables computed from a :class:`~hierlmm.inference.result.Fit` (re-exports only).

Names are imported on first use (PEP 562), so ``import hierlmm.report`` stays cheap:
statsmodels, scipy.stats and matplotlib load only when a table that needs them is
requested. :func:`shrinkage` and :func:`trajectories` share their names with their
modules and are therefore bound eagerly (the modules are light), so the package attribute
is always the function, whatever was imported first.

The parameter summary, the convergence diagnostics and the prior predictive draws are
computed by the inference stage (``Fit.summary()`` and ``fit()`` need them, the prior
predictive draws need the model); they are re-exported here so that every table a fit
offers can be found in one place. The self-contained report.html is built one layer up,
by :mod:`hierlmm.document`, because it draws the figures of :mod:`hierlmm.plots`.

>>> from hierlmm import report
>>> report.variance_components(fit)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

from hierlmm.report.shrinkage import shrinkage
from hierlmm.report.trajectories import trajectories

# name -> module, relative to this package when it starts with a dot
_LAZY = {
    "compare": ".checks",
    "posterior_predictive": ".checks",
    "ppc_group_stats": ".checks",
    "prior_predictive": "hierlmm.inference.prior",
    "correlation_densities": ".correlation",
    "random_correlations": ".correlation",
    "convergence_problems": "hierlmm.inference.diagnostics",
    "diagnostics": "hierlmm.inference.diagnostics",
    "frequentist_comparison": ".frequentist",
    "ols_fit": ".frequentist",
    "reml_fit": ".frequentist",
    "summary_dict": ".json_summary",
    "residual_acf": ".autocorrelation",
    "residual_correlation": ".autocorrelation",
    "write_summary_json": ".json_summary",
    "population_distribution": ".shrinkage",
    "summary_table": "hierlmm.inference.summary",
    "observed_points": ".trajectories",
    "marginal_effects": "hierlmm.inference.marginal",
    "marginal_effect_draws": "hierlmm.inference.marginal",
    "marginal_coefficients": "hierlmm.inference.marginal",
    "r_squared": ".glmm_variance",
    "calibration_table": ".family_checks",
    "ppc_family_stats": ".family_checks",
    "rootogram_table": ".family_checks",
    "icc": ".variance",
    "rater_icc": ".variance",
    "variance_components": ".variance",
    "icc_curve": ".variance_curve",
    "variance_over_covariate": ".variance_curve",
}

__all__ = [
    "calibration_table",
    "compare",
    "convergence_problems",
    "correlation_densities",
    "diagnostics",
    "frequentist_comparison",
    "icc",
    "icc_curve",
    "marginal_coefficients",
    "marginal_effect_draws",
    "marginal_effects",
    "observed_points",
    "ols_fit",
    "population_distribution",
    "posterior_predictive",
    "ppc_family_stats",
    "ppc_group_stats",
    "prior_predictive",
    "r_squared",
    "random_correlations",
    "rater_icc",
    "reml_fit",
    "residual_acf",
    "residual_correlation",
    "rootogram_table",
    "shrinkage",
    "summary_dict",
    "summary_table",
    "trajectories",
    "variance_components",
    "variance_over_covariate",
    "write_summary_json",
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
