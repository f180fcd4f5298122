"""Laplace maximum likelihood of a random-intercept GLMM (scipy), as lme4's ``glmer``.

For one grouping factor with random intercepts ``b_j ~ N(0, tau^2)`` the marginal
log-likelihood is approximated per level by Laplace's method (lme4's default,
``nAGQ = 1``)::

    log L_j ~= f_j(b^_j) + log(2 pi) / 2 - log(-f_j''(b^_j)) / 2,
    f_j(b) = sum_{i in j} log p(y_i | eta_i + b) + log N(b | 0, tau^2),

with ``b^_j`` the mode (Newton), and maximised over ``(beta, log tau)`` with BFGS. Used
as the frequentist reference for binomial, bernoulli and poisson fits (statsmodels'
``BinomialBayesMixedGLM`` is variational Bayes, not maximum likelihood).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, gammaln

from hierlmm.design.design import Design


def _loglik_terms(family: str, y, trials, eta):
    """Log-density (n,), first and second derivatives in eta, for logit/log links."""
    if family == "poisson":
        mu = np.exp(eta)
        return y * eta - mu - gammaln(y + 1), y - mu, -mu
    n = np.ones_like(y) if trials is None else trials
    p = expit(eta)
    log_choose = gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
    ll = log_choose + y * eta - n * np.logaddexp(0.0, eta)
    return ll, y - n * p, -n * p * (1 - p)


def laplace_loglik(theta: np.ndarray, design: Design, family: str) -> float:
    """Laplace-approximate marginal log-likelihood at ``theta = (beta (p,), log tau)``."""
    (group,) = design.groups
    beta, tau2 = theta[:-1], np.exp(2 * theta[-1])
    eta0 = design.X @ beta + (0.0 if design.offset is None else design.offset)
    codes, L = group.codes, group.n_levels
    b = np.zeros(L)
    for _ in range(50):
        _, d1, d2 = _loglik_terms(family, design.y, design.trials, eta0 + b[codes])
        grad = np.bincount(codes, d1, L) - b / tau2
        hess = np.bincount(codes, d2, L) - 1 / tau2
        step = grad / hess
        b -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    ll, _, d2 = _loglik_terms(family, design.y, design.trials, eta0 + b[codes])
    hess = np.bincount(codes, d2, L) - 1 / tau2
    f = np.bincount(codes, ll, L) - 0.5 * b**2 / tau2 - 0.5 * np.log(2 * np.pi * tau2)
    return float(np.sum(f + 0.5 * np.log(2 * np.pi) - 0.5 * np.log(-hess)))


def laplace_fit(design: Design, family: str) -> dict[str, np.ndarray | float]:
    """Laplace ML estimates of a one-factor random-intercept GLMM.

    Parameters
    ----------
    design : Design
        One grouping factor with a random intercept only.
    family : {"bernoulli", "binomial", "poisson"}
        Logit link for the first two, log link for Poisson.

    Returns
    -------
    dict
        ``"beta"`` (p,), ``"sd"`` (float, the random-intercept SD), ``"loglik"``.
    """
    start = np.zeros(design.p + 1)
    result = minimize(lambda t: -laplace_loglik(t, design, family), start, method="BFGS",
                      options={"gtol": 1e-7})
    return {"beta": result.x[:-1], "sd": float(np.exp(result.x[-1])),
            "loglik": float(-result.fun)}
