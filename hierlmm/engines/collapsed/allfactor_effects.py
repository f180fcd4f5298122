"""After an all-factor collapsed fit: exact joint draws of every factor's effects.

For a posterior draw of ``(beta, sigma, L_1..L_K)`` one joint draw of all effects
``b | y, theta`` comes from the blocked Cholesky factor of the same system the
likelihood used (:func:`~hierlmm.engines.collapsed.allfactor.draw_all_effects`). Each
draw costs a dense Cholesky of the m x m Schur block, so the effects are drawn for an
evenly thinned subset of draws when all of them would exceed :data:`RECOVER_FLOPS`
(or :data:`~hierlmm.engines.collapsed.effects.EFFECTS_BUDGET` cells); those are stored
in the ``posterior_effects`` group, which :func:`hierlmm.inference.joint.joint_posterior`
pairs with their parameter draws. The draws are independent and run on several threads
(:mod:`hierlmm.engines.threads`; the normals are drawn first, so the effects do not
depend on the thread count).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from threadpoolctl import threadpool_limits

from hierlmm.design.design import Design
from hierlmm.engines.collapsed.allfactor import Response, draw_all_effects
from hierlmm.engines.collapsed.blocks import FactorBlocks, order_groups
from hierlmm.engines.collapsed.effects import EFFECTS_BUDGET
from hierlmm.engines.collapsed.stats import shifted_beta
from hierlmm.engines.threads import evaluation_threads, for_each_index
from hierlmm.model import names
from hierlmm.model.covariance import factor_covariance_root

RECOVER_FLOPS = 4e10  # flops spent on effect draws (a few seconds here)


def draws_to_keep(chains: int, draws: int, blocks: FactorBlocks) -> np.ndarray:
    """Evenly spaced draw indices (per chain) within the flop and cell budgets; >= 1.

    One draw costs the Schur complement (``L1 q1 m^2`` flops when ``G12`` is dense) and
    its Cholesky (``m^3 / 3``).
    """
    schur = 0.0 if blocks.is_sparse else 2.0 * blocks.first_size * blocks.m**2
    per_draw = blocks.m**3 / 3 + schur + 50.0 * (blocks.first_size + blocks.m)
    cells = blocks.first_size + blocks.m
    n_keep = min(draws, int(RECOVER_FLOPS / per_draw) // chains,
                 EFFECTS_BUDGET // max(1, chains * cells))
    n_keep = max(1, n_keep)
    return np.unique(np.linspace(0, draws - 1, n_keep).round().astype(int))


def _draw(posterior: xr.Dataset, design: Design, blocks: FactorBlocks, response: Response,
          shift: float, intercept_index: int | None, rng: np.random.Generator) -> xr.Dataset:
    groups = order_groups(design.groups)
    flat = posterior.stack(sample=("chain", "draw"))
    beta = flat[names.BETA].transpose("sample", ...).values
    beta = shifted_beta(beta, shift, intercept_index)
    sigma = flat[names.SIGMA].values
    roots = [factor_covariance_root(posterior, g).reshape(-1, g.q, g.q) for g in groups]
    normals = rng.standard_normal((sigma.shape[0], blocks.first_size + blocks.m))
    out = np.empty_like(normals)  # (draws, Q)

    def draw(i: int) -> None:
        out[i] = draw_all_effects(blocks, response, beta[i], float(sigma[i]),
                                  [r[i] for r in roots], normals=normals[i])

    for_each_index(sigma.shape[0], [draw] * evaluation_threads())  # draw() shares nothing
    offs, chains, n_draws = blocks.offsets, posterior.sizes["chain"], posterior.sizes["draw"]
    data = {}
    for k, g in enumerate(groups):
        f = g.factor
        values = out[:, offs[k]:offs[k + 1]].reshape(chains, n_draws, g.n_levels, g.q)
        data[names.effects(f)] = xr.DataArray(
            values, dims=("chain", "draw", names.level_dim(f), names.term_dim(f)),
            coords={"chain": posterior.chain, "draw": posterior.draw,
                    names.level_dim(f): list(g.levels), names.term_dim(f): list(g.terms)},
        )
    return xr.Dataset(data)


def add_all_effects(
    posterior: xr.Dataset,
    *,
    design: Design,
    blocks: FactorBlocks,
    response: tuple[np.ndarray, np.ndarray, float],
    shift: float,
    intercept_index: int | None,
    seed: int,
) -> tuple[xr.Dataset, xr.Dataset | None]:
    """The posterior with ``b_<factor>`` for every factor, or those effects thinned.

    Parameters
    ----------
    posterior : xarray.Dataset
        Draws of ``beta``, ``sigma`` and every factor's SDs (and correlations).
    design : Design
    blocks : FactorBlocks
    response : (Zty, Xty, yty)
        Statistics of ``y - shift`` as the likelihood used them.
    shift : float
    intercept_index : int or None
    seed : int

    Returns
    -------
    posterior : xarray.Dataset
    thinned : xarray.Dataset or None
        When over budget: every factor's effects for the kept draws only.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20152]))
    args = (design, blocks, Response(*response), shift, intercept_index, rng)
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    keep = draws_to_keep(chains, draws, blocks)
    with threadpool_limits(1, user_api="blas"):  # see hierlmm.inference.samplers
        if keep.size == draws:
            return posterior.assign(_draw(posterior, *args).data_vars), None
        return posterior, _draw(posterior.isel(draw=keep), *args)
