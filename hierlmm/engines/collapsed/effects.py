"""After a collapsed fit: draw the integrated-out factor's effects exactly.

For every posterior draw of ``(beta, sigma, Sigma)`` (and of the other factors' sampled
effects), one draw of ``b_j | y, theta`` per level is added to the posterior as
``b_<factor>`` (chain, draw, level, term), exactly as the sampled engine stores it.

When that array would exceed :data:`EFFECTS_BUDGET` cells (e.g. 100,000 levels x 2
effects x 4,000 draws), the effects are drawn for an evenly thinned subset of draws
only, so that they fit the budget, and returned as a separate dataset whose ``draw``
coordinate names the posterior draws they pair with. Every such draw is still an exact
joint draw with its parameters; :func:`hierlmm.inference.joint.joint_posterior` pairs
them for the reports, so predictions, predictive checks and shrinkage work at any size.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from hierlmm.design.design import Design, GroupDesign
from hierlmm.engines.collapsed import series_effects
from hierlmm.engines.collapsed.recover import draw_group_effects
from hierlmm.engines.collapsed.stats import GroupSuffStats, group_crossprod, shifted_beta
from hierlmm.model import names
from hierlmm.model.covariance import factor_covariance_root
from hierlmm.model.linear_predictor import add_group_terms

EFFECTS_BUDGET = 20_000_000  # cells (chain * draw * levels * q) stored as draws
EFFECTS_GROUP = "posterior_effects"  # DataTree group of thinned effect draws
_CHUNK = 64  # draws per chunk


def other_effects_zr(
    posterior: xr.Dataset, design: Design, group: GroupDesign, part: slice
) -> np.ndarray | None:
    """``Z_j' o_j`` of the other factors' effects for flattened draws ``part``, (d, L, q)."""
    others = [g for g in design.groups if g.factor != group.factor]
    if not others:
        return None
    offset = None
    for g in others:
        b = posterior[names.effects(g.factor)].values.reshape(-1, g.n_levels, g.q)[part]
        if offset is None:
            offset = np.zeros((b.shape[0], design.n))
        add_group_terms(offset, b, g.codes, g.Z)  # (d, n)
    zr = group_crossprod(group.codes, group.Z, offset.T, group.n_levels)  # (L, q, d)
    return np.moveaxis(zr, -1, 0)


def _parameters(posterior: xr.Dataset, group: GroupDesign, shift: float, index: int | None):
    """Flattened draws of beta (with the response shift on its intercept), sigma and L."""
    beta = posterior[names.BETA].values.reshape(-1, posterior.sizes[names.FIXED_DIM])
    sigma = posterior[names.SIGMA].values.reshape(-1)
    chol = factor_covariance_root(posterior, group).reshape(-1, group.q, group.q)
    return shifted_beta(beta, shift, index), sigma, chol


def draw_effects(
    posterior: xr.Dataset,
    *,
    design: Design,
    group: GroupDesign,
    stats: GroupSuffStats,
    shift: float,
    intercept_index: int | None,
    rng: np.random.Generator,
    series: tuple | None = None,
) -> xr.DataArray:
    """One exact draw of the factor's effects per posterior draw.

    ``series``: ``(SeriesPieces, ResidualStructure)`` for AR(1)/CAR(1) residuals, whose
    ``R^{-1}``-weighted statistics replace ``stats``.

    Returns
    -------
    xarray.DataArray, dims (chain, draw, <f>_level, <f>_term)
        With the chain and draw coordinates of ``posterior``.
    """
    if series is not None:
        out = draw_series_effects(posterior, design=design, group=group, series=series,
                                  shift=shift, intercept_index=intercept_index, rng=rng)
        return as_effects(out, posterior, group)
    beta, sigma, chol = _parameters(posterior, group, shift, intercept_index)
    out = np.empty((sigma.shape[0], group.n_levels, group.q))
    for start in range(0, sigma.shape[0], _CHUNK):
        part = slice(start, start + _CHUNK)
        out[part] = draw_group_effects(
            beta=beta[part], sigma=sigma[part], chol=chol[part], stats=stats, rng=rng,
            offset_zr=other_effects_zr(posterior, design, group, part),
        )
    return as_effects(out, posterior, group)


def as_effects(out: np.ndarray, posterior: xr.Dataset, group: GroupDesign) -> xr.DataArray:
    """Flattened effect draws (D, L, q) as a (chain, draw, level, term) DataArray with
    ``posterior``'s chain and draw coordinates (every engine that draws effects)."""
    f = group.factor
    shape = (posterior.sizes["chain"], posterior.sizes["draw"], group.n_levels, group.q)
    return xr.DataArray(
        out.reshape(shape),
        dims=("chain", "draw", names.level_dim(f), names.term_dim(f)),
        coords={"chain": posterior.chain, "draw": posterior.draw,
                names.level_dim(f): list(group.levels), names.term_dim(f): list(group.terms)},
    )


