"""The collapsed and sampled engines target the same posterior (issue: collapsed engine).

Acceptance: posterior means of every fixed effect, SD, correlation and the residual SD
agree within 0.15 posterior SD, and the group-level effects' posterior means correlate
above 0.99, on sleepstudy and on a simulated crossed design.
"""

from __future__ import annotations

import numpy as np
import pytest

import hierlmm
from hierlmm.model import names

pytestmark = pytest.mark.slow

# Convergence is asserted explicitly (max R-hat below MAX_RHAT) rather than through the
# ConvergenceWarning's 1.01 threshold: the crossed design's sampled engine reached R-hat
# 1.018 in one CI run (xdist worker) and below 1.01 in another, with the same seed.
SETTINGS = dict(draws=1000, tune=1000, chains=4, progress=False, warn_convergence=False)
MAX_RHAT = 1.05


def _both(formula, data, seed):
    fits = {
        engine: hierlmm.fit(formula, data, engine=engine, seed=seed, **SETTINGS)
        for engine in ("collapsed", "sampled")
    }
    for engine, fit in fits.items():
        diag = fit.diagnostics()
        assert diag["max_rhat"] < MAX_RHAT and diag["divergences"] == 0, (engine, diag)
    return fits


@pytest.fixture(scope="module")
def sleepstudy_fits():
    return _both("Reaction ~ Days + (Days | Subject)", hierlmm.datasets.load("sleepstudy"), 11)


@pytest.fixture(scope="module")
def crossed_fits():
    sim = hierlmm.datasets.simulate_crossed(n_subjects=30, n_items=20, seed=5)
    return _both("y ~ x + (1 | subject) + (1 | item)", sim.data, 12)


def _assert_agree(fits) -> None:
    a, b = fits["collapsed"].summary(), fits["sampled"].summary()
    assert list(a.index) == list(b.index)
    gap = (a["mean"] - b["mean"]).abs() / np.maximum(a["sd"], b["sd"])
    table = a[["mean", "sd"]].join(b[["mean", "sd"]].add_suffix("_sampled"))
    print("\n" + table
          .assign(gap_in_sd=gap).round(4).to_string())
    assert (gap < 0.15).all(), gap.to_dict()
    for g in fits["collapsed"].design.groups:
        var = names.effects(g.factor)
        ma = fits["collapsed"].posterior[var].mean(("chain", "draw")).values.ravel()
        mb = fits["sampled"].posterior[var].mean(("chain", "draw")).values.ravel()
        assert np.corrcoef(ma, mb)[0, 1] > 0.99


def test_engines_agree_on_sleepstudy(sleepstudy_fits) -> None:
    assert sleepstudy_fits["collapsed"].engine == "collapsed"
    _assert_agree(sleepstudy_fits)


def test_engines_agree_on_crossed_design(crossed_fits) -> None:
    assert crossed_fits["collapsed"].engine == "collapsed"
    _assert_agree(crossed_fits)


def test_collapsed_is_the_default_for_gaussian(sleepstudy_fits) -> None:
    from hierlmm.model.builder import resolve_engine

    fit = sleepstudy_fits["collapsed"]
    assert resolve_engine("auto", fit.spec, fit.design) == "collapsed"
