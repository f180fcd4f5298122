"""Recovery of known parameters by the default (collapsed) engine, with stated power.

Design: ``y ~ time + (time | subject)`` on :data:`N_SETS` fresh simulated data sets of
100 subjects x 8 visits (sleepstudy-like truth), the true intercept-slope correlation
+0.5 in half of them and -0.5 in the other half. Every quantity is read from the public
report tables: fixed effects, SDs, correlation and sigma from ``Fit.summary()``, the ICC
from :func:`hierlmm.report.icc` (at time = 0, the ICC the report prints) and the ICC at
the last visit from :func:`hierlmm.report.icc_curve`.

**Coverage, with its power.** Each quantity's central 90% interval must cover the truth
in at least :data:`MIN_COVERED` of the :data:`N_SETS` data sets. If the true coverage is
75% or less, the number covered is at most Binomial(60, 0.75), which reaches 50 with
probability ``binom.sf(49, 60, 0.75) = 0.086``: the test rejects such an interval with
probability >= 0.914 (:func:`test_the_coverage_rule_has_the_stated_power` checks these
numbers). A correct 90% interval fails the rule with probability
``binom.cdf(49, 60, 0.9) = 0.034`` per quantity.

**Point estimates** are compared with the truth in posterior SDs, ``z = (mean - truth) /
sd``: every ``|z|`` below :data:`Z_MAX` (a normal posterior exceeds 4.5 with probability
7e-6, so 480 checks pass with probability 0.997), and the average ``z`` of each quantity
over the data sets within :data:`BIAS_MAX` of 0 (its standard error is at most
``1 / sqrt(60) = 0.13``, so 0.5 is about four standard errors).

The sampled engine is checked against the collapsed one in test_engine_agreement.py; the
whole posterior is checked by simulation-based calibration in test_sbc.py.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

import hierlmm
from hierlmm.report import icc, icc_curve

pytestmark = pytest.mark.slow

N_SETS = 60
MIN_COVERED = 50
Z_MAX = 4.5
BIAS_MAX = 0.5
SAMPLING = {"draws": 250, "tune": 250, "chains": 2, "progress": False,
            "warn_convergence": False}
QUANTITIES = ("Intercept", "time", "sd(Intercept|subject)", "sd(time|subject)",
              "corr(Intercept,time|subject)", "sigma", "icc(subject)", "icc(subject|time=7)")
T_LAST = 7.0  # the last visit: the ICC curve of hierlmm.report.icc_curve is checked there


def _truth(sim) -> dict[str, float]:
    t = sim.truth
    sd0, sd1, r = t["sd"]["Intercept"], t["sd"]["time"], t["corr"]
    var_t = sd0**2 + 2 * T_LAST * r * sd0 * sd1 + T_LAST**2 * sd1**2
    return {
        "Intercept": t["beta"]["Intercept"], "time": t["beta"]["time"],
        "sd(Intercept|subject)": sd0, "sd(time|subject)": t["sd"]["time"],
        "corr(Intercept,time|subject)": t["corr"], "sigma": t["sigma"],
        "icc(subject)": sd0**2 / (sd0**2 + t["sigma"] ** 2),
        "icc(subject|time=7)": var_t / (var_t + t["sigma"] ** 2),
    }


@functools.cache
def recovered() -> pd.DataFrame:
    """One row per (data set, quantity): truth, mean, sd, q05, q95 and diagnostics."""
    rows = []
    for k in range(N_SETS):
        corr = 0.5 if k % 2 == 0 else -0.5
        sim = hierlmm.datasets.simulate_random_slopes(n_groups=100, n_per_group=8,
                                                      corr=corr, seed=1000 + k)
        fit = hierlmm.fit(sim.formula, sim.data, seed=2000 + k, **SAMPLING)
        assert fit.engine == "collapsed"
        curve = icc_curve(fit, "subject", grid=[T_LAST]).assign(
            parameter="icc(subject|time=7)").set_index("parameter")
        table = pd.concat([fit.summary(), icc(fit).set_index("parameter"), curve])
        diag = fit.diagnostics()
        for quantity, truth in _truth(sim).items():
            row = table.loc[quantity]
            rows.append({"set": k, "quantity": quantity, "truth": truth, "mean": row["mean"],
                         "sd": row["sd"], "q05": row["q05"], "q95": row["q95"],
                         "divergences": diag["divergences"], "max_rhat": diag["max_rhat"]})
    out = pd.DataFrame(rows)
    out["covered"] = (out["q05"] <= out["truth"]) & (out["truth"] <= out["q95"])
    out["z"] = (out["mean"] - out["truth"]) / out["sd"]
    return out


def test_the_coverage_rule_has_the_stated_power() -> None:
    assert binom.sf(MIN_COVERED - 1, N_SETS, 0.75) <= 0.1  # power >= 0.9 against 75%
    assert binom.sf(MIN_COVERED - 1, N_SETS, 0.75) == pytest.approx(0.086, abs=5e-4)
    assert binom.cdf(MIN_COVERED - 1, N_SETS, 0.9) == pytest.approx(0.034, abs=5e-4)


def test_every_quantity_is_covered_at_the_nominal_rate() -> None:
    table = recovered()
    covered = table.groupby("quantity")["covered"].sum()
    print(f"\ncovered out of {N_SETS} data sets (need {MIN_COVERED}):\n{covered.to_string()}")
    assert sorted(covered.index) == sorted(QUANTITIES)
    assert (covered >= MIN_COVERED).all(), covered.to_dict()


def test_point_estimates_are_within_posterior_sds_of_the_truth() -> None:
    table = recovered()
    bias = table.groupby("quantity")["z"].mean()
    print(f"\nmean z = (mean - truth) / sd over {N_SETS} data sets:\n{bias.to_string()}")
    assert table["z"].abs().max() < Z_MAX, table.loc[table["z"].abs().idxmax()].to_dict()
    assert (bias.abs() < BIAS_MAX).all(), bias.to_dict()


def test_fits_converged() -> None:
    table = recovered().drop_duplicates("set")
    assert (table["divergences"] == 0).all(), table[table["divergences"] > 0]["set"].tolist()
    assert table["max_rhat"].max() < 1.05


def test_both_signs_of_the_correlation_are_recovered() -> None:
    table = recovered()
    corr = table[table["quantity"] == "corr(Intercept,time|subject)"]
    sign = np.sign(corr["mean"]) == np.sign(corr["truth"])
    assert sign.mean() > 0.9  # 100 subjects pin the sign of a +-0.5 correlation
