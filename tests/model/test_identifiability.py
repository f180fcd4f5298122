"""Models the data cannot identify are refused before anything is built."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import hierlmm
from hierlmm.design import build_design
from hierlmm.errors import DataError, SpecError
from hierlmm.families import get_family
from hierlmm.model.builder import plan_model
from hierlmm.model.identifiability import check_identifiable, variance_parameters


def plan(formula: str, data: pd.DataFrame, family: str = "gaussian"):
    spec = hierlmm.parse_formula(formula, family=family)
    return plan_model(design=build_design(spec, data), spec=spec)


@pytest.fixture
def per_row(sleepstudy: pd.DataFrame) -> pd.DataFrame:
    return sleepstudy.assign(id=np.arange(len(sleepstudy)))


@pytest.mark.parametrize("family", ["gaussian", "student_t"])
def test_one_observation_per_level_is_refused_with_a_residual_sd(per_row, family) -> None:
    with pytest.raises(DataError, match=rf"grouping factor 'id' has 180 levels for 180 "
                       rf"observations.*residual of the {family} family"):
        plan("Reaction ~ Days + (1 | Subject) + (1 | id)", per_row, family)


def test_observation_level_effect_stays_legal_without_a_residual_sd(per_row) -> None:
    spec = hierlmm.parse_formula("Reaction ~ Days + (1 | id)")
    design = build_design(spec, per_row)
    poisson_like = SimpleNamespace(has_residual_sd=False, parameters=(), name="poisson")
    check_identifiable(design, poisson_like)  # no error: overdispersion effect


def test_fewer_observations_than_parameters(sleepstudy: pd.DataFrame) -> None:
    tiny = pd.DataFrame({"y": [1.0, 2.5, 0.5, 3.0], "x": [0.0, 1.0, 0.0, 1.0],
                         "g": ["a", "a", "b", "b"]})
    with pytest.raises(DataError, match=r"4 observations cannot identify 2 fixed effects "
                       r"plus 4 variance parameters"):
        plan("y ~ x + (x | g)", tiny)
    assert variance_parameters(build_design(hierlmm.parse_formula(
        "Reaction ~ Days + (Days | Subject)"), sleepstudy), get_family("gaussian")) == 4


def test_two_rows_in_two_groups(sleepstudy: pd.DataFrame) -> None:
    two = pd.DataFrame({"y": [1.0, 2.0], "g": ["a", "b"]})
    with pytest.raises(DataError, match="'g' has 2 levels for 2 observations"):
        hierlmm.fit("y ~ 1 + (1 | g)", two, draws=1, tune=1, chains=1, progress=False)


@pytest.mark.parametrize(("formula", "role"), [
    ("Reaction ~ Reaction + Days + (1 | Subject)", "a fixed term"),
    ("Reaction ~ I(Reaction ** 2) + (1 | Subject)", "a fixed term"),
    ("Reaction ~ Days + (Reaction | Subject)", "a random slope of 'Subject'"),
    ("Reaction ~ Days + (1 | Reaction)", "a grouping factor"),
])
def test_response_among_predictors_or_factors(sleepstudy, formula: str, role: str) -> None:
    with pytest.raises(SpecError, match=rf"response column 'Reaction' is also used in {role}"):
        build_design(hierlmm.parse_formula(formula), sleepstudy)


def test_ordinary_model_passes(sleepstudy: pd.DataFrame) -> None:
    assert plan("Reaction ~ Days + (Days | Subject)", sleepstudy).name == "collapsed"
