"""Default priors scaled to the data (in the spirit of rstanarm's autoscaling).

With ``s_y = sd(y)``, ``s_x`` the SD of a non-intercept fixed column and ``s_z`` the SD
of a random-effect column (1 for an intercept), and the multipliers of
:class:`~hierlmm.spec.PriorSpec` (defaults in brackets):

=========================  ==========================================================
intercept (centred X)      ``Normal(mean(y), intercept_scale * s_y)``  [2.5]
fixed slope ``beta_k``      ``Normal(0, fixed_scale * s_y / s_x)``  [2.5]
random-effect SD            ``HalfNormal(sd_scale * s_y / s_z)``  [2.5]
correlation matrix          ``LKJCorr(lkj_eta)``  [2]
residual ``sigma``          ``Exponential(1 / (sigma_scale * s_y))``  [1]
=========================  ==========================================================

The intercept prior is placed on the intercept of the centred fixed design (the mean
response at the mean of the predictors), as rstanarm and brms do; the reported
``Intercept`` is transformed back to the uncentred scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hierlmm.design.design import Design, GroupDesign
from hierlmm.model.names import INTERCEPT


@dataclass(frozen=True)
class PriorScales:
    """Numbers that fix the default priors for one design.

    Attributes
    ----------
    y_mean, y_sd : float
        Mean and SD of the response.
    x_means : ndarray, shape (p,)
        Column means used to centre X (0 for the intercept column).
    beta_sd : ndarray, shape (p,)
        Prior SD of each fixed effect (the intercept's entry refers to the centred one).
    intercept_index : int or None
        Column of X holding the intercept, if any.
    sd_scales : dict of str to ndarray
        Per factor, the HalfNormal scale of each effect SD, shape (q_k,).
    sigma_rate : float
        Rate of the Exponential prior on the residual SD.
    """

    y_mean: float
    y_sd: float
    x_means: np.ndarray
    beta_sd: np.ndarray
    intercept_index: int | None
    sd_scales: dict[str, np.ndarray]
    sigma_rate: float


def _column_sd(values: np.ndarray) -> np.ndarray:
    """SD of each column, shape (k,), with 1.0 where a column is constant."""
    sd = values.std(axis=0, ddof=1) if values.shape[0] > 1 else np.ones(values.shape[1])
    return np.where(sd > 0, sd, 1.0)


def _group_sd_scales(group: GroupDesign, y_sd: float, sd_scale: float) -> np.ndarray:
    """HalfNormal scales of a factor's effect SDs, shape (q,)."""
    z_sd = _column_sd(group.Z)
    z_sd = np.where(np.asarray(group.terms) == INTERCEPT, 1.0, z_sd)
    return sd_scale * y_sd / z_sd


def prior_scales(design: Design, priors) -> PriorScales:
    """Compute the data-scaled prior parameters for ``design``.

    Parameters
    ----------
    design : Design
    priors : PriorSpec
        Multipliers (see module docstring).
    """
    y_sd = float(np.std(design.y, ddof=1))
    names = list(design.fixed_names)
    intercept_index = names.index(INTERCEPT) if INTERCEPT in names else None
    x_sd = _column_sd(design.X)
    x_means = design.X.mean(axis=0)
    beta_sd = priors.fixed_scale * y_sd / x_sd
    if intercept_index is not None:
        x_means[intercept_index] = 0.0
        beta_sd[intercept_index] = priors.intercept_scale * y_sd
    else:
        x_means = np.zeros_like(x_means)
    sd_scales = {g.factor: _group_sd_scales(g, y_sd, priors.sd_scale) for g in design.groups}
    return PriorScales(
        y_mean=float(design.y.mean()),
        y_sd=y_sd,
        x_means=x_means,
        beta_sd=beta_sd,
        intercept_index=intercept_index,
        sd_scales=sd_scales,
        sigma_rate=1.0 / (priors.sigma_scale * y_sd),
    )
