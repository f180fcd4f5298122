"""What to do about failed convergence checks, naming the likely cause where it shows."""

from __future__ import annotations

import math

from hierlmm.design.design import Design

FEW_LEVELS = 5  # fewer levels than this give a poorly identified SD
GENERIC = ("run longer chains (draws/tune), raise target_accept, or simplify the "
           "random-effects structure")


def convergence_advice(diag: dict[str, float], design: Design, settings: dict) -> str:
    """One sentence of advice for a fit whose diagnostics failed.

    Parameters
    ----------
    diag : dict
        ``divergences``, ``max_rhat`` and ``min_ess_bulk`` (see ``Fit.diagnostics``).
    design : Design
        For the number of levels of each grouping factor.
    settings : dict
        The fit's ``chains`` and ``target_accept`` (and ``sampler`` when it is not NUTS).

    Returns
    -------
    str
        The likely causes first (one chain, few levels, divergences), each with its
        remedy; the generic advice when none is visible.
    """
    causes = []
    if settings.get("chains") == 1:
        causes.append("with one chain R-hat cannot be computed: run at least 2 chains")
    for g in design.groups:
        if g.n_levels < FEW_LEVELS:
            what = "SDs and correlations" if g.q > 1 else "SD"
            causes.append(
                f"grouping factor {g.factor!r} has only {g.n_levels} levels, too few to "
                f"estimate its {what}: use more groups, drop its slopes, or tighten the "
                "prior (sd_scale)"
            )
    divergences = diag.get("divergences", 0)
    if divergences and divergences > 0:
        target = settings.get("target_accept", 0.9)
        causes.append(f"{divergences} divergences: raise target_accept above {target} "
                      "(e.g. 0.95 or 0.99)")
    rhat = diag.get("max_rhat", math.nan)
    if settings.get("sampler") == "independence":
        causes.append('the independence sampler\'s Laplace proposal fits this posterior '
                      'poorly: run more draws, or use sampler="nutpie"')
    if not causes and math.isfinite(rhat) and rhat <= 1.01:
        causes.append("low ESS only: run longer chains (more draws and tune)")
    return "; ".join(causes) if causes else GENERIC
