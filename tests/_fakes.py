"""The one builder of fake fits: a Fit whose posterior holds chosen draws, without sampling.

Reports, plots, the summary and saved files only read ``Fit.posterior`` (and a few other
DataTree groups) and ``Fit.design``, so a Fit assembled from chosen ``(chain, draw, ...)``
arrays lets tests compare tables with exact numpy arithmetic. Every test module that
needs such a fit builds it here (:func:`fake_fit` for the common case of given SDs,
:func:`posterior_fit` for anything else).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from hierlmm.design import build_design
from hierlmm.inference.result import Fit
from hierlmm.model import names
from hierlmm.spec.formula import parse_formula


def corr_matrix(r: np.ndarray, q: int = 2) -> np.ndarray:
    """(chain, draw, q, q) correlation matrices with every off-diagonal entry r (chain, draw)."""
    out = np.broadcast_to(r[..., None, None], r.shape + (q, q)).copy()
    idx = np.arange(q)
    out[..., idx, idx] = 1.0
    return out


def _dims(name: str, design) -> tuple[str, ...]:
    """The dimensions after (chain, draw) of posterior variable ``name``."""
    if name == names.BETA:
        return (names.FIXED_DIM,)
    for g in design.groups:
        f = g.factor
        if name == names.sd(f):
            return (names.term_dim(f),)
        if name == names.corr(f):
            return (names.term_dim(f), names.term_dim_bis(f))
        if name == names.effects(f):
            return (names.level_dim(f), names.term_dim(f))
    return ()  # sigma, nu and other scalars


def posterior_fit(formula: str, data: pd.DataFrame, variables: dict[str, np.ndarray], *,
                  groups: dict[str, xr.Dataset] | None = None, engine: str = "sampled",
                  sampler: str = "nutpie", seed: int = 0, timings: dict | None = None,
                  settings: dict | None = None, object_labels: bool = False) -> Fit:
    """A Fit of ``formula`` on ``data`` whose posterior holds ``variables``.

    Parameters
    ----------
    formula : str
    data : pandas.DataFrame
    variables : dict of str to ndarray
        Posterior draws by PyMC name (:mod:`hierlmm.model.names`), each shaped
        ``(chain, draw, ...)``: ``beta`` (C, D, p), ``sigma`` (C, D), ``sd_<f>`` (C, D, q),
        ``corr_<f>`` (C, D, q, q), ``b_<f>`` (C, D, L, q).
    groups : dict of str to xarray.Dataset, optional
        Other DataTree groups (``sample_stats``, ``observed_data``, ...).
    engine, sampler, seed, timings, settings
        As the fields of :class:`~hierlmm.inference.result.Fit`.
    object_labels : bool
        Store term and level coordinates as object arrays (as a saved file does).
    """
    spec = parse_formula(formula)
    design = build_design(spec, data)

    def labels(values):
        return np.array(values, dtype=object) if object_labels else list(values)

    coords = {names.FIXED_DIM: labels(design.fixed_names)}
    for g in design.groups:
        coords[names.term_dim(g.factor)] = labels(g.terms)
        if names.corr(g.factor) in variables:
            coords[names.term_dim_bis(g.factor)] = labels(g.terms)
        if names.effects(g.factor) in variables:
            coords[names.level_dim(g.factor)] = labels(g.levels)
    chains, draws = next(iter(variables.values())).shape[:2]
    coords.update({"chain": np.arange(chains), "draw": np.arange(draws)})
    posterior = xr.Dataset(
        {k: (("chain", "draw") + _dims(k, design), v) for k, v in variables.items()},
        coords=coords)
    tree = xr.DataTree.from_dict({"posterior": posterior, **(groups or {})})
    return Fit(idata=tree, spec=spec, design=design, engine=engine, sampler=sampler,
               seed=seed, timings=timings or {}, settings=settings or {})


def fake_fit(formula: str, data: pd.DataFrame, *, sd: dict, sigma: np.ndarray,
             corr: dict | None = None, seed: int = 0) -> Fit:
    """A Fit with posterior ``sd_<f>`` = sd[f] (chain, draw, q), ``sigma`` (chain, draw),
    ``corr_<f>`` = corr[f] (chain, draw, q, q) and random ``beta`` (chain, draw, p)."""
    design = build_design(parse_formula(formula), data)
    chains, draws = sigma.shape
    rng = np.random.default_rng(seed)
    variables = {names.BETA: rng.normal(size=(chains, draws, design.p)), names.SIGMA: sigma}
    for g in design.groups:
        variables[names.sd(g.factor)] = sd[g.factor]
        if corr and g.factor in corr:
            variables[names.corr(g.factor)] = corr[g.factor]
    return posterior_fit(formula, data, variables, seed=seed)
