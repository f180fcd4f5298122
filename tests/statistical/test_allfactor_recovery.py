"""Recovery on a crossed design with random slopes on both factors, all factors integrated.

Issue 13 acceptance: subjects x items, one row per pair, ``y ~ x + (x | subject) + (x |
item)``, fitted on the all-factor path (forced: these designs are small), once with NUTS
(heavy) and once with the independence sampler that ``sampler="auto"`` picks for large
such designs (slow, in CI). Six data sets (seeds fixed up front); each of the 9
quantities must be inside its 90% interval in at least three of them, and the total
number of misses must stay below the 99.9% quantile of Binomial(checks, 0.1), as in
test_recovery.py. Every fit must also have no divergences, R-hat < 1.05 and bulk ESS >
100.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

import hierlmm
from hierlmm.engines.collapsed import engine as collapsed_engine

pytestmark = pytest.mark.slow

SEEDS = (1, 2, 3, 4, 5, 6)
SAMPLING = {"draws": 400, "tune": 400, "chains": 2, "progress": False,
            "warn_convergence": False}
TRUTH = {"Intercept": 1.0, "x": 0.5,
         "sd(Intercept|subject)": 1.0, "sd(x|subject)": 0.5, "corr(Intercept,x|subject)": 0.4,
         "sd(Intercept|item)": 0.7, "sd(x|item)": 0.4, "corr(Intercept,x|item)": -0.3,
         "sigma": 1.0}


def _effects(rng, n, sd0, sd1, corr) -> np.ndarray:
    cov = np.array([[sd0**2, corr * sd0 * sd1], [corr * sd0 * sd1, sd1**2]])
    return rng.multivariate_normal(np.zeros(2), cov, size=n)


def simulate(seed: int, n_subjects: int = 40, n_items: int = 30) -> pd.DataFrame:
    """One row per subject-item pair; correlated intercepts and slopes on both factors."""
    rng = np.random.default_rng(seed)
    s, i = (a.ravel() for a in np.meshgrid(np.arange(n_subjects), np.arange(n_items),
                                           indexing="ij"))
    x = rng.normal(size=s.size)
    u = _effects(rng, n_subjects, 1.0, 0.5, 0.4)
    w = _effects(rng, n_items, 0.7, 0.4, -0.3)
    y = (1.0 + 0.5 * x + u[s, 0] + u[s, 1] * x + w[i, 0] + w[i, 1] * x
         + rng.normal(size=s.size))
    return pd.DataFrame({"subject": [f"s{v:02d}" for v in s], "item": [f"i{v:02d}" for v in i],
                         "x": x, "y": y})


@functools.cache
def recover(seed: int, sampler: str) -> tuple[pd.DataFrame, dict]:
    settings = SAMPLING if sampler == "nutpie" else {**SAMPLING, "chains": 4, "draws": 300}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(collapsed_engine, "ALL_MIN_ROWS", 0)
        mp.setattr(collapsed_engine, "ALL_MAX_FLOPS", np.inf)
        fit = hierlmm.fit("y ~ x + (x | subject) + (x | item)", simulate(seed),
                          seed=300 + seed, sampler=sampler, **settings)
        assert collapsed_engine.integrates_all(fit.design) and fit.sampler == sampler
    return fit.summary()[["mean", "q05", "q95"]], fit.diagnostics()


@pytest.mark.parametrize("sampler", [
    pytest.param("nutpie", marks=pytest.mark.heavy), "independence"])
def test_crossed_slopes_truth_inside_90_interval(sampler) -> None:
    covered = pd.Series(0, index=list(TRUTH))
    for seed in SEEDS:
        table, diag = recover(seed, sampler)
        truth = pd.Series(TRUTH)
        inside = (table.loc[truth.index, "q05"] <= truth) & (truth <= table.loc[truth.index,
                                                                                 "q95"])
        print(f"\nseed {seed}: {diag}\n{table.assign(truth=truth, inside=inside).to_string()}")
        covered += inside.astype(int)
        assert diag["divergences"] == 0
        assert diag["max_rhat"] < 1.05
        assert diag["min_ess_bulk"] > 100
    print(f"\ncovered out of {len(SEEDS)}:\n{covered.to_string()}")
    assert (covered >= 3).all(), covered.to_dict()
    checks = len(SEEDS) * len(TRUTH)
    assert checks - int(covered.sum()) <= int(binom.ppf(0.999, checks, 0.1))
