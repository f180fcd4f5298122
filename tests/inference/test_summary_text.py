"""print(fit.summary()): a rounded table at 80 columns; q2.5/q97.5 names; a DataFrame still."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hierlmm
from hierlmm.inference.summary import Summary, quantile_labels
from hierlmm.inference.summary_text import row_decimals


@pytest.fixture(scope="module")
def fit(sleep_fit) -> hierlmm.Fit:
    return sleep_fit


def test_quantile_labels() -> None:
    assert quantile_labels(0.9) == ("q05", "q95")
    assert quantile_labels(0.95) == ("q2.5", "q97.5")
    assert quantile_labels(0.99) == ("q0.5", "q99.5")
    assert quantile_labels(0.8) == ("q10", "q90")


def test_summary_at_95_percent_names_its_columns_after_the_interval(fit) -> None:
    table = fit.summary(prob=0.95)
    assert table.columns.tolist() == ["kind", "factor", "term", "mean", "median", "sd",
                                      "q2.5", "q97.5", "rhat", "ess_bulk"]
    draws = fit.posterior["beta"].sel(fixed_term="Days").values.reshape(-1)
    assert table.loc["Days", "q2.5"] == pytest.approx(np.quantile(draws, 0.025), rel=1e-12)


def test_printed_summary_is_rounded_and_fits_80_columns(fit) -> None:
    table = fit.summary()
    text = str(table)
    lines = text.splitlines()
    assert repr(table) == text
    assert max(map(len, lines)) <= 80
    assert lines[0].split() == ["parameter", "mean", "sd", "90%", "interval", "rhat",
                                "ess_bulk"]
    assert [line.split()[0] for line in lines[2:]] == table.index.tolist()
    days = lines[3].split()
    decimals = row_decimals(table.loc["Days", "sd"])
    assert days[1] == f"{table.loc['Days', 'mean']:.{decimals}f}"
    assert days[-1] == str(round(table.loc["Days", "ess_bulk"]))  # ESS as an integer
    assert days[-2] == f"{table.loc['Days', 'rhat']:.3f}"
    assert "." not in days[-1] and len(days[1].split(".")[1]) == decimals


def test_summary_is_still_a_dataframe(fit) -> None:
    table = fit.summary()
    assert isinstance(table, pd.DataFrame) and isinstance(table, Summary)
    assert table.loc["Days", "mean"] == pytest.approx(
        fit.posterior["beta"].sel(fixed_term="Days").values.mean(), rel=1e-12)
    rows = table.loc[["Days", "sigma"]]
    assert isinstance(rows, Summary) and len(str(rows).splitlines()) == 4
    # a selection without the text's columns prints as a DataFrame
    assert "median" in str(table[["median"]])
    assert isinstance(table["mean"], pd.Series)
