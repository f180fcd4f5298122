"""What to do about failed convergence checks, naming the likely cause where it shows."""

from __future__ import annotations

import math

from hierlmm.design.design import Design
from hierlmm.engines.quadrature.engine import quadrature_problem
from hierlmm.families import get_family
from hierlmm.spec.schema import ModelSpec

FEW_LEVELS = 5  # fewer levels than this give a poorly identified SD
GENERIC = ("run longer chains (draws/tune), raise target_accept, or simplify the "
           "random-effects structure")
#: For a GLMM on the sampled engine that the quadrature engine can fit. Measured
#: (simulate_remission 100 x 6 and 200 x 8 binary visits, 6 data sets, 4 x 1,000): the
#: sampled engine passed its diagnostics on 1 (min bulk ESS 130-494; 1 with tune=2000,
#: 0 with target_accept=0.97), the quadrature engine on 6 (ESS 471-2,154)
QUADRATURE = ('the sampled engine mixes slowly over a GLMM\'s SDs and correlations when '
              'each level carries little information: use engine="quadrature", which '
              "integrates the effects out")


def convergence_advice(diag: dict[str, float], design: Design, settings: dict,
                       spec: ModelSpec | None = None) -> str:
    """One sentence of advice for a fit whose diagnostics failed.

    Parameters
    ----------
    diag : dict
        ``divergences``, ``max_rhat`` and ``min_ess_bulk`` (see ``Fit.diagnostics``).
    design : Design
        For the number of levels of each grouping factor.
    settings : dict
        The fit's ``chains`` and ``target_accept`` (and ``sampler`` when it is not NUTS,
        ``engine`` when known, ``redone`` when it redid an independence run).
    spec : ModelSpec, optional
        With ``settings["engine"] == "sampled"`` and not ``redone`` (the quadrature
        engine's failed run is redone there): a GLMM the quadrature engine can fit is
        pointed to it (:data:`QUADRATURE`).

    Returns
    -------
    str
        The likely causes first (one chain, few levels, divergences, the sampler or
        engine), each with its remedy; the generic advice when none is visible.
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
    if settings.get("engine") == "sampled" and not settings.get("redone") \
            and spec is not None and _quadrature_fits(design, spec):
        causes.append(QUADRATURE)
    if not causes and math.isfinite(rhat) and rhat <= 1.01:
        causes.append("low ESS only: run longer chains (more draws and tune)")
    return "; ".join(causes) if causes else GENERIC


def _quadrature_fits(design: Design, spec: ModelSpec) -> bool:
    """Whether ``engine="quadrature"`` can fit this non-Gaussian model."""
    family = get_family(spec.family, spec.link)
    return not family.collapsible and quadrature_problem(design, spec, family) is None
