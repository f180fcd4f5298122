"""Link functions of the GLMM families, in numpy and PyTensor.

``logit``: ``mu = 1 / (1 + exp(-eta))``; ``probit``: ``mu = Phi(eta)``; ``log``:
``mu = exp(eta)``. Binary and binomial likelihoods take their log-odds, which for the
probit link is ``log Phi(eta) - log Phi(-eta)`` (stable in both tails).
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pymc.distributions.dist_math import normal_lcdf
from scipy.special import expit, log_ndtr, ndtr

# latent residual variance of the threshold model behind each binary link
LATENT_VARIANCE = {"logit": float(np.pi**2 / 3.0), "probit": 1.0}


def inverse_link(link: str, eta: np.ndarray) -> np.ndarray:
    """Mean of the response (a probability or a rate) from ``eta``, same shape."""
    if link == "logit":
        return expit(eta)
    if link == "probit":
        return ndtr(eta)
    if link == "log":
        return np.exp(eta)
    if link == "identity":
        return eta
    raise ValueError(f"unknown link {link!r}")


def link(link_name: str, mu: np.ndarray) -> np.ndarray:
    """``g(mu)``, the inverse of :func:`inverse_link`, same shape."""
    from scipy.special import logit, ndtri

    if link_name == "logit":
        return logit(mu)
    if link_name == "probit":
        return ndtri(mu)
    if link_name == "log":
        return np.log(mu)
    return mu


def log_prob_pair(link_name: str, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(log p, log(1 - p))`` for a binary link, each the shape of ``eta``."""
    if link_name == "logit":
        return -np.logaddexp(0.0, -eta), -np.logaddexp(0.0, eta)
    return log_ndtr(eta), log_ndtr(-eta)


def logit_p(link_name: str, eta: pt.TensorVariable) -> pt.TensorVariable:
    """Log-odds of success as a PyTensor expression of ``eta`` (n,)."""
    if link_name == "logit":
        return eta
    return normal_lcdf(0.0, 1.0, eta) - normal_lcdf(0.0, 1.0, -eta)
