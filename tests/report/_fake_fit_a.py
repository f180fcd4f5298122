"""Build a Fit whose posterior holds given draws, without sampling (report tests, part A).

Reports only read ``Fit.posterior`` and ``Fit.design``, so a Fit assembled from chosen
(chain, draw) arrays lets tests compare tables with exact numpy arithmetic.
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


def fake_fit(formula: str, data: pd.DataFrame, *, sd: dict, sigma: np.ndarray,
             corr: dict | None = None, seed: int = 0) -> Fit:
    """A Fit with posterior ``sd_<f>`` = sd[f] (chain, draw, q), ``sigma`` (chain, draw),
    ``corr_<f>`` = corr[f] (chain, draw, q, q) and random ``beta`` (chain, draw, p)."""
    spec = parse_formula(formula)
    design = build_design(spec, data)
    chains, draws = sigma.shape
    rng = np.random.default_rng(seed)
    dims = ("chain", "draw")
    coords = {"chain": np.arange(chains), "draw": np.arange(draws),
              names.FIXED_DIM: list(design.fixed_names)}
    variables = {
        names.BETA: (dims + (names.FIXED_DIM,), rng.normal(size=(chains, draws, design.p))),
        names.SIGMA: (dims, sigma),
    }
    for g in design.groups:
        f = g.factor
        coords[names.term_dim(f)] = list(g.terms)
        variables[names.sd(f)] = (dims + (names.term_dim(f),), sd[f])
        if corr and f in corr:
            coords[names.term_dim_bis(f)] = list(g.terms)
            variables[names.corr(f)] = (dims + (names.term_dim(f), names.term_dim_bis(f)),
                                        corr[f])
    posterior = xr.Dataset(variables, coords=coords)
    return Fit(idata=xr.DataTree.from_dict({"posterior": posterior}), spec=spec, design=design,
               engine="sampled", sampler="nutpie", seed=seed)
