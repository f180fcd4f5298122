"""Our Laplace ML for random-intercept GLMMs reproduces lme4's published cbpp fit."""

from __future__ import annotations

import numpy as np

import hierlmm
from hierlmm.design import build_design
from hierlmm.report.glmm_frequentist import laplace_fit

# lme4 1.1 glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), binomial,
# data = cbpp): Laplace, the lme4 documentation's example
LME4_BETA = np.array([-1.3983, -0.9919, -1.1282, -1.5797])
LME4_SD = 0.6421
LME4_LOGLIK = -92.0


def test_laplace_ml_reproduces_lme4_on_cbpp() -> None:
    spec = hierlmm.parse_formula("cbind(incidence, size - incidence) ~ period + (1 | herd)")
    ml = laplace_fit(build_design(spec, hierlmm.datasets.load("cbpp")), "binomial")
    np.testing.assert_allclose(ml["beta"], LME4_BETA, atol=2e-3)
    assert abs(ml["sd"] - LME4_SD) < 2e-3
    assert abs(ml["loglik"] - LME4_LOGLIK) < 0.05
