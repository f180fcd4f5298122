"""The posterior does not depend on the units of the response or of a predictor.

Both engines fit a standardized copy of the design (hierlmm.model.scaling) and map the
draws back, so sleepstudy's response in kilo-milliseconds or nano-milliseconds, or Days
in units of 1e-4 or 1e4 days, gives the same posterior after rescaling, within Monte
Carlo error, and with R-hat below 1.03. (Not the warning's 1.01: the rescaled designs
differ from the original in the last bits, so each fit is a different chain; the sampled
engine's sleepstudy fit reached 1.014 in one of them, days x 1e4, once.)
"""

from __future__ import annotations

import pytest

import hierlmm

FORMULA = "Reaction ~ Days + (Days | Subject)"
SETTINGS = dict(draws=1000, tune=1000, chains=4, seed=5, progress=False)
# posterior means agree within this many posterior SDs (Monte Carlo SE of a difference of
# two means with ESS >= 400 each is at most 0.07 SD, so this is about 4 SE)
TOLERANCE = 0.3


def _unit(parameter: str, kind: str, response: float, days: float) -> float:
    """Factor by which ``parameter`` changes when Reaction and Days are rescaled."""
    if kind == "corr":
        return 1.0
    per_day = parameter in ("Days", "sd(Days|Subject)")
    return response / days if per_day else response


@pytest.fixture(scope="module")
def reference(sleepstudy):
    return {engine: hierlmm.fit(FORMULA, sleepstudy, engine=engine, **SETTINGS).summary()
            for engine in ("collapsed", "sampled")}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["collapsed", "sampled"])
@pytest.mark.parametrize(
    ("response", "days"), [(1e-6, 1.0), (1e6, 1.0), (1.0, 1e-4), (1.0, 1e4)],
    ids=["y*1e-6", "y*1e6", "days*1e-4", "days*1e4"],
)
def test_posterior_is_the_same_in_any_units(sleepstudy, reference, engine, response, days):
    data = sleepstudy.assign(Reaction=sleepstudy["Reaction"] * response,
                             Days=sleepstudy["Days"] * days)
    fit = hierlmm.fit(FORMULA, data, engine=engine, warn_convergence=False, **SETTINGS)
    assert fit.diagnostics()["max_rhat"] < 1.03
    table = fit.summary()
    ref = reference[engine]
    assert list(table.index) == list(ref.index)
    for parameter, row in ref.iterrows():
        unit = _unit(parameter, row["kind"], response, days)
        gap = abs(table.loc[parameter, "mean"] / unit - row["mean"]) / row["sd"]
        assert gap < TOLERANCE, (parameter, gap)
        ratio = table.loc[parameter, "sd"] / unit / row["sd"]
        assert 0.8 < ratio < 1.25, (parameter, ratio)
