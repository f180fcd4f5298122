"""Checks that a model's parameters are identified by its data, run before building it.

- a grouping factor with one observation per level in a family with a residual SD: its
  effects are confounded with the residual (lme4 refuses it the same way). Families
  without a residual SD (Poisson, binomial, ...) keep it legal: an observation-level
  random effect is how they model overdispersion;
- fewer observations than fixed effects plus variance parameters.
"""

from __future__ import annotations

from hierlmm.design.design import Design
from hierlmm.errors import DataError
from hierlmm.families.base import Family


def variance_parameters(design: Design, family: Family) -> int:
    """SDs, correlations and the family's own parameters (sigma, nu, ...)."""
    count = len(family.parameters)
    for g in design.groups:
        count += g.q + (g.q * (g.q - 1) // 2 if g.correlated else 0)
    return count


def check_identifiable(design: Design, family: Family) -> None:
    """Raise :class:`DataError` if the data cannot identify the model's parameters.

    Parameters
    ----------
    design : Design
    family : Family

    Raises
    ------
    DataError
        Naming the grouping factor whose levels are as many as the observations (in a
        family with a residual SD), or the counts when there are fewer observations than
        fixed effects plus variance parameters.
    """
    if family.has_residual_sd:
        for g in design.groups:
            if g.n_levels >= design.n:
                raise DataError(
                    f"grouping factor {g.factor!r} has {g.n_levels} levels for {design.n} "
                    f"observations; with one observation per level its effects cannot be "
                    f"told apart from the residual of the {family.name} family: remove "
                    f"({g.factor}) or use data with repeated observations per level"
                )
    needed = design.p + variance_parameters(design, family)
    if design.n < needed:
        raise DataError(
            f"{design.n} observations cannot identify {design.p} fixed effects plus "
            f"{needed - design.p} variance parameters; use more data or a simpler model"
        )
