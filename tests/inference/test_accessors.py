"""fit.fixef / ranef / coef / varcorr: shapes, names and the numbers behind them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

import hierlmm
from hierlmm.inference.accessors import coef_draws, draw_summary
from hierlmm.model import names

FIT_KW = dict(draws=200, tune=200, chains=2, seed=3, progress=False, warn_convergence=False)
STATS = ["mean", "sd", "lower", "upper"]


@pytest.fixture(scope="module")
def fit(sleep_fit) -> hierlmm.Fit:
    return sleep_fit


def _flat(values: np.ndarray) -> np.ndarray:
    return values.reshape((-1,) + values.shape[2:])


def test_draw_summary_is_mean_sd_and_equal_tailed_quantiles() -> None:
    draws = np.arange(20.0).reshape(2, 10)
    stats = draw_summary(draws, prob=0.5)
    assert stats["mean"] == 9.5
    assert stats["sd"] == pytest.approx(np.std(np.arange(20.0), ddof=1))
    assert (stats["lower"], stats["upper"]) == (4.75, 14.25)
    with pytest.raises(ValueError, match="prob"):
        draw_summary(draws, prob=1.0)


def test_fixef_summarises_beta(fit) -> None:
    table = fit.fixef(prob=0.8)
    assert table.index.tolist() == ["Intercept", "Days"] and table.index.name == "term"
    assert table.columns.tolist() == STATS
    beta = _flat(fit.posterior[names.BETA].values)  # (S, 2)
    assert_allclose(table["mean"], beta.mean(axis=0), rtol=1e-12)
    assert_allclose(table["lower"], np.quantile(beta, 0.1, axis=0), rtol=1e-12)
    assert_allclose(table["upper"], np.quantile(beta, 0.9, axis=0), rtol=1e-12)
    assert 200 < table.loc["Intercept", "mean"] < 300 and 5 < table.loc["Days", "mean"] < 15


def test_ranef_is_tidy_per_level_and_term(fit) -> None:
    table = fit.ranef(prob=0.9)
    assert table.shape == (36, 7)
    assert table.columns.tolist() == ["factor", "level", "term", *STATS]
    assert table["factor"].unique().tolist() == ["Subject"]
    assert table["level"].iloc[:4].tolist() == ["308", "308", "309", "309"]
    assert table["term"].iloc[:2].tolist() == ["Intercept", "Days"]
    b = fit.posterior[names.effects("Subject")].values  # (C, D, 18, 2)
    row = table.query("level == '309' and term == 'Days'").iloc[0]
    level = fit.design.group("Subject").levels.index("309")
    assert row["mean"] == pytest.approx(b[:, :, level, 1].mean(), rel=1e-12)
    assert row["lower"] < row["mean"] < row["upper"]
    assert abs(table["mean"]).max() > 1  # effects, not zeros


def test_coef_is_fixef_plus_ranef_per_draw(fit) -> None:
    draws = coef_draws(fit, "Subject")
    assert draws.dims == ("chain", "draw", "level", "term")
    assert draws.shape == (2, fit.settings["draws"], 18, 2)
    beta = fit.posterior[names.BETA].values  # (C, D, 2)
    b = fit.posterior[names.effects("Subject")].values  # (C, D, 18, 2)
    assert_allclose(draws.values, beta[:, :, None, :] + b, rtol=1e-12)
    table = fit.coef(prob=0.9)
    assert table.shape == (36, 7) and table.columns.tolist() == [
        "factor", "level", "term", *STATS]
    # means add; intervals come from the summed draws, not from adding intervals
    ranef, fixef = fit.ranef(), fit.fixef()
    expected = ranef["mean"].to_numpy() + np.tile(fixef["mean"].to_numpy(), 18)
    assert_allclose(table["mean"], expected, rtol=1e-10)
    flat = _flat(draws.values)
    assert_allclose(table["lower"], np.quantile(flat, 0.05, axis=0).reshape(-1), rtol=1e-12)


def test_coef_with_a_random_only_term_and_a_fixed_only_term(sleepstudy) -> None:
    data = sleepstudy.assign(x=np.tile(np.linspace(-1, 1, 10), 18))
    fit = hierlmm.fit("Reaction ~ Days + (0 + x | Subject)", data, **FIT_KW)
    draws = coef_draws(fit, "Subject")
    assert draws["term"].values.tolist() == ["Intercept", "Days", "x"]
    beta = fit.posterior[names.BETA].values
    b = fit.posterior[names.effects("Subject")].values[..., 0]
    assert_allclose(draws.sel(term="Days").values, np.repeat(beta[..., 1:2], 18, axis=2))
    assert_allclose(draws.sel(term="x").values, b)


def test_varcorr_lists_sds_variances_correlations_and_residual(fit) -> None:
    table = fit.varcorr(prob=0.9)
    assert table.columns.tolist() == ["group", "name", "statistic", *STATS]
    assert table[["group", "name", "statistic"]].values.tolist() == [
        ["Subject", "Intercept", "sd"], ["Subject", "Intercept", "variance"],
        ["Subject", "Days", "sd"], ["Subject", "Days", "variance"],
        ["Subject", "Intercept,Days", "corr"],
        ["Residual", "sigma", "sd"], ["Residual", "sigma", "variance"],
    ]
    sigma = fit.posterior[names.SIGMA].values
    residual = table.set_index(["group", "statistic"]).loc[("Residual", "variance")]
    assert residual["mean"] == pytest.approx(np.mean(sigma**2), rel=1e-12)
    assert 15 < table.loc[5, "mean"] < 40  # residual SD, lme4: 25.6
    corr = table.loc[4]
    assert -1 <= corr["lower"] < corr["upper"] <= 1


def test_accessors_work_on_a_fit_with_two_factors(crossed_fit) -> None:
    fit = crossed_fit
    ranef = fit.ranef()
    assert ranef["factor"].unique().tolist() == ["plate", "sample"]
    assert ranef.shape == (24 + 6, 7)
    assert fit.coef().shape == (30, 7)
    assert fit.varcorr()["group"].tolist() == ["plate"] * 2 + ["sample"] * 2 + ["Residual"] * 2
    assert isinstance(fit.fixef(), pd.DataFrame)
