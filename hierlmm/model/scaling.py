"""Internal units: every model is fitted to a standardized copy of its design.

Whether a response is in metres or nanometres must not decide whether the sampler
works. The engines therefore see

- the response ``y' = (y - loc) / scale`` with ``loc = mean(y)`` when the model has an
  intercept (else 0) and ``scale = sd(y)``, for families whose response is on a
  continuous scale (:attr:`~hierlmm.families.base.Family.scales_response`);
- every fixed-effect column divided by its SD (the intercept column kept);
- every random-slope column divided by its SD (random intercepts kept).

The default priors are scaled by the same SDs (:mod:`hierlmm.model.priors`), so they
transform exactly with the data: the posterior in the user's units is the same whatever
the units, and the sampler meets the same geometry. After sampling,
:func:`unscale_draws` maps the draws back (correlations and non-scale parameters such
as ``nu`` are unchanged)::

    beta_k = scale * beta'_k / s_x,k   (intercept: loc + scale * beta'_0)
    sd_f,k = scale * sd'_f,k / s_z,k,   b_f,k = scale * b'_f,k / s_z,k
    sigma  = scale * sigma'
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import xarray as xr

from hierlmm.design.design import Design, GroupDesign
from hierlmm.families.base import Family
from hierlmm.model import names
from hierlmm.model.priors import column_sd, intercept_index
from hierlmm.spec.schema import INTERCEPT


@dataclass(frozen=True)
class Scaling:
    """How a design was standardized.

    Attributes
    ----------
    y_loc, y_scale : float
        ``y' = (y - y_loc) / y_scale``.
    x_scale : ndarray, shape (p,)
        Divisor of each fixed-effect column (1 for the intercept).
    z_scale : dict of str to ndarray
        Per factor, the divisor of each effect column, shape (q_f,) (1 for intercepts).
    intercept_index : int or None
    scale_parameters : tuple of str
        Family parameters measured in the response's units (e.g. ``sigma``).
    """

    y_loc: float
    y_scale: float
    x_scale: np.ndarray
    z_scale: dict[str, np.ndarray]
    intercept_index: int | None
    scale_parameters: tuple[str, ...]


def _effect_scale(group: GroupDesign) -> np.ndarray:
    """Divisors of a factor's effect columns, shape (q,): 1 for the intercept."""
    return np.where(np.asarray(group.terms) == INTERCEPT, 1.0, column_sd(group.Z))


def standardize(design: Design, family: Family) -> tuple[Design, Scaling]:
    """A copy of ``design`` in internal units, and the :class:`Scaling` that undoes it.

    Memory: one copy of ``y`` (n,), ``X`` (n, p) and each ``Z`` (n, q_f).
    """
    index = intercept_index(design)
    x_scale = column_sd(design.X)
    if index is not None:
        x_scale[index] = 1.0
    loc, scale = 0.0, 1.0
    if family.scales_response:
        scale = float(column_sd(design.y[:, None])[0])
        loc = float(design.y.mean()) if index is not None else 0.0
    z_scale = {g.factor: _effect_scale(g) for g in design.groups}
    groups = tuple(replace(g, Z=g.Z / z_scale[g.factor]) for g in design.groups)
    scaled = replace(design, y=(design.y - loc) / scale, X=design.X / x_scale, groups=groups)
    scaling = Scaling(loc, scale, x_scale, z_scale, index, family.scale_parameters)
    return scaled, scaling


def _terms_last(values: xr.DataArray, dim: str, divisor: np.ndarray) -> xr.DataArray:
    return values / xr.DataArray(divisor, dims=(dim,))


def unscale_draws(draws: xr.Dataset, scaling: Scaling) -> xr.Dataset:
    """Map draws in internal units back to the user's units.

    Parameters
    ----------
    draws : xarray.Dataset
        Any of ``beta`` (..., fixed_term), ``sd_<f>`` (..., <f>_term), ``b_<f>``
        (..., <f>_level, <f>_term) and the family's scale parameters; other variables
        (correlations, ``nu``) pass through unchanged.
    scaling : Scaling

    Returns
    -------
    xarray.Dataset
    """
    s = scaling.y_scale
    out = {}
    if names.BETA in draws:
        beta = s * _terms_last(draws[names.BETA], names.FIXED_DIM, scaling.x_scale)
        if scaling.intercept_index is not None:
            shift = np.zeros(scaling.x_scale.shape)
            shift[scaling.intercept_index] = scaling.y_loc
            beta = beta + xr.DataArray(shift, dims=(names.FIXED_DIM,))
        out[names.BETA] = beta
    for factor, divisor in scaling.z_scale.items():
        for name in (names.sd(factor), names.effects(factor)):
            if name in draws:
                out[name] = s * _terms_last(draws[name], names.term_dim(factor), divisor)
    for name in scaling.scale_parameters:
        if name in draws:
            out[name] = s * draws[name]
    return draws.assign({k: v.transpose(*draws[k].dims) for k, v in out.items()})
