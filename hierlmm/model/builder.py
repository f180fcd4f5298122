"""Assemble the PyMC model of a :class:`~hierlmm.design.Design`.

``build_model(design=..., spec=..., engine=...)`` returns a :class:`BuiltModel`: the
``pm.Model`` plus what inference needs to finish the job (which factor, if any, was
integrated out by the collapsed engine, and the prior scales).

Engines
-------
``"sampled"``
    Every random effect is a (non-centred) parameter; Gaussian likelihood per row.
``"collapsed"``
    The factor with the most levels is integrated out analytically from sufficient
    statistics (Bates et al. 2015, sec. 3; Woodbury identity); any other factors are
    sampled non-centred and enter as an offset. Its effects are drawn exactly after
    sampling (:mod:`hierlmm.inference.recover`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from hierlmm._pytensor_setup import configure as configure_pytensor
from hierlmm.design.design import Design, GroupDesign
from hierlmm.errors import SpecError
from hierlmm.model import names
from hierlmm.model.likelihoods.gaussian_collapsed_term import add_collapsed_likelihood
from hierlmm.model.priors import PriorScales, prior_scales
from hierlmm.model.random_effects import (
    add_covariance,
    add_effects,
    group_contribution,
    group_coords,
)
from hierlmm.options import IMPLEMENTED_FAMILIES
from hierlmm.spec.schema import ModelSpec


@dataclass(frozen=True)
class BuiltModel:
    """A PyMC model and the facts inference needs about it.

    Attributes
    ----------
    model : pm.Model
    engine : {"sampled", "collapsed"}
        The engine actually used.
    collapsed_factor : str or None
        Factor integrated out by the collapsed engine.
    scales : PriorScales
    """

    model: pm.Model
    engine: str
    collapsed_factor: str | None
    scales: PriorScales


def resolve_engine(engine: str, spec: ModelSpec, design: Design) -> str:
    """Turn ``"auto"`` into a concrete engine and check the choice is possible."""
    if engine == "auto":
        return "collapsed" if spec.family == "gaussian" and design.groups else "sampled"
    if engine == "collapsed" and (spec.family != "gaussian" or not design.groups):
        raise SpecError(
            'engine="collapsed" needs a gaussian model with at least one grouping factor; '
            'use engine="sampled" or "auto"'
        )
    return engine


def collapsed_factor_of(design: Design) -> GroupDesign:
    """The factor the collapsed engine integrates out: the one with most levels."""
    return max(design.groups, key=lambda g: g.n_levels * g.q)


def _coords(design: Design) -> dict[str, list[str]]:
    coords: dict[str, list[str]] = {names.FIXED_DIM: list(design.fixed_names)}
    for g in design.groups:
        coords.update(group_coords(g))
    return coords


def _add_fixed(*, model: pm.Model, design: Design, scales: PriorScales) -> pt.TensorVariable:
    """Add fixed effects on the centred design; return the centred coefficients (p,).

    The reported ``beta`` is the uncentred vector: its intercept is shifted by
    ``- sum_k beta_k * mean(x_k)``.
    """
    prior_mean = np.zeros(design.p)
    if scales.intercept_index is not None:
        prior_mean[scales.intercept_index] = scales.y_mean
    with model:
        beta_c = pm.Normal(
            names.BETA_CENTERED, mu=prior_mean, sigma=scales.beta_sd, dims=names.FIXED_DIM
        )
        beta = beta_c
        if scales.intercept_index is not None:
            shift = pt.dot(beta_c, scales.x_means)
            index = scales.intercept_index
            beta = pt.set_subtensor(beta_c[index], beta_c[index] - shift)
        pm.Deterministic(names.BETA, beta, dims=names.FIXED_DIM)
    return beta_c


def build_model(*, design: Design, spec: ModelSpec, engine: str = "auto") -> BuiltModel:
    """Build the PyMC model for ``design`` under ``spec``.

    Parameters
    ----------
    design : Design
        Encoded data (n rows, p fixed columns, K grouping factors).
    spec : ModelSpec
        Family, priors and residual structure.
    engine : {"auto", "collapsed", "sampled"}

    Returns
    -------
    BuiltModel
    """
    if spec.family not in IMPLEMENTED_FAMILIES:
        raise SpecError(
            f"family={spec.family!r} is planned but not implemented yet; "
            f"available: {', '.join(IMPLEMENTED_FAMILIES)}"
        )
    if spec.residual.kind != "iid":
        raise SpecError(f"residual={spec.residual.kind!r} is planned but not implemented yet")
    engine = resolve_engine(engine, spec, design)
    scales = prior_scales(design, spec.priors)
    configure_pytensor()  # hierlmm's first use of PyTensor in this process (runs once)
    model = pm.Model(coords=_coords(design))
    Xc = design.X - scales.x_means  # (n, p) centred fixed design
    beta_c = _add_fixed(model=model, design=design, scales=scales)
    chols = {
        g.factor: add_covariance(
            model=model, group=g, sd_scale=scales.sd_scales[g.factor],
            lkj_eta=spec.priors.lkj_eta,
        )
        for g in design.groups
    }
    collapsed = collapsed_factor_of(design) if engine == "collapsed" else None
    with model:
        sigma = pm.Exponential(names.SIGMA, lam=scales.sigma_rate)
        offset = pt.zeros(design.n)
        for g in design.groups:
            if collapsed is not None and g.factor == collapsed.factor:
                continue
            b = add_effects(model=model, group=g, chol=chols[g.factor])
            codes = pm.Data(names.data_codes(g.factor), g.codes)
            Z = pm.Data(names.data_z(g.factor), g.Z)
            offset = offset + group_contribution(effects=b, codes=codes, Z=Z)  # (n,)
        if collapsed is None:
            mu = pt.dot(pm.Data(names.DATA_X, Xc), beta_c) + offset  # (n, p) @ (p,) + (n,)
            y_data = pm.Data(names.DATA_Y, design.y)
            pm.Normal(names.RESPONSE, mu=mu, sigma=sigma, observed=y_data)  # (n,)
        else:
            add_collapsed_likelihood(
                model=model, design=design, group=collapsed, Xc=Xc, beta=beta_c, sigma=sigma,
                chol=chols[collapsed.factor], offset=offset if len(design.groups) > 1 else None,
                intercept_index=scales.intercept_index,
            )
    return BuiltModel(model=model, engine=engine, collapsed_factor=collapsed and collapsed.factor,
                      scales=scales)
