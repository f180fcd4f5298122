"""Recovery of known parameters from simulated data with the default (collapsed) engine.

Acceptance: on simulated data with at least 100 groups, the true fixed effects, SDs and
intercept-slope correlation each fall inside their 90% interval for at least three
seeds, with both a positive and a negative true correlation. Checked as a calibration
test (Talts et al. 2018 in spirit): for each sign of the correlation there are six
independent data sets (seeds fixed up front); each quantity must be covered in at least
three of them, and the total number of misses must stay below the 99.9% quantile of the
Binomial(checks, 0.1) count that exact 90% intervals would give. A single miss at the
nominal 10% rate is expected and is not a failure. The sampled engine is checked against
the collapsed one in test_engine_agreement.py.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

import hierlmm
from hierlmm.model import names

pytestmark = pytest.mark.slow

SLOPE_SEEDS = {0.5: (1, 2, 3, 4, 5, 6), -0.5: (11, 12, 13, 14, 15, 16)}
INTERCEPT_SEEDS = (1, 2, 3, 4, 5, 6)
MIN_COVERED = 3
SAMPLING = {"draws": 500, "tune": 500, "chains": 4, "progress": False,
            "warn_convergence": False}
SLOPE_PARAMS = ("Intercept", "time", "sd(Intercept|subject)", "sd(time|subject)",
                "corr(Intercept,time|subject)", "sigma")
INTERCEPT_PARAMS = ("Intercept", "x", "sd(Intercept|g)", "sigma", "icc")


@dataclass(frozen=True)
class Recovered:
    """What a recovery test needs from one fit: truth, 90% intervals and diagnostics."""

    truth: dict[str, float]
    intervals: pd.DataFrame  # index parameter; columns mean, q05, q95
    diagnostics: dict[str, float]


def _slopes_truth(truth: dict) -> dict[str, float]:
    return {
        "Intercept": truth["beta"]["Intercept"],
        "time": truth["beta"]["time"],
        "sd(Intercept|subject)": truth["sd"]["Intercept"],
        "sd(time|subject)": truth["sd"]["time"],
        "corr(Intercept,time|subject)": truth["corr"],
        "sigma": truth["sigma"],
    }


def _icc_row(fit: hierlmm.Fit) -> pd.DataFrame:
    """ICC per draw, ``sd^2 / (sd^2 + sigma^2)``, summarised like ``Fit.summary()``."""
    tau = fit.posterior[names.sd("g")].sel({names.term_dim("g"): "Intercept"}).values
    sigma = fit.posterior[names.SIGMA].values  # (chain, draw)
    icc = (tau**2 / (tau**2 + sigma**2)).reshape(-1)
    q05, q95 = np.quantile(icc, [0.05, 0.95])
    return pd.DataFrame({"mean": [icc.mean()], "q05": [q05], "q95": [q95]}, index=["icc"])


@functools.cache
def recover_slopes(corr: float, seed: int) -> Recovered:
    sim = hierlmm.datasets.simulate_random_slopes(
        n_groups=120, n_per_group=8, corr=corr, seed=seed
    )
    fit = hierlmm.fit(sim.formula, sim.data, seed=100 + seed, **SAMPLING)
    assert fit.engine == "collapsed"
    intervals = fit.summary()[["mean", "q05", "q95"]]
    return Recovered(_slopes_truth(sim.truth), intervals, fit.diagnostics())


@functools.cache
def recover_intercepts(seed: int) -> Recovered:
    sim = hierlmm.datasets.simulate_random_intercepts(
        n_groups=150, n_per_group=6, beta=(1.0, 0.5), tau=0.8, sigma=1.0, seed=seed
    )
    fit = hierlmm.fit(sim.formula, sim.data, seed=200 + seed, **SAMPLING)
    assert fit.engine == "collapsed"
    truth = {"Intercept": sim.truth["beta"]["Intercept"], "x": sim.truth["beta"]["x"],
             "sd(Intercept|g)": sim.truth["tau"], "sigma": sim.truth["sigma"],
             "icc": sim.truth["icc"]}
    intervals = pd.concat([fit.summary()[["mean", "q05", "q95"]], _icc_row(fit)])
    return Recovered(truth, intervals, fit.diagnostics())


def _inside(rec: Recovered, parameter: str) -> bool:
    row = rec.intervals.loc[parameter]
    return bool(row["q05"] <= rec.truth[parameter] <= row["q95"])


def _check_diagnostics(rec: Recovered, label: str) -> None:
    table = rec.intervals.assign(truth=pd.Series(rec.truth))
    table["inside"] = (table["q05"] <= table["truth"]) & (table["truth"] <= table["q95"])
    print(f"\n{label}: {rec.diagnostics}\n{table.to_string(float_format='{:.4g}'.format)}")
    diag = rec.diagnostics
    assert diag["draws"] == 2000
    assert diag["divergences"] == 0
    assert diag["max_rhat"] < 1.05
    assert diag["min_ess_bulk"] > 100


def _coverage(recs: list[Recovered], params: tuple[str, ...]) -> pd.Series:
    return pd.Series({p: sum(_inside(r, p) for r in recs) for p in params})


def _max_misses(checks: int) -> int:
    """99.9% quantile of Binomial(checks, 0.1): misses exact 90% intervals allow."""
    from scipy.stats import binom

    return int(binom.ppf(0.999, checks, 0.1))


@pytest.mark.parametrize("corr", sorted(SLOPE_SEEDS), ids=lambda c: f"corr{c:+.1f}")
def test_random_slopes_truth_inside_90_interval(corr: float) -> None:
    recs = [recover_slopes(corr, seed) for seed in SLOPE_SEEDS[corr]]
    covered = _coverage(recs, SLOPE_PARAMS)
    print(f"\ncorr={corr:+.1f}: covered out of {len(recs)} data sets\n{covered.to_string()}")
    assert (covered >= MIN_COVERED).all(), covered.to_dict()
    misses = len(recs) * len(SLOPE_PARAMS) - int(covered.sum())
    assert misses <= _max_misses(len(recs) * len(SLOPE_PARAMS))


@pytest.mark.parametrize("corr", sorted(SLOPE_SEEDS), ids=lambda c: f"corr{c:+.1f}")
def test_random_slopes_fit_diagnostics(corr: float) -> None:
    for seed in SLOPE_SEEDS[corr]:
        rec = recover_slopes(corr, seed)
        _check_diagnostics(rec, f"slopes corr={corr:+.1f} seed={seed}")
        assert list(rec.intervals.index) == list(SLOPE_PARAMS)


def test_random_intercepts_truth_inside_90_interval() -> None:
    recs = [recover_intercepts(seed) for seed in INTERCEPT_SEEDS]
    covered = _coverage(recs, INTERCEPT_PARAMS)
    print(f"\nintercepts: covered out of {len(recs)} data sets\n{covered.to_string()}")
    assert (covered >= MIN_COVERED).all(), covered.to_dict()
    misses = len(recs) * len(INTERCEPT_PARAMS) - int(covered.sum())
    assert misses <= _max_misses(len(recs) * len(INTERCEPT_PARAMS))


def test_random_intercepts_fit_diagnostics() -> None:
    for seed in INTERCEPT_SEEDS:
        _check_diagnostics(recover_intercepts(seed), f"intercepts seed={seed}")
