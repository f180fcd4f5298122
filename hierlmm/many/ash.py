"""Adaptive shrinkage across outcomes for one fixed effect (in the spirit of ashr).

Each outcome's posterior mean and SD of the effect, ``(b_j, s_j)``, are read as a normal
likelihood ``b_j ~ N(beta_j, s_j^2)`` (the per-outcome prior on a fixed effect is wide
and data-scaled, so the posterior is close to the likelihood). The effects share a prior
estimated from all outcomes: a point mass at zero plus zero-centred normals on a grid of
SDs, ``g = pi_0 delta_0 + sum_k pi_k N(0, sigma_k^2)``, with weights by EM (Stephens
2017, unimodal "normal mixture" prior). Each outcome's posterior under ``g`` is a mixture
of normals, giving a shrunken mean and SD, the local false discovery rate ``lfdr`` (the
posterior mass at zero) and the local false sign rate ``lfsr``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import ndtr

ITERATIONS = 500


def _grid(b: np.ndarray, s: np.ndarray) -> np.ndarray:
    lo = max(np.min(s) / 10.0, 1e-12)
    hi = 2.0 * np.sqrt(max(np.max(b**2 - s**2), lo**2))
    return np.concatenate([[0.0], np.exp(np.arange(np.log(lo), np.log(hi) + 0.35, 0.35))])


def _likelihood(b: np.ndarray, s: np.ndarray, grid: np.ndarray) -> np.ndarray:
    var = s[:, None] ** 2 + grid[None, :] ** 2  # (m, K)
    return np.exp(-0.5 * b[:, None] ** 2 / var) / np.sqrt(2 * np.pi * var)


def adaptive_shrinkage(mean: np.ndarray, sd: np.ndarray) -> pd.DataFrame:
    """Shrunken mean, SD, lfdr and lfsr of each outcome's effect.

    Parameters
    ----------
    mean, sd : ndarray, shape (m,)
        Per-outcome posterior mean and SD of the effect (finite, ``sd > 0``).

    Returns
    -------
    pandas.DataFrame, shape (m, 4)
        ``ash_mean, ash_sd, lfdr, lfsr``; the estimated null weight is in
        ``attrs["pi0"]``.
    """
    b, s = np.asarray(mean, float), np.asarray(sd, float)
    grid = _grid(b, s)
    lik = _likelihood(b, s, grid)
    pi = np.full(grid.size, 1.0 / grid.size)
    prior_counts = np.ones(grid.size)
    prior_counts[0] = 10.0  # ashr's default nullbiased penalty on the null weight
    for _ in range(ITERATIONS):
        w = lik * pi
        w /= w.sum(axis=1, keepdims=True)
        new = w.sum(axis=0) + prior_counts - 1.0
        new /= new.sum()
        if np.max(np.abs(new - pi)) < 1e-8:
            pi = new
            break
        pi = new
    w = lik * pi
    w /= w.sum(axis=1, keepdims=True)  # (m, K) posterior component weights
    var_k = grid**2
    shrink = var_k[None, :] / (var_k[None, :] + s[:, None] ** 2)
    mu = shrink * b[:, None]
    v = shrink * s[:, None] ** 2
    post_mean = np.sum(w * mu, axis=1)
    post_sd = np.sqrt(np.maximum(np.sum(w * (v + mu**2), axis=1) - post_mean**2, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_neg = np.where(v > 0, ndtr(-mu / np.sqrt(v)), 0.0)
    lfdr = w[:, 0]
    negative = np.sum(w[:, 1:] * p_neg[:, 1:], axis=1)
    positive = 1.0 - lfdr - negative
    table = pd.DataFrame({"ash_mean": post_mean, "ash_sd": post_sd, "lfdr": lfdr,
                          "lfsr": lfdr + np.minimum(positive, negative)})
    table.attrs["pi0"] = float(pi[0])
    return table
