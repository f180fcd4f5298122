"""Random-effect covariance matrices and their square roots from SDs and correlations.

The one place where ``L`` with ``Sigma = L L'`` is built from posterior draws; the
collapsed engine's exact effects, predictions for new groups and the variance reports
all use it, so degenerate draws (a correlation at +-1 to rounding) are handled once.
"""

from __future__ import annotations

import numpy as np

from hierlmm.model import names


def covariance_from_sd_corr(sd: np.ndarray, corr: np.ndarray) -> np.ndarray:
    """Covariance matrices ``corr_ij * sd_i * sd_j``.

    Parameters
    ----------
    sd : ndarray, shape (..., q)
    corr : ndarray, shape (..., q, q)

    Returns
    -------
    ndarray, shape (..., q, q)
    """
    return corr * sd[..., :, None] * sd[..., None, :]


def correlation_root(corr: np.ndarray) -> np.ndarray:
    """A square root ``R`` of each correlation matrix, ``corr = R R'``, shape (..., q, q).

    The lower Cholesky factor; if any matrix is numerically singular (a correlation of
    +-1 to rounding) the symmetric eigen-root of all of them, with negative rounding
    eigenvalues clipped to zero.
    """
    try:
        return np.linalg.cholesky(corr)
    except np.linalg.LinAlgError:
        w, v = np.linalg.eigh(corr)
        return v * np.sqrt(np.clip(w, 0.0, None))[..., None, :]


def covariance_root(sd: np.ndarray, corr: np.ndarray | None) -> np.ndarray:
    """``L = diag(sd) R`` with ``L L' = Sigma``, shape (..., q, q).

    Parameters
    ----------
    sd : ndarray, shape (..., q)
        Random-effect SDs per draw.
    corr : ndarray, shape (..., q, q), or None
        Correlation matrices; None for uncorrelated (``||``) or single-effect factors.
    """
    sd = np.asarray(sd, dtype=np.float64)
    if corr is None:
        return sd[..., :, None] * np.eye(sd.shape[-1])
    return sd[..., :, None] * correlation_root(np.asarray(corr, dtype=np.float64))


def factor_sd_corr(posterior, group) -> tuple[np.ndarray, np.ndarray | None]:
    """SD and correlation draws of one grouping factor, in ``group.terms`` order.

    Parameters
    ----------
    posterior : xarray.Dataset
        With ``sd_<f>`` (chain, draw, term) and, for correlated factors, ``corr_<f>``.
    group : GroupDesign

    Returns
    -------
    sd : ndarray, shape (chain, draw, q)
    corr : ndarray, shape (chain, draw, q, q), or None when the factor has no
        correlation parameter (``||`` or a single effect)
    """
    f, terms = group.factor, list(group.terms)
    term, term_bis = names.term_dim(f), names.term_dim_bis(f)
    sd = posterior[names.sd(f)].sel({term: terms}).transpose("chain", "draw", term)
    if names.corr(f) not in posterior:
        return np.asarray(sd.values, dtype=np.float64), None
    corr = posterior[names.corr(f)].sel({term: terms, term_bis: terms})
    corr = corr.transpose("chain", "draw", term, term_bis)
    return np.asarray(sd.values, dtype=np.float64), np.asarray(corr.values, dtype=np.float64)


def factor_covariance_root(posterior, group) -> np.ndarray:
    """Per-draw ``L`` of a factor's covariance (``Sigma = L L'``), shape (chain, draw, q, q)."""
    return covariance_root(*factor_sd_corr(posterior, group))
