"""Names of a batch's scalar parameters and statistics, known before any sampling."""

from __future__ import annotations

from itertools import combinations

from hierlmm.design.design import Design

STATS = ("mean", "sd", "q05", "q95", "rhat", "ess_bulk", "p_positive")
PARTITION_STATS = ("mean", "q05", "q95")
DIAGNOSTICS = ("divergences", "max_rhat", "min_ess_bulk", "sample_s", "rescued")


def parameter_labels(design: Design, family_parameters: tuple[str, ...]) -> list[tuple]:
    """``(parameter, kind, factor, term)`` in :func:`hierlmm.inference.draws.scalar_draws`
    order: fixed effects, per factor SDs then correlations, then the family's parameters."""
    out = [(term, "fixed", None, term) for term in design.fixed_names]
    for g in design.groups:
        out += [(f"sd({t}|{g.factor})", "sd", g.factor, t) for t in g.terms]
        if g.correlated:
            out += [(f"corr({a},{b}|{g.factor})", "corr", g.factor, f"{a},{b}")
                    for a, b in combinations(g.terms, 2)]
    out += [(p, "sigma" if p == "sigma" else "family", None, None) for p in family_parameters]
    return out
