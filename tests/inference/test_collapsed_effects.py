"""Effects of the integrated-out factor: exact draws, and the summary used for huge L."""

from __future__ import annotations

import numpy as np
import pytest

import hierlmm
from hierlmm.inference import collapsed
from hierlmm.model import names


@pytest.fixture(scope="module")
def fit(sleepstudy):
    return hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, seed=8, draws=500,
                       tune=500, chains=2, progress=False, warn_convergence=False)


def test_effect_draws_have_the_sampled_engine_layout(fit) -> None:
    b = fit.posterior[names.effects("Subject")]
    assert b.dims == ("chain", "draw", "Subject_level", "Subject_term")
    assert b.shape == (2, 500, 18, 2)
    assert list(b["Subject_term"].values) == ["Intercept", "Days"]


def test_summary_matches_the_draws_when_over_budget(fit, monkeypatch) -> None:
    monkeypatch.setattr(collapsed, "EFFECTS_BUDGET", 0)
    posterior = fit.posterior.drop_vars(names.effects("Subject"))
    same, summary = collapsed.add_collapsed_effects(
        posterior, design=fit.design, factor="Subject", seed=1
    )
    assert names.effects("Subject") not in same
    draws = fit.posterior[names.effects("Subject")]
    mean = draws.mean(("chain", "draw")).values
    sd = draws.std(("chain", "draw")).values
    got_mean = summary[names.effects("Subject") + "_mean"].values
    got_sd = summary[names.effects("Subject") + "_sd"].values
    assert got_mean.shape == (18, 2)
    # Rao-Blackwellised summary of 100 draws vs Monte Carlo means of 1000 exact draws
    assert np.max(np.abs(got_mean - mean) / sd) < 0.15
    np.testing.assert_allclose(got_sd, sd, rtol=0.15)


def test_large_fit_keeps_a_group_effects_summary(monkeypatch, sleepstudy) -> None:
    monkeypatch.setattr(collapsed, "EFFECTS_BUDGET", 1000)
    small = hierlmm.fit("Reaction ~ Days + (Days | Subject)", sleepstudy, seed=8, draws=100,
                        tune=200, chains=2, progress=False, warn_convergence=False)
    assert "group_effects" in small.idata.children
    assert "log_likelihood" not in small.idata.children
    assert names.effects("Subject") not in small.posterior
