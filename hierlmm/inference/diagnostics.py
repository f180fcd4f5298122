"""Convergence diagnostics of a fit and the thresholds that trigger a warning."""

from __future__ import annotations

import numpy as np

RHAT_MAX = 1.01
ESS_MIN = 400.0


def diagnostics(fit) -> dict[str, float]:
    """Divergences, max R-hat and min bulk ESS over the summary parameters.

    Returns
    -------
    dict
        ``divergences`` (int), ``max_rhat``, ``min_ess_bulk``, ``draws`` (total kept).
    """
    table = fit.summary()
    stats = fit.idata["sample_stats"].to_dataset()
    divergences = int(stats["diverging"].values.sum()) if "diverging" in stats else 0
    posterior = fit.posterior
    return {
        "divergences": divergences,
        "max_rhat": _finite_extreme(table["rhat"].values, np.max),
        "min_ess_bulk": _finite_extreme(table["ess_bulk"].values, np.min),
        "draws": int(posterior.sizes["chain"] * posterior.sizes["draw"]),
    }


def _finite_extreme(values: np.ndarray, reduce) -> float:
    """``reduce`` over the finite entries; NaN when there are none (e.g. R-hat, 1 chain)."""
    finite = values[np.isfinite(values)]
    return float(reduce(finite)) if finite.size else float("nan")


def convergence_problems(diag: dict[str, float]) -> list[str]:
    """Plain-language list of failed checks (empty when all pass)."""
    problems = []
    if diag["divergences"] > 0:
        problems.append(f"{diag['divergences']} divergent transition(s)")
    if diag["max_rhat"] > RHAT_MAX:
        problems.append(f"max R-hat {diag['max_rhat']:.3f} > {RHAT_MAX}")
    if diag["min_ess_bulk"] < ESS_MIN:
        problems.append(f"min bulk ESS {diag['min_ess_bulk']:.0f} < {ESS_MIN:.0f}")
    return problems
