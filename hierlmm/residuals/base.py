"""The residual-structure seam: correlated Gaussian residuals within series.

A :class:`ResidualStructure` owns what depends on the residual correlation: its
parameters and their priors, the per-row correlation ``phi_t`` of each row with the
previous row of its series (the prewhitening that both engines use), and numpy
versions of the same for reports. Independent residuals have no structure (``None``
from :func:`hierlmm.residuals.get_residual`).

Conventions: a series sorted by time, ``e_1, ..., e_m``, of a stationary Gaussian
process with variance ``sigma^2`` and a Markov (first-order) correlation factorises as

    e_1 ~ N(0, sigma^2),  e_t | e_{t-1} ~ N(phi_t e_{t-1}, sigma^2 (1 - phi_t^2))

with ``phi_t = phi`` (AR(1)) or ``phi ** (t_t - t_{t-1})`` (CAR(1)). ``phi_t`` is 0 at
the first row of a series. These one-step-ahead conditionals are the pointwise
log-likelihood terms hierlmm reports, in the user's row order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from hierlmm.design.residual import ResidualDesign
from hierlmm.model import names
from hierlmm.spec.schema import PriorSpec


def series_inputs(residual: ResidualDesign) -> dict[str, np.ndarray]:
    """Data containers of a series residual, each (n,) in the user's row order.

    Returns
    -------
    dict of str to ndarray
        ``names.DATA_PREVIOUS`` (int64: the preceding row of the series, the row itself
        at a series start), ``names.DATA_HAS_PREVIOUS`` (float64 0/1) and
        ``names.DATA_LAG`` (float64: exponent of ``phi`` to the previous row, 1 at a
        series start so that its power stays finite).
    """
    order = residual.order
    lags_sorted = residual.lags  # (n,), 0 at series starts
    lags = np.empty_like(lags_sorted)
    lags[order] = lags_sorted
    has_prev = (lags > 0).astype(np.float64)
    return {
        names.DATA_PREVIOUS: residual.previous,
        names.DATA_HAS_PREVIOUS: has_prev,
        names.DATA_LAG: np.where(lags > 0, lags, 1.0),
    }


class ResidualStructure(ABC):
    """A correlated residual process within series.

    Class attributes
    ----------------
    kind : str
        The ``ResidualSpec.kind`` value.
    parameters : tuple of str
        Posterior variables reported for the structure (names from
        :mod:`hierlmm.model.names`).
    """

    kind: ClassVar[str]
    parameters: ClassVar[tuple[str, ...]] = (names.PHI,)

    def prior_inputs(self, priors: PriorSpec) -> dict[str, np.ndarray]:
        """Beta prior shapes of ``phi`` (mapped to its range), as data containers."""
        return {
            names.prior(names.PHI, "alpha"): np.asarray(priors.phi_alpha),
            names.prior(names.PHI, "beta"): np.asarray(priors.phi_beta),
        }

    @abstractmethod
    def add_parameters(self, inputs: dict[str, pt.TensorVariable]) -> dict[str, pt.TensorVariable]:
        """Add ``phi`` to the model in context; return ``{"phi": phi}``."""

    @abstractmethod
    def row_phi(self, phi, lag, has_prev):
        """Correlation ``phi_t`` (n,) of each row with its predecessor (PyTensor).

        Parameters
        ----------
        phi : TensorVariable, scalar
        lag, has_prev : TensorVariable, shape (n,)
            :func:`series_inputs`' ``DATA_LAG`` and ``DATA_HAS_PREVIOUS``.
        """

    @abstractmethod
    def row_phi_numpy(self, phi: np.ndarray, lag: np.ndarray, has_prev: np.ndarray) -> np.ndarray:
        """Numpy :meth:`row_phi` for draws ``phi`` (...), returning (..., n)."""

    @abstractmethod
    def correlation(self, phi: np.ndarray, lags: np.ndarray) -> np.ndarray:
        """Implied residual correlation at ``lags`` (k,) for draws ``phi`` (...); (..., k)."""

    # ------------------------------------------------------------- Gaussian likelihood
    def add_gaussian_likelihood(self, *, name, eta, sigma, phi, data, observed) -> None:
        """``y_t | y_{t-1} ~ N(eta_t + phi_t (y_{t-1} - eta_{t-1}), sigma^2 (1 - phi_t^2))``.

        Vectorised over rows in the user's order (no loop over series): the predecessor of
        each row is gathered with ``DATA_PREVIOUS``. The product of these conditionals is
        the exact joint Gaussian density with covariance ``sigma^2 R(phi)`` per series.

        Parameters
        ----------
        eta : TensorVariable, shape (n,)
            Linear predictor given the effects.
        sigma, phi : TensorVariable, scalar
        data : dict of str to TensorVariable
            With :func:`series_inputs`' containers.
        observed : TensorVariable, shape (n,)
        """
        prev = data[names.DATA_PREVIOUS]
        phi_t = self.row_phi(phi, data[names.DATA_LAG], data[names.DATA_HAS_PREVIOUS])
        mu = eta + phi_t * (observed[prev] - eta[prev])
        sd = sigma * pt.sqrt(1.0 - phi_t**2)
        pm.Normal(name, mu=mu, sigma=sd, observed=observed)

    def gaussian_loglik_numpy(
        self, y: np.ndarray, eta: np.ndarray, sigma: np.ndarray, phi: np.ndarray,
        inputs: dict[str, np.ndarray],
    ) -> np.ndarray:
        """One-step-ahead conditional log-densities, shape (..., n), user row order.

        Parameters
        ----------
        y : ndarray, shape (n,)
        eta : ndarray, shape (..., n)
        sigma, phi : ndarray, shape (...)
        inputs : dict
            :func:`series_inputs` of the design.
        """
        prev = inputs[names.DATA_PREVIOUS]
        phi_t = self.row_phi_numpy(phi, inputs[names.DATA_LAG], inputs[names.DATA_HAS_PREVIOUS])
        e = y - eta  # (..., n)
        innovation = e - phi_t * e[..., prev]
        var = np.asarray(sigma, dtype=np.float64)[..., None] ** 2 * (1.0 - phi_t**2)
        return -0.5 * (np.log(2.0 * np.pi * var) + innovation**2 / var)

    def simulate_numpy(
        self, sigma: np.ndarray, phi: np.ndarray, residual: ResidualDesign,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Draws of the residual process, shape (S, n), user row order.

        Each series starts from the stationary ``N(0, sigma^2)`` and continues by
        ``e_t = phi_t e_{t-1} + sigma sqrt(1 - phi_t^2) z_t``, ``z_t ~ N(0, 1)``. The
        recursion runs over the position within the series (as many steps as the longest
        series), each step vectorised over every series and draw.

        Parameters
        ----------
        sigma, phi : ndarray, shape (S,)
            Draws of the residual SD (stationary) and the correlation.
        residual : ResidualDesign
        rng : numpy.random.Generator
        """
        inputs = series_inputs(residual)
        order = residual.order
        lag = inputs[names.DATA_LAG][order]
        has_prev = inputs[names.DATA_HAS_PREVIOUS][order]
        phi_t = self.row_phi_numpy(np.asarray(phi, dtype=np.float64), lag, has_prev)  # (S, n)
        sd = np.asarray(sigma, dtype=np.float64)[:, None] * np.sqrt(1.0 - phi_t**2)
        e = sd * rng.standard_normal(phi_t.shape)  # innovations, sorted order
        offsets = residual.offsets
        position = np.arange(order.shape[0]) - np.repeat(offsets[:-1], np.diff(offsets))
        for k in range(1, int(position.max(initial=0)) + 1):
            rows = np.flatnonzero(position == k)
            e[:, rows] += phi_t[:, rows] * e[:, rows - 1]
        out = np.empty_like(e)
        out[:, order] = e
        return out