def _series_offset(posterior, design, group, part) -> np.ndarray | None:
    """Other factors' effects per row for flattened draws ``part``, (d, n); None if none."""
    offset = None
    for g in design.groups:
        if g.factor == group.factor:
            continue
        b = posterior[names.effects(g.factor)].values.reshape(-1, g.n_levels, g.q)[part]
        if offset is None:
            offset = np.zeros((b.shape[0], design.n))
        add_group_terms(offset, b, g.codes, g.Z)
    return offset


def draw_series_effects(
    posterior: xr.Dataset,
    *,
    design: Design,
    group: GroupDesign,
    series: tuple,
    shift: float,
    intercept_index: int | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Exact effect draws (D, L, q) with AR(1)/CAR(1) residuals: ``R^{-1}``-weighted
    statistics at each draw's ``phi``, batched over chunks of draws
    (:mod:`hierlmm.engines.collapsed.series_effects`)."""
    pieces, structure = series
    beta, sigma, chol = _parameters(posterior, group, shift, intercept_index)
    phi = posterior[names.PHI].values.reshape(-1)
    Z_sorted = group.Z[pieces.order]
    indicator = series_effects.level_indicator(pieces)
    out = np.empty((sigma.shape[0], group.n_levels, group.q))
    for part in series_effects.chunks(sigma.shape[0], pieces, structure.kind):
        offset = _series_offset(posterior, design, group, part)
        out[part] = series_effects.draw_chunk(
            pieces=pieces, structure=structure, beta=beta[part], sigma=sigma[part],
            chol=chol[part], phi=phi[part], rng=rng, indicator=indicator, Z_sorted=Z_sorted,
            offset_sorted=None if offset is None else offset[:, pieces.order],
        )
    return out


def kept_draws(chains: int, draws: int, cells_per_draw: int, budget: int) -> np.ndarray:
    """Evenly spaced draw indices (per chain) whose effects fit ``budget`` cells; >= 1."""
    n_keep = max(1, min(draws, budget // max(1, chains * cells_per_draw)))
    return np.unique(np.linspace(0, draws - 1, n_keep).round().astype(int))


def add_collapsed_effects(
    posterior: xr.Dataset,
    *,
    design: Design,
    group: GroupDesign,
    stats: GroupSuffStats | None,
    shift: float,
    intercept_index: int | None,
    seed: int,
    series: tuple | None = None,
) -> tuple[xr.Dataset, xr.Dataset | None]:
    """Return the posterior with ``b_<factor>`` drawn exactly, or the thinned effects.

    Parameters
    ----------
    posterior : xarray.Dataset
        Draws of ``beta``, ``sigma``, the factor's SDs (and correlations) and the other
        factors' effects.
    design : Design
    group : GroupDesign
        The integrated-out factor.
    stats : GroupSuffStats
        Its statistics on ``(X, y - shift)``, as the likelihood used them.
    shift : float
        Constant subtracted from y; taken off the intercept draws to match ``stats``.
    intercept_index : int or None
    seed : int
    series : (SeriesPieces, ResidualStructure), optional
        AR(1)/CAR(1) residuals (then ``stats`` is unused).

    Returns
    -------
    posterior : xarray.Dataset
        With ``b_<factor>`` (chain, draw, level, term) when within budget.
    thinned : xarray.Dataset or None
        Over budget: ``b_<factor>`` for the draws :func:`kept_draws` selects, with those
        draws' coordinates (for the :data:`EFFECTS_GROUP` group of the DataTree).
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20151]))
    args = dict(design=design, group=group, stats=stats, shift=shift,
                intercept_index=intercept_index, rng=rng, series=series)
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    name = names.effects(group.factor)
    if chains * draws * group.n_levels * group.q <= EFFECTS_BUDGET:
        return posterior.assign({name: draw_effects(posterior, **args)}), None
    keep = kept_draws(chains, draws, group.n_levels * group.q, EFFECTS_BUDGET)
    thinned = draw_effects(posterior.isel(draw=keep), **args)
    return posterior, xr.Dataset({name: thinned})
