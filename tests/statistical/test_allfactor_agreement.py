"""The all-factor path targets the same posterior as the one-factor collapsed engine.

Issue 13 acceptance: on Penicillin, Pastes and a simulated crossed design every posterior
mean (fixed effects, SDs, residual SD) agrees within 0.15 posterior SD, and the group
effects' posterior means (drawn exactly for every factor afterwards) correlate above
0.99. The path is forced on (and off) through the engine's rule constants, as these
small designs sit below its row threshold.
"""

from __future__ import annotations

import numpy as np
import pytest

import hierlmm
from hierlmm.engines.collapsed import engine as collapsed_engine
from hierlmm.model import names

pytestmark = [pytest.mark.slow, pytest.mark.heavy]

# The one-factor path mixes slower on these designs (Penicillin: min bulk ESS 155 from
# 2 x 1000 draws, the 6-level sample SD), so it gets more draws for the comparison.
SETTINGS = {True: dict(draws=600, tune=600, chains=2),
            False: dict(draws=2000, tune=1000, chains=4)}


def _fit(formula, data, seed, *, all_factors: bool) -> hierlmm.Fit:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(collapsed_engine, "ALL_MIN_ROWS", 0)
        mp.setattr(collapsed_engine, "ALL_MAX_FLOPS", np.inf if all_factors else -1.0)
        fit = hierlmm.fit(formula, data, seed=seed, engine="collapsed", progress=False,
                          warn_convergence=False, **SETTINGS[all_factors])
        assert collapsed_engine.integrates_all(fit.design) is all_factors
        return fit


def _both(formula, data, seed):
    return {flag: _fit(formula, data, seed, all_factors=flag) for flag in (True, False)}


CASES = {
    "penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", "penicillin"),
    "pastes": ("strength ~ 1 + (1 | batch) + (1 | sample)", "pastes"),
}


@pytest.fixture(scope="module", params=["penicillin", "pastes", "crossed"])
def fits(request):
    if request.param == "crossed":
        sim = hierlmm.datasets.simulate_crossed(n_subjects=30, n_items=20, seed=5)
        return _both("y ~ x + (1 | subject) + (1 | item)", sim.data, 21)
    formula, name = CASES[request.param]
    return _both(formula, hierlmm.datasets.load(name), 22)


def test_all_factor_path_agrees_with_the_one_factor_engine(fits) -> None:
    new, old = fits[True], fits[False]
    diag = new.diagnostics()
    assert diag["divergences"] == 0 and diag["min_ess_bulk"] >= 400, diag
    print(f"\nall-factor {new.timings['total_s']:.1f} s {diag}; one-factor "
          f"{old.timings['total_s']:.1f} s {old.diagnostics()}")
    a, b = new.summary(), old.summary()
    assert list(a.index) == list(b.index)
    gap = (a["mean"] - b["mean"]).abs() / np.maximum(a["sd"], b["sd"])
    print("\n" + a[["mean", "sd"]].join(b[["mean", "sd"]].add_suffix("_old"))
          .assign(gap_in_sd=gap).round(4).to_string())
    assert (gap < 0.15).all(), gap.to_dict()
    for g in new.design.groups:
        var = names.effects(g.factor)
        ma = new.posterior[var].mean(("chain", "draw")).values.ravel()
        mb = old.posterior[var].mean(("chain", "draw")).values.ravel()
        assert new.posterior[var].shape[2:] == old.posterior[var].shape[2:]
        assert np.corrcoef(ma, mb)[0, 1] > 0.99
