"""The fixed effects' exact conditional when every factor is integrated out.

Given ``sigma`` and every factor's covariance, the all-factor likelihood is Gaussian in
``beta`` (:func:`~hierlmm.engines.collapsed.allfactor.fixed_effects_normal`), and the
model's prior on the centred coefficients ``beta_c ~ N(mu, diag(sd^2))`` is too, so
``beta_c | theta, y`` is normal. The independence sampler
(:mod:`hierlmm.inference.independence`) draws ``beta_c`` from it instead of proposing
it, which leaves it only ``sigma`` and the covariance parameters to propose.

The likelihood reads ``beta_s = T beta_c + c0``: the model's uncentred ``beta`` (its
intercept shifted by ``-x_means . beta_c``) with the response's shift taken off the
intercept (:func:`~hierlmm.engines.collapsed.stats.shifted_beta`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from hierlmm.design.design import GroupDesign
from hierlmm.engines.collapsed.allfactor import Response, fixed_effects_normal
from hierlmm.engines.collapsed.blocks import FactorBlocks
from hierlmm.model import names
from hierlmm.model.covariance import covariance_root


@dataclass(frozen=True)
class FixedConditional:
    """``beta_c | sigma, covariances, y`` as ``(mean (p,), chol of precision (p, p))``.

    Attributes
    ----------
    blocks : FactorBlocks
    response : Response
    groups : tuple of GroupDesign
        In ``blocks.factors`` order.
    T : ndarray, shape (p, p)
    c0 : ndarray, shape (p,)
    prior_mu, prior_sd : ndarray, shape (p,)
    """

    blocks: FactorBlocks
    response: Response
    groups: tuple[GroupDesign, ...]
    T: np.ndarray
    c0: np.ndarray
    prior_mu: np.ndarray
    prior_sd: np.ndarray
    name: str = names.BETA_CENTERED

    @classmethod
    def build(cls, *, blocks: FactorBlocks, response: Response,
              groups: tuple[GroupDesign, ...], inputs: Mapping[str, np.ndarray],
              intercept_index: int | None, shift: float) -> FixedConditional:
        """From the engine's blocks, response statistics and prior inputs."""
        p = blocks.XtX.shape[0]
        T, c0 = np.eye(p), np.zeros(p)
        if intercept_index is not None:
            T[intercept_index] -= np.asarray(inputs[names.X_MEANS], dtype=np.float64)
            T[intercept_index, intercept_index] = 1.0
            c0[intercept_index] = -shift
        return cls(blocks, response, groups, T, c0,
                   np.asarray(inputs[names.PRIOR_BETA_MU], dtype=np.float64),
                   np.asarray(inputs[names.PRIOR_BETA_SD], dtype=np.float64))

    def __call__(self, values: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The conditional at the parameter values ``values`` (kept variables by name).

        Parameters
        ----------
        values : mapping of str to ndarray
            ``sigma`` and every factor's ``sd_<f>`` (q,) and, where it has one,
            ``corr_<f>`` (q, q).

        Returns
        -------
        mean : ndarray, shape (p,)
        chol : ndarray, shape (p, p)
            Lower Cholesky factor of the conditional precision.
        """
        chols = [covariance_root(values[names.sd(g.factor)], values.get(names.corr(g.factor)))
                 for g in self.groups]
        P, h = fixed_effects_normal(self.blocks, self.response, float(values[names.SIGMA]),
                                    chols)
        prior_prec = 1.0 / self.prior_sd**2
        precision = self.T.T @ P @ self.T + np.diag(prior_prec)
        linear = self.T.T @ (h - P @ self.c0) + prior_prec * self.prior_mu
        chol = np.linalg.cholesky(precision)
        mean = np.linalg.solve(chol.T, np.linalg.solve(chol, linear))
        return mean, chol
