"""Default priors scaled to the data (in the spirit of rstanarm's autoscaling).

The family gives the location ``m`` and scale ``s`` of the linear predictor implied by
the response (for the Gaussian family ``mean(y)`` and ``sd(y)``); with ``s_x`` the SD of
a non-intercept fixed column, ``s_z`` the SD of a random-effect column (1 for an
intercept) and the multipliers of :class:`~hierlmm.spec.PriorSpec` (defaults in
brackets):

=========================  ==========================================================
intercept (centred X)      ``Normal(m, intercept_scale * s)``  [2.5]
fixed slope ``beta_k``      ``Normal(0, fixed_scale * s / s_x)``  [2.5]
random-effect SD            ``HalfNormal(sd_scale * s / s_z)``  [2.5]
correlation matrix          ``LKJCorr(lkj_eta)``  [2]
family parameters           the family's own (e.g. Gaussian ``sigma``: see
                            :mod:`hierlmm.families.gaussian`)
=========================  ==========================================================

Every number here enters the model as a data container, so one compiled model serves
any response and any data of the same shapes. The intercept prior is placed on the
intercept of the centred fixed design (the mean response at the mean of the
predictors), as rstanarm and brms do; the reported ``Intercept`` is transformed back.
"""

from __future__ import annotations

import numpy as np

from hierlmm.design.design import Design, GroupDesign
from hierlmm.families.base import Family
from hierlmm.model import names
from hierlmm.spec.schema import INTERCEPT, PriorSpec


def intercept_index(design: Design) -> int | None:
    """Column of ``design.X`` holding the intercept, if any."""
    fixed = list(design.fixed_names)
    return fixed.index(INTERCEPT) if INTERCEPT in fixed else None


def column_sd(values: np.ndarray) -> np.ndarray:
    """SD of each column, shape (k,), with 1.0 where a column is constant."""
    sd = values.std(axis=0, ddof=1) if values.shape[0] > 1 else np.ones(values.shape[1])
    return np.where(sd > 0, sd, 1.0)


def group_sd_scales(group: GroupDesign, eta_scale: float, sd_scale: float) -> np.ndarray:
    """HalfNormal scales of a factor's effect SDs, shape (q,)."""
    z_sd = column_sd(group.Z)
    z_sd = np.where(np.asarray(group.terms) == INTERCEPT, 1.0, z_sd)
    return sd_scale * eta_scale / z_sd


def prior_inputs(design: Design, priors: PriorSpec, family: Family) -> dict[str, np.ndarray]:
    """Data-scaled prior hyperparameters of ``design`` as named arrays.

    Returns
    -------
    dict of str to ndarray
        ``names.PRIOR_BETA_MU`` (p,), ``names.PRIOR_BETA_SD`` (p,), ``names.X_MEANS``
        (p,), per factor ``names.prior_sd_scale(f)`` (q_f,), and the family's own
        (:meth:`~hierlmm.families.base.Family.prior_inputs`).
    """
    location, scale = family.eta_location_scale(design.y)
    index = intercept_index(design)
    beta_mu = np.zeros(design.p)
    beta_sd = priors.fixed_scale * scale / column_sd(design.X)
    x_means = np.zeros(design.p)
    if index is not None:
        x_means = design.X.mean(axis=0)
        x_means[index] = 0.0
        beta_mu[index] = location
        beta_sd[index] = priors.intercept_scale * scale
    out = {names.PRIOR_BETA_MU: beta_mu, names.PRIOR_BETA_SD: beta_sd, names.X_MEANS: x_means}
    for g in design.groups:
        out[names.prior_sd_scale(g.factor)] = group_sd_scales(g, scale, priors.sd_scale)
    out.update(family.prior_inputs(design.y, priors))
    return out
