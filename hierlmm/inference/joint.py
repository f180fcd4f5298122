"""The joint posterior of parameters and every factor's effects, as reports need it.

A fit normally stores ``b_<factor>`` for every factor in its posterior. A collapsed fit
whose effects would not fit in memory stores the integrated-out factor's exact effects
for an evenly thinned subset of draws, in the DataTree group
:data:`~hierlmm.engines.collapsed.effects.EFFECTS_GROUP`; :func:`joint_posterior` pairs
them with the parameter draws they were drawn from. Everything that needs effects
(predictions, predictive checks, shrinkage, trajectories) reads this, never the raw
posterior, so it works at any size.
"""

from __future__ import annotations

import xarray as xr

from hierlmm.engines.collapsed.effects import EFFECTS_GROUP


def joint_posterior(idata: xr.DataTree) -> xr.Dataset:
    """Posterior draws with the effects of every factor, on the draws that have them.

    Parameters
    ----------
    idata : xarray.DataTree
        A fit's DataTree (``Fit.idata``).

    Returns
    -------
    xarray.Dataset
        ``idata.posterior`` itself, or, when effects were thinned, its draws
        at the thinned draw coordinates merged with the thinned effects.
    """
    posterior = idata["posterior"].to_dataset()
    if EFFECTS_GROUP not in idata.children:
        return posterior
    effects = idata[EFFECTS_GROUP].to_dataset()
    return posterior.sel(draw=effects["draw"].values).assign(effects.data_vars)


def has_thinned_effects(idata: xr.DataTree) -> bool:
    """Whether the integrated-out factor's effects were stored for a subset of draws."""
    return EFFECTS_GROUP in idata.children
