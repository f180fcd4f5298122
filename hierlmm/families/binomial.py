"""Binomial family: successes out of a known number of trials (logit or probit link).

``y_i ~ Binomial(n_i, p_i)``, ``g(p_i) = eta_i``; ``n_i`` is ``ModelSpec.trials``
(``p(s, n) ~ ...`` or ``cbind(s, n - s) ~ ...``). The mean response reported by
:meth:`Binomial.inverse_link` is the probability ``p_i``; predictive draws are counts of
successes out of ``n_i``. Priors and latent residual variance as for
:mod:`hierlmm.families.bernoulli`.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
from scipy.special import gammaln

from hierlmm.families.base import ParamDraws
from hierlmm.families.bernoulli import Bernoulli
from hierlmm.families.links import LATENT_VARIANCE, log_prob_pair, logit_p


def _need_trials(trials):
    if trials is None:
        raise ValueError("the binomial family needs the trials of each row")
    return trials


class Binomial(Bernoulli):
    """``y ~ Binomial(trials, g^-1(eta))``."""

    name = "binomial"

    def add_likelihood(self, *, name, eta, params, observed, trials=None) -> None:
        pm.Binomial(name, n=_need_trials(trials), logit_p=logit_p(self.link, eta),
                    observed=observed)

    def log_likelihood(self, y, eta, params, trials=None) -> np.ndarray:
        n = _need_trials(trials)
        log_p, log_q = log_prob_pair(self.link, eta)
        log_choose = gammaln(n + 1.0) - gammaln(y + 1.0) - gammaln(n - y + 1.0)
        return log_choose + y * log_p + (n - y) * log_q

    def predictive_draws(self, eta, params, rng, trials=None) -> np.ndarray:
        n = np.broadcast_to(_need_trials(trials), np.shape(eta))
        return rng.binomial(n.astype(np.int64), self.inverse_link(eta)).astype(np.float64)

    def latent_residual_variance(self, params: ParamDraws, mean=None) -> np.ndarray:
        return np.asarray(LATENT_VARIANCE[self.link])
