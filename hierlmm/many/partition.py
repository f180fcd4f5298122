"""Variance partition per draw, as variancePartition reports it.

For each draw the variance of the response splits into

- ``fixed``: the variance of the fitted fixed part ``X beta`` over the rows (intercept
  excluded);
- one share per grouping factor ``f``: the mean over rows of ``z_i' Sigma_f z_i``, the
  variance its random effects add at the observed rows (``Sigma_f`` from the SDs and
  correlations), which is ``sd^2`` for a random intercept;
- ``Residuals``: ``sigma^2`` (for a Student-t family the squared scale, not the
  variance ``sigma^2 nu / (nu - 2)``, which is infinite for ``nu <= 2``).

Each share divided by their sum is a fraction; the fractions sum to 1 in every draw.
"""

from __future__ import annotations

import numpy as np

from hierlmm.design.design import Design

FIXED = "fixed"
RESIDUAL = "Residuals"


def components(design: Design) -> tuple[str, ...]:
    """Component names: ``"fixed"`` (when there are slopes), each factor, ``"Residuals"``."""
    fixed = (FIXED,) if _slope_columns(design).size else ()
    return (*fixed, *(g.factor for g in design.groups), RESIDUAL)


def _slope_columns(design: Design) -> np.ndarray:
    return np.flatnonzero(np.ptp(design.X, axis=0) > 0)


def variance_fractions(
    design: Design, beta: np.ndarray, sds: dict[str, np.ndarray],
    corrs: dict[str, np.ndarray | None], sigma: np.ndarray,
) -> np.ndarray:
    """Fractions of variance per draw, in :func:`components` order.

    Parameters
    ----------
    design : Design
    beta : ndarray, shape (S, p)
    sds : dict of factor -> ndarray, shape (S, q_f)
    corrs : dict of factor -> ndarray, shape (S, q_f, q_f), or None (uncorrelated)
    sigma : ndarray, shape (S,)

    Returns
    -------
    ndarray, shape (S, C)
        Non-negative; each row sums to 1.
    """
    shares = []
    slopes = _slope_columns(design)
    if slopes.size:
        centred = design.X[:, slopes] - design.X[:, slopes].mean(axis=0)
        fitted = centred @ beta[:, slopes].T  # (n, S)
        shares.append(np.mean(fitted**2, axis=0))
    for g in design.groups:
        moment = g.Z.T @ g.Z / g.Z.shape[0]  # (q, q)
        sd = sds[g.factor]
        corr = corrs.get(g.factor)
        cov = sd[:, :, None] * sd[:, None, :]
        if corr is not None:
            cov = cov * corr
        else:
            cov = cov * np.eye(sd.shape[1])
        shares.append(np.einsum("ab,sab->s", moment, cov))
    shares.append(np.asarray(sigma) ** 2)
    stacked = np.stack(shares, axis=1)
    return stacked / stacked.sum(axis=1, keepdims=True)
