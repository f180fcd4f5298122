"""Scalar posterior quantities of a fit as (chain, draw) arrays, with their labels.

Every report that tabulates model parameters goes through :func:`scalar_draws`, so the
names (``"sd(Days|Subject)"``) and their order are the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import xarray as xr

from hierlmm.design.design import Design
from hierlmm.model import names


@dataclass(frozen=True)
class ScalarDraws:
    """One scalar quantity's draws.

    Attributes
    ----------
    parameter : str
        Display name, e.g. ``"Days"``, ``"sd(Intercept|Subject)"``, ``"sigma"``.
    kind : {"fixed", "sd", "corr", "sigma", "family", "residual"}
    factor : str or None
    term : str or None
        Effect name; for correlations ``"A,B"``.
    values : ndarray, shape (chain, draw)
    """

    parameter: str
    kind: str
    factor: str | None
    term: str | None
    values: np.ndarray


def scalar_draws(
    posterior: xr.Dataset, design: Design, family_parameters: tuple[str, ...] = (names.SIGMA,)
) -> list[ScalarDraws]:
    """Fixed effects, per-factor SDs and correlations, then the family's parameters.

    Parameters
    ----------
    posterior : xarray.Dataset
    design : Design
    family_parameters : tuple of str
        :attr:`hierlmm.families.base.Family.parameters` of the fit's family; the residual
        SD ``sigma`` gets kind ``"sigma"``, any other (``nu``, ...) kind ``"family"``.
        An AR(1)/CAR(1) residual's ``phi`` follows with kind ``"residual"``.
    """
    beta = posterior[names.BETA]
    out = [
        ScalarDraws(term, "fixed", None, term, beta.sel({names.FIXED_DIM: term}).values)
        for term in design.fixed_names
    ]
    for g in design.groups:
        f = g.factor
        sd = posterior[names.sd(f)]
        for term in g.terms:
            values = sd.sel({names.term_dim(f): term}).values
            out.append(ScalarDraws(f"sd({term}|{f})", "sd", f, term, values))
        if names.corr(f) in posterior:
            corr = posterior[names.corr(f)]
            for a, b in combinations(g.terms, 2):
                values = corr.sel({names.term_dim(f): a, names.term_dim_bis(f): b}).values
                out.append(ScalarDraws(f"corr({a},{b}|{f})", "corr", f, f"{a},{b}", values))
    for name in family_parameters:
        kind = "sigma" if name == names.SIGMA else "family"
        out.append(ScalarDraws(name, kind, None, None, posterior[name].values))
    if not design.residual.is_iid and names.PHI in posterior:
        values = posterior[names.PHI].transpose("chain", "draw").values
        out.append(ScalarDraws(names.PHI, "residual", None, None, values))
    return out
