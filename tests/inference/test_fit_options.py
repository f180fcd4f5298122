"""Options of ``hierlmm.fit``: bad values raise naming the option; seeds reproduce draws.

Two tiny fits (2 chains x 20 draws, sleepstudy with 4 missing rows, ``na_action="drop"``,
``seed=3``) serve every sampling test: the first must raise the ConvergenceWarning, the
second (``warn_convergence=False``) must report the dropped rows and reproduce the first
fit's draws exactly.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

import hierlmm
from hierlmm import ConvergenceWarning, DataError, GroupSpec, SpecError

FORMULA = "Reaction ~ Days + (Days | Subject)"
TINY = {"draws": 20, "tune": 20, "chains": 2, "seed": 3, "progress": False}
MISSING_ROWS = {"Reaction": [4, 57], "Days": [100, 179]}
CHEAP = {"draws": 1, "tune": 1, "chains": 1, "progress": False}  # in case validation regresses


@pytest.fixture(scope="module")
def with_missing(sleepstudy: pd.DataFrame) -> pd.DataFrame:
    """sleepstudy with 4 rows holding a NaN (2 in the response, 2 in ``Days``)."""
    data = sleepstudy.copy()
    data["Days"] = data["Days"].astype(float)
    for column, rows in MISSING_ROWS.items():
        data.loc[rows, column] = np.nan
    return data


@pytest.fixture(scope="module")
def first_fit(with_missing: pd.DataFrame) -> tuple[hierlmm.Fit, list[str]]:
    """A too-short run that must warn; returns the fit and the warning messages."""
    with pytest.warns(ConvergenceWarning) as record:
        result = hierlmm.fit(FORMULA, with_missing, na_action="drop", **TINY)
    assert {w.filename for w in record} == {__file__}  # the caller's line, not hierlmm's
    return result, [str(w.message) for w in record]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("sampler", "stan"),
        ("engine", "fast"),
        ("na_action", "ignore"),
        ("draws", 0),
        ("draws", 2.5),
        ("draws", True),
        ("tune", -1),
        ("chains", 0),
        ("chains", "4"),
        ("target_accept", 1.0),
        ("target_accept", 0.0),
        ("target_accept", 1.5),
        ("draws", 10**12),
        ("tune", 10**7),
        ("chains", 1000),
    ],
)
def test_bad_option_raises_spec_error_naming_it(
    sleepstudy: pd.DataFrame, option: str, value: object
) -> None:
    with pytest.raises(SpecError, match=rf"{option}={value!r}"):
        hierlmm.fit(FORMULA, sleepstudy, **{**CHEAP, option: value})


@pytest.mark.parametrize("value", ["abc", -1, 1.5])
def test_bad_seed_raises_spec_error_naming_it(sleepstudy: pd.DataFrame, value: object) -> None:
    with pytest.raises(SpecError, match="seed"):
        hierlmm.fit(FORMULA, sleepstudy, **CHEAP, seed=value)


@pytest.mark.parametrize("model", [42, None, GroupSpec("Subject"), ["Reaction ~ Days"]])
def test_model_argument_must_be_formula_or_spec(sleepstudy: pd.DataFrame, model) -> None:
    with pytest.raises(SpecError, match="formula string or a ModelSpec"):
        hierlmm.fit(model, sleepstudy, **CHEAP)


def test_priors_must_be_a_prior_spec(sleepstudy: pd.DataFrame) -> None:
    with pytest.raises(SpecError, match="PriorSpec"):
        hierlmm.fit(FORMULA, sleepstudy, **CHEAP, priors={"sd_scale": 1.0})


def test_missing_values_raise_by_default(with_missing: pd.DataFrame) -> None:
    with pytest.raises(DataError, match="Reaction"):
        hierlmm.fit(FORMULA, with_missing, **CHEAP)


def test_short_run_raises_convergence_warning(first_fit) -> None:
    result, messages = first_fit
    assert len(messages) == 1
    assert "min bulk ESS" in messages[0] and "draws/tune" in messages[0]
    diag = result.diagnostics()
    assert diag["draws"] == 40
    assert diag["min_ess_bulk"] < 400


def test_na_drop_drops_rows(first_fit, sleepstudy: pd.DataFrame) -> None:
    result, _ = first_fit
    assert result.design.n_dropped == 4
    assert result.design.n == sleepstudy.shape[0] - 4 == 176
    assert result.settings["na_action"] == "drop"
    assert result.idata["observed_data"]["y"].shape == (176,)


def test_same_seed_gives_identical_draws_and_drop_is_reported(
    first_fit, with_missing: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    first, _ = first_fit
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING, logger="hierlmm"):
        warnings.simplefilter("error", ConvergenceWarning)
        second = hierlmm.fit(
            FORMULA, with_missing, na_action="drop", warn_convergence=False, **TINY
        )
    assert "dropped 4 row(s)" in caplog.text
    assert first.seed == second.seed == 3
    a, b = first.posterior, second.posterior
    assert sorted(a.data_vars) == sorted(b.data_vars)
    assert {"beta", "sigma", "sd_Subject", "corr_Subject", "b_Subject"} <= set(a.data_vars)
    for name in a.data_vars:
        assert a[name].shape[:2] == (2, 20)
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    assert np.ptp(a["sigma"].values) > 0


def test_residual_option_reaches_the_model_stage(sleepstudy) -> None:
    with pytest.raises(SpecError, match="residual must be a hierlmm.ResidualSpec"):
        hierlmm.fit(FORMULA, sleepstudy, residual="ar1")
    ar1 = hierlmm.ResidualSpec(kind="ar1", time="Days", group="Subject")
    with pytest.raises(SpecError, match='residual kind "ar1" needs family="gaussian"'):
        hierlmm.fit(FORMULA, sleepstudy, residual=ar1, family="student_t", **TINY)
    gappy = sleepstudy[sleepstudy["Days"] != 4]
    with pytest.raises(DataError, match="Days"):
        hierlmm.fit(FORMULA, gappy, residual=ar1, **TINY)


def test_family_option_reaches_the_spec_and_the_engine(sleepstudy) -> None:
    with pytest.raises(SpecError, match="option family='bogus' is not recognised"):
        hierlmm.fit(FORMULA, sleepstudy, family="bogus")
    with pytest.raises(SpecError, match='engine="collapsed" needs a gaussian model'):
        hierlmm.fit(FORMULA, sleepstudy, family="student_t", engine="collapsed", **TINY)
    spec = hierlmm.parse_formula(FORMULA)
    with pytest.raises(DataError, match=r"column 'Reaction' \(counts\) has \d+ non-integer"):
        hierlmm.fit(spec, sleepstudy, family="poisson", **TINY)
