"""summary.json content: exact shape, numbers taken from the summary table, strict JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from _fakes import corr_matrix
from _fakes import posterior_fit as fake_posterior_fit

import hierlmm
from hierlmm.design import build_design
from hierlmm.inference.result import Fit
from hierlmm.model import names
from hierlmm.report.json_summary import (
    SECTIONS,
    STAT_COLUMNS,
    summary_dict,
    write_summary_json,
)

STAT_KEYS = list(STAT_COLUMNS)


def posterior_fit(formula: str, data: pd.DataFrame, *, constant_sigma: bool = False) -> Fit:
    """A Fit whose draws are seeded normal noise (no sampling), with correlations."""
    design = build_design(hierlmm.parse_formula(formula), data)
    rng = np.random.default_rng(5)
    cd = ("chain", "draw")
    sigma = np.full((2, 50), 3.0) if constant_sigma else 3.0 + 0.1 * rng.normal(size=(2, 50))
    variables = {names.BETA: rng.normal(size=(2, 50, design.p)), names.SIGMA: sigma}
    for g in design.groups:
        variables[names.sd(g.factor)] = 1.0 + rng.gamma(2.0, size=(2, 50, g.q))
        if g.correlated and g.q > 1:
            variables[names.corr(g.factor)] = corr_matrix(np.tanh(rng.normal(size=(2, 50))))
    stats = xr.Dataset({"diverging": (cd, np.eye(2, 50, k=7, dtype=bool))})
    timings = {"build_s": 0.5, "compile_s": 6.0, "sample_s": 3.0, "recover_s": 0.0,
               "total_s": 9.5}
    return fake_posterior_fit(formula, data, variables, groups={"sample_stats": stats},
                         engine="collapsed", sampler="nutpie", seed=7, timings=timings)


@pytest.fixture(scope="module")
def sleep() -> Fit:
    return posterior_fit("Reaction ~ Days + (Days | Subject)", hierlmm.datasets.load("sleepstudy"))


def test_shape_of_sleepstudy_summary(sleep: Fit) -> None:
    out = summary_dict(sleep)
    assert list(out) == ["model", "fixed", "random", "residual", "diagnostics", "timing", "icc",
                         "variance_components", "r2"]
    assert out["model"] == {
        "formula": "Reaction ~ 1 + Days + (1 + Days | Subject)", "family": "gaussian",
        "link": "identity", "n_obs": 180, "groups": {"Subject": 18}, "engine": "collapsed",
        "sampler": "nutpie", "seed": 7, "n_dropped": 0,
    }
    assert list(out["fixed"]) == ["Intercept", "Days"]
    assert list(out["random"]) == ["Subject"]
    assert list(out["random"]["Subject"]["sd"]) == ["Intercept", "Days"]
    assert list(out["random"]["Subject"]["corr"]) == ["Intercept,Days"]
    assert list(out["residual"]) == ["sigma"]
    for stats in (out["fixed"]["Days"], out["random"]["Subject"]["corr"]["Intercept,Days"],
                  out["residual"]["sigma"]):
        assert list(stats) == STAT_KEYS
    assert out["timing"] == {"build_s": 0.5, "compile_s": 6.0, "sample_s": 3.0,
                             "recover_s": 0.0, "total_s": 9.5}
    assert list(out["diagnostics"]) == ["divergences", "max_rhat", "min_ess_bulk"]
    assert out["diagnostics"]["divergences"] == 2  # eye(2, 50, k=7): two True


def test_numbers_match_draws_and_table(sleep: Fit) -> None:
    out = summary_dict(sleep)
    table = sleep.summary()
    days = sleep.posterior[names.BETA].sel({names.FIXED_DIM: "Days"}).values.ravel()
    assert out["fixed"]["Days"]["mean"] == pytest.approx(days.mean(), rel=1e-12)
    assert out["fixed"]["Days"]["q95"] == pytest.approx(np.quantile(days, 0.95), rel=1e-12)
    for key in STAT_KEYS:
        assert out["random"]["Subject"]["sd"]["Days"][key] == pytest.approx(
            table.loc["sd(Days|Subject)", key], rel=1e-12
        )
        assert out["random"]["Subject"]["corr"]["Intercept,Days"][key] == pytest.approx(
            table.loc["corr(Intercept,Days|Subject)", key], rel=1e-12
        )
    assert out["diagnostics"]["max_rhat"] == pytest.approx(table["rhat"].max(), rel=1e-12)
    assert out["diagnostics"]["min_ess_bulk"] == pytest.approx(table["ess_bulk"].min(), rel=1e-12)


def test_nested_factors_and_nan_written_as_null(tmp_path) -> None:
    fit = posterior_fit("strength ~ 1 + (1 | batch/cask)", hierlmm.datasets.load("pastes"),
                        constant_sigma=True)
    out = summary_dict(fit)
    assert out["model"]["groups"] == {"batch": 10, "batch:cask": 30}
    assert list(out["random"]) == ["batch", "batch:cask"]
    assert out["random"]["batch:cask"] == {
        "sd": {"Intercept": out["random"]["batch:cask"]["sd"]["Intercept"]}, "corr": {},
    }
    assert out["residual"]["sigma"]["rhat"] is None  # constant draws: R-hat undefined
    assert out["residual"]["sigma"]["mean"] == pytest.approx(3.0)
    path = write_summary_json(fit, tmp_path / "summary.json")
    text = path.read_text()
    assert "NaN" not in text
    assert json.loads(text) == out  # strict JSON that round-trips


def test_extra_sections_extend_the_dict(sleep: Fit) -> None:
    out = summary_dict(sleep, extra={"n_params": lambda fit, table: len(table)})
    assert list(out)[-1] == "n_params" and out["n_params"] == 6
    assert [name for name, _ in SECTIONS][:2] == ["model", "fixed"]
    assert all(v is None or math.isfinite(v) for v in out["timing"].values())
