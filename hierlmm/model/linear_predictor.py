"""The linear predictor ``eta = X beta + sum_k Z_k b_k[codes_k]`` from draws (numpy).

The one implementation behind the pointwise log-likelihood, the predictive checks,
trajectories and ``predict``. Memory stays O(draws * n): one (draws, n) term is formed
per effect column, never a (draws, n, q) array or a dense n x (levels * q) matrix.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def add_group_terms(
    eta: np.ndarray, effects: np.ndarray, codes: np.ndarray, Z: np.ndarray
) -> np.ndarray:
    """Add ``sum_k Z[i, k] * effects[..., codes[i], k]`` to ``eta`` in place.

    Parameters
    ----------
    eta : ndarray, shape (..., n)
        Accumulator, modified in place and returned.
    effects : ndarray, shape (..., L, q)
        Draws of one factor's effects.
    codes : ndarray of int, shape (n,)
        Level of each row.
    Z : ndarray, shape (n, q)
        The factor's effect columns at each row.
    """
    for k in range(Z.shape[1]):
        term = np.take(np.ascontiguousarray(effects[..., k]), codes, axis=-1)  # (..., n)
        term *= Z[:, k]
        eta += term
    return eta


def linear_predictor(
    beta: np.ndarray,
    X: np.ndarray,
    groups: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]] = (),
) -> np.ndarray:
    """``X beta + sum_k Z_k b_k`` per draw.

    Parameters
    ----------
    beta : ndarray, shape (..., p)
        Fixed-effect draws.
    X : ndarray, shape (n, p)
        Fixed-effects design.
    groups : iterable of (effects, codes, Z)
        Per grouping factor: effects (..., L, q), codes (n,), Z (n, q).

    Returns
    -------
    ndarray, shape (..., n)
    """
    eta = np.asarray(beta, dtype=np.float64) @ np.asarray(X, dtype=np.float64).T  # (..., n)
    for effects, codes, Z in groups:
        add_group_terms(eta, effects, codes, Z)
    return eta
