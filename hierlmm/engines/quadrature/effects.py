"""After a quadrature fit: draw each level's effects given every posterior draw.

The quadrature engine samples ``(beta, Sigma[, shape])`` from their marginal posterior;
the effects ``b_j = L u_j`` are then drawn from ``p(u_j | y_j, theta)`` for each posterior
draw: independence Metropolis-Hastings per level, with a multivariate t proposal
(:data:`PROPOSAL_DF` degrees of freedom) at the level's mode and scale ``H^{-1}`` (the
Laplace fit the likelihood already made), started at a proposal draw and run for
:data:`IMH_STEPS` steps. The proposal is close to the target (ten binary observations per
level: acceptance about 0.9, see the engine's tests), so a few steps leave the draw's
distribution within a small total-variation distance of the exact conditional; the mean
acceptance is stored in the posterior's attributes (``effects_acceptance``).

The draws go into ``b_<factor>`` (chain, draw, level, term) as for every engine, thinned
over :data:`~hierlmm.engines.collapsed.effects.EFFECTS_BUDGET` cells like the collapsed
engine's.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import xarray as xr

from hierlmm.engines.collapsed.effects import EFFECTS_BUDGET, as_effects, kept_draws
from hierlmm.engines.quadrature.kernel import level_mode, log_integrand, node_point
from hierlmm.engines.quadrature.likelihood import LevelData
from hierlmm.model import names
from hierlmm.model.covariance import factor_covariance_root

PROPOSAL_DF = 8.0
IMH_STEPS = 5


@numba.njit(cache=True, nogil=True, parallel=True)
def _draw_levels(kind, y, m, eta0, A, starts, alpha, u_cache, normals, chi2, unif, df,
                 out):  # pragma: no cover
    """One draw of ``u_j`` per level (``out`` (L, q)); returns accepted moves per level.

    ``normals`` (L, T + 1, q), ``chi2`` (L, T + 1) and ``unif`` (L, T) hold the random
    numbers of the start and the T proposals."""
    n_levels = starts.shape[0] - 1
    q = A.shape[1]
    steps = unif.shape[1]
    accepted = np.zeros(n_levels)
    for j in numba.prange(n_levels):
        r0, r1 = starts[j], starts[j + 1]
        u_hat = np.empty(q)
        R = np.empty((q, q))
        level_mode(kind, y, m, eta0, A, r0, r1, alpha, u_cache[j], u_hat, R)
        current = np.empty(q)
        trial = np.empty(q)
        log_w = -np.inf
        for t in range(steps + 1):
            z2 = 0.0
            for a in range(q):
                z2 += normals[j, t, a] * normals[j, t, a]
            scale = 1.0 / math.sqrt(chi2[j, t] / df)
            node_point(u_hat, R, normals[j, t], scale, trial)
            # log target - log t proposal (up to constants); z2 * scale^2 is the
            # proposal's Mahalanobis distance
            w = log_integrand(kind, y, m, eta0, A, r0, r1, trial, alpha) \
                + 0.5 * (df + q) * math.log1p(z2 * scale * scale / df)
            if t == 0 or math.log(unif[j, t - 1]) < w - log_w:
                if t > 0:
                    accepted[j] += 1.0
                log_w = w
                for a in range(q):
                    current[a] = trial[a]
        for a in range(q):
            out[j, a] = current[a]
    return accepted


def draw_chunk(data: LevelData, beta, chol, shape, rng, out) -> float:
    """Effects ``b`` (d, L, q) into ``out`` for ``d`` draws; returns accepted moves."""
    L, q = data.n_levels, data.q
    accepted = 0.0
    u = np.empty((L, q))
    for s in range(beta.shape[0]):
        eta0 = data.X @ beta[s] + data.offset
        A = np.ascontiguousarray(data.Z @ chol[s])
        normals = rng.standard_normal((L, IMH_STEPS + 1, q))
        chi2 = rng.chisquare(PROPOSAL_DF, (L, IMH_STEPS + 1))
        unif = rng.uniform(size=(L, IMH_STEPS))
        accepted += _draw_levels(data.kind, data.y, data.trials, eta0, A, data.starts,
                                 float(shape[s]), data.modes, normals, chi2, unif,
                                 PROPOSAL_DF, u).sum()
        out[s] = u @ chol[s].T  # b_j = L u_j
    return accepted


def draw_effects(posterior: xr.Dataset, *, data: LevelData, group, shape_name: str | None,
                 rng: np.random.Generator) -> tuple[xr.DataArray, float]:
    """One draw of the factor's effects per posterior draw, and the mean acceptance.

    Returns
    -------
    effects : xarray.DataArray, dims (chain, draw, <f>_level, <f>_term)
    acceptance : float
        Accepted moves over proposals made after each start.
    """
    p = posterior.sizes[names.FIXED_DIM]
    beta = posterior[names.BETA].values.reshape(-1, p)
    chol = factor_covariance_root(posterior, group).reshape(-1, group.q, group.q)
    shape = (np.ones(beta.shape[0]) if shape_name is None
             else posterior[shape_name].values.reshape(-1))
    out = np.empty((beta.shape[0], group.n_levels, group.q))
    accepted = draw_chunk(data, beta, chol, shape, rng, out)
    effects = as_effects(out, posterior, group)
    return effects, accepted / (beta.shape[0] * group.n_levels * IMH_STEPS)


def add_quadrature_effects(posterior: xr.Dataset, *, data: LevelData, group,
                           shape_name: str | None, seed: int
                           ) -> tuple[xr.Dataset, xr.Dataset | None]:
    """The posterior with ``b_<factor>`` (or, over budget, the thinned effects apart).

    Parameters
    ----------
    posterior : xarray.Dataset
        Draws of ``beta`` and the factor's SDs (and correlations), internal units.
    data : LevelData
    group : GroupDesign
    shape_name : str or None
        The negative binomial shape's variable, None for other families.
    seed : int
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 30817]))
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    name = names.effects(group.factor)
    args = dict(data=data, group=group, shape_name=shape_name, rng=rng)
    if chains * draws * group.n_levels * group.q <= EFFECTS_BUDGET:
        effects, acceptance = draw_effects(posterior, **args)
        posterior = posterior.assign({name: effects})
        posterior.attrs["effects_acceptance"] = acceptance
        return posterior, None
    keep = kept_draws(chains, draws, group.n_levels * group.q, EFFECTS_BUDGET)
    effects, acceptance = draw_effects(posterior.isel(draw=keep), **args)
    thinned = xr.Dataset({name: effects}, attrs={"effects_acceptance": acceptance})
    return posterior, thinned
