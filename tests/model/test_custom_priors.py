"""Custom priors change the model: lkj_eta shapes the LKJ correlation, sd_scale the SDs.

The prior draws of the built PyMC model are compared with the documented distributions
(docs/priors.md): for q = 2, LKJCorr(eta) makes (r + 1) / 2 ~ Beta(eta, eta), and an SD
is HalfNormal(sd_scale * s_y / s_z). 2,000 prior draws; KS at p > 0.001.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytest
from scipy import stats

import hierlmm
from hierlmm.design import build_design
from hierlmm.model import names
from hierlmm.model.builder import build_model

FORMULA = "Reaction ~ Days + (Days | Subject)"


def _prior_draws(sleepstudy, priors: hierlmm.PriorSpec) -> dict[str, np.ndarray]:
    spec = hierlmm.parse_formula(FORMULA, priors=priors)
    design = build_design(spec, sleepstudy)
    built = build_model(design=design, spec=spec, engine="sampled")
    with built.model:
        prior = pm.sample_prior_predictive(
            draws=2000, random_seed=1,
            var_names=[names.sd("Subject"), names.corr("Subject")]).prior
    return {"sd": prior[names.sd("Subject")].values.reshape(-1, 2),
            "r": prior[names.corr("Subject")].values.reshape(-1, 2, 2)[:, 0, 1],
            "design": design, "built": built}


@pytest.mark.parametrize(("eta", "sd_scale"), [(2.0, 2.5), (8.0, 0.5)])
def test_prior_draws_follow_the_custom_lkj_eta_and_sd_scale(sleepstudy, eta, sd_scale) -> None:
    draws = _prior_draws(sleepstudy, hierlmm.PriorSpec(lkj_eta=eta, sd_scale=sd_scale))
    assert stats.kstest((draws["r"] + 1) / 2, stats.beta(eta, eta).cdf).pvalue > 1e-3
    design = draws["design"]
    s_y = design.y.std(ddof=1)
    s_z = np.array([1.0, design.groups[0].Z[:, 1].std(ddof=1)])
    for k in range(2):
        scale = sd_scale * s_y / s_z[k]
        assert stats.kstest(draws["sd"][:, k], stats.halfnorm(scale=scale).cdf).pvalue > 1e-3
    key = draws["built"].engine_plan.structure_key(draws["built"].inputs)
    assert eta in key  # a different eta is a different compiled model


def test_lkj_eta_changes_the_fitted_correlation(sleepstudy) -> None:
    """A strong LKJ prior (eta = 50: prior SD of r 0.07) pulls sleepstudy's weak
    intercept-slope correlation towards 0 against the default eta = 2."""
    kw = dict(draws=300, tune=300, chains=2, seed=3, progress=False, warn_convergence=False)
    strong = hierlmm.fit(FORMULA, sleepstudy, priors=hierlmm.PriorSpec(lkj_eta=50.0), **kw)
    r = strong.posterior[names.corr("Subject")].values[..., 0, 1]
    assert abs(r.mean()) < 0.15 and r.std() < 0.15
