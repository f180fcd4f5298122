"""hierlmm's posterior on sleepstudy agrees with statsmodels MixedLM REML.

Tolerances (stated up front): posterior means of the fixed effects lie within 0.25
posterior SD of the REML estimates; posterior medians of the two random-effect SDs and
of the residual SD lie within 20% of REML's. The REML numbers are stored in
``reference/sleepstudy_reml.json`` (written by ``reference/make_sleepstudy_reml.py``)
and recomputed live to check that the stored file is current.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest

import hierlmm

pytestmark = pytest.mark.slow

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
FORMULA = "Reaction ~ Days + (Days | Subject)"
ENGINES = ("collapsed", "sampled")
FIXED_TOL_SD = 0.25
SD_TOL_REL = 0.20
SD_PARAMS = {
    "sd(Intercept|Subject)": ("sd", "Intercept"),
    "sd(Days|Subject)": ("sd", "Days"),
    "sigma": ("sigma", None),
}


def _reference_module():
    path = REFERENCE_DIR / "make_sleepstudy_reml.py"
    spec = importlib.util.spec_from_file_location("make_sleepstudy_reml", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reml() -> dict:
    return json.loads((REFERENCE_DIR / "sleepstudy_reml.json").read_text())


def _reml_value(reml: dict, key: str, term: str | None) -> float:
    return reml[key] if term is None else reml[key][term]


@pytest.fixture(scope="module", params=ENGINES)
def fitted(request, sleepstudy: pd.DataFrame) -> hierlmm.Fit:
    """One 4 x 1000 fit per engine; any ConvergenceWarning fails the module (warnings=error)."""
    result = hierlmm.fit(
        FORMULA, sleepstudy, draws=1000, tune=1000, chains=4, seed=20240601,
        engine=request.param, progress=False,
    )
    assert result.engine == request.param
    return result


@pytest.fixture(scope="module")
def summary(fitted: hierlmm.Fit) -> pd.DataFrame:
    return fitted.summary()


def comparison_table(table: pd.DataFrame, reml: dict) -> pd.DataFrame:
    """Rows: parameter; hierlmm mean, median, posterior sd, REML, gap in SDs and in %."""
    rows = []
    targets = {t: ("fixed", t) for t in ("Intercept", "Days")} | SD_PARAMS
    for parameter, (key, term) in targets.items():
        row = table.loc[parameter]
        ref = _reml_value(reml, key, term)
        rows.append({
            "parameter": parameter,
            "mean": row["mean"],
            "median": row["median"],
            "post_sd": row["sd"],
            "reml": ref,
            "gap_in_sd": (row["mean"] - ref) / row["sd"],
            "gap_pct": 100 * (row["median"] - ref) / ref,
        })
    return pd.DataFrame(rows).set_index("parameter")


def test_stored_reference_is_current(reml: dict, sleepstudy: pd.DataFrame) -> None:
    live = _reference_module().sleepstudy_reml(sleepstudy)
    assert live["converged"] and reml["converged"]
    for key in ("fixed", "sd"):
        for term, value in reml[key].items():
            assert live[key][term] == pytest.approx(value, rel=1e-5), (key, term)
    for key in ("corr", "sigma", "llf"):
        assert live[key] == pytest.approx(reml[key], rel=1e-5), key
    assert reml["sd"]["Intercept"] == pytest.approx(24.74, abs=0.01)  # lme4's printout
    assert reml["sigma"] == pytest.approx(25.59, abs=0.01)


@pytest.mark.parametrize("term", ["Intercept", "Days"])
def test_fixed_effects_within_quarter_posterior_sd(summary, reml, term: str) -> None:
    row = summary.loc[term]
    gap = abs(row["mean"] - reml["fixed"][term]) / row["sd"]
    assert gap < FIXED_TOL_SD, f"{term}: |mean - REML| = {gap:.3f} posterior SDs"


@pytest.mark.parametrize("parameter", list(SD_PARAMS))
def test_sd_medians_within_20_percent(summary, reml, parameter: str) -> None:
    key, term = SD_PARAMS[parameter]
    ref = _reml_value(reml, key, term)
    median = summary.loc[parameter, "median"]
    assert abs(median / ref - 1) < SD_TOL_REL, f"{parameter}: median {median:.3f} vs {ref:.3f}"


def test_comparison_table(fitted: hierlmm.Fit, summary, reml) -> None:
    """Print the table (visible with ``pytest -s``) and check its gaps in one place."""
    table = comparison_table(summary, reml)
    print(f"\nhierlmm ({fitted.engine}) vs statsmodels REML on sleepstudy")
    print(table.to_string(float_format="{:.3f}".format))
    assert list(table.index) == ["Intercept", "Days", *SD_PARAMS]
    assert (table.loc[["Intercept", "Days"], "gap_in_sd"].abs() < FIXED_TOL_SD).all()
    assert (table.loc[list(SD_PARAMS), "gap_pct"].abs() < 100 * SD_TOL_REL).all()


def test_fit_converged(fitted: hierlmm.Fit) -> None:
    diag = fitted.diagnostics()
    assert diag["draws"] == 4000
    assert diag["divergences"] == 0
    assert diag["max_rhat"] < 1.01
    assert diag["min_ess_bulk"] > 400
