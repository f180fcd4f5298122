"""Effects of the integrated-out factor: exact draws, and the summary used for huge L."""

from __future__ import annotations

import numpy as np
import pytest

import hierlmm
from hierlmm.engines.collapsed import effects
from hierlmm.inference.joint import joint_posterior
from hierlmm.model import names


@pytest.fixture(scope="module")
def fit(sleep_fit):
    return sleep_fit


def test_effect_draws_have_the_sampled_engine_layout(fit) -> None:
    b = fit.posterior[names.effects("Subject")]
    assert b.dims == ("chain", "draw", "Subject_level", "Subject_term")
    assert b.shape == (2, fit.settings["draws"], 18, 2)
    assert list(b["Subject_term"].values) == ["Intercept", "Days"]


def test_over_budget_effects_are_thinned_exact_draws(fit, large_collapsed_fit) -> None:
    # 18 levels x 2 effects x 2 chains = 72 cells per draw: a budget of 72 * 100 keeps 100
    large = large_collapsed_fit
    draws = fit.settings["draws"]
    name = names.effects("Subject")
    assert effects.EFFECTS_GROUP in large.idata.children
    assert "log_likelihood" not in large.idata.children
    assert name not in large.posterior
    thinned = large.idata[effects.EFFECTS_GROUP].to_dataset()[name]
    assert thinned.dims == ("chain", "draw", "Subject_level", "Subject_term")
    assert thinned.shape == (2, 100, 18, 2)
    kept = thinned["draw"].values
    assert kept[0] == 0 and kept[-1] == draws - 1 and np.all(np.diff(kept) > 0)
    # the sampler saw the same seed and settings: parameters are the full fit's draws
    np.testing.assert_array_equal(large.posterior["beta"].values, fit.posterior["beta"].values)
    joint = joint_posterior(large.idata)
    np.testing.assert_array_equal(joint["beta"].values, fit.posterior["beta"].isel(draw=kept))
    # exact draws: 100 thinned draws agree with 1000 full ones within Monte Carlo error
    full = fit.posterior[name]
    sd = full.std(("chain", "draw")).values
    gap = np.abs(joint[name].mean(("chain", "draw")).values - full.mean(("chain", "draw")).values)
    assert np.max(gap / sd) < 0.4


def test_reports_read_the_joint_posterior_over_budget(large_collapsed_fit, sleepstudy) -> None:
    large = large_collapsed_fit
    new = sleepstudy[sleepstudy["Subject"].astype(str) == "308"].head(3)
    mu = hierlmm.predict(large, new)
    assert mu.shape == (2, 100, 3) and np.all(np.isfinite(mu))
    table = hierlmm.report.shrinkage(large, "Subject")
    assert table.shape[0] == 36 and np.all(np.isfinite(table["partial"]))
    rep = hierlmm.report.posterior_predictive(large, n_draws=30, seed=1)
    assert rep.shape == (30, sleepstudy.shape[0])
