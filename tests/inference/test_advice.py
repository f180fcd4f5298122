"""Convergence advice names the likely cause: one chain, few levels, divergences."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import hierlmm
from hierlmm.design import build_design
from hierlmm.inference.advice import GENERIC, convergence_advice

GOOD = {"divergences": 0, "max_rhat": 1.001, "min_ess_bulk": 50.0}


@pytest.fixture(scope="module")
def designs(sleepstudy: pd.DataFrame):
    spec = hierlmm.parse_formula("Reaction ~ Days + (Days | Subject)")
    few = sleepstudy[sleepstudy["Subject"].isin(sorted(sleepstudy["Subject"].unique())[:3])]
    return build_design(spec, sleepstudy), build_design(spec, few)


def test_one_chain(designs) -> None:
    advice = convergence_advice({**GOOD, "max_rhat": math.nan}, designs[0], {"chains": 1})
    assert advice == "with one chain R-hat cannot be computed: run at least 2 chains"


def test_few_levels_for_slopes(designs) -> None:
    advice = convergence_advice(GOOD, designs[1], {"chains": 4})
    assert "grouping factor 'Subject' has only 3 levels, too few to estimate its SDs and " \
           "correlations" in advice


def test_divergences_name_target_accept(designs) -> None:
    advice = convergence_advice({**GOOD, "divergences": 7}, designs[0],
                                {"chains": 4, "target_accept": 0.9})
    assert advice.startswith("7 divergences: raise target_accept above 0.9")


def test_low_ess_only_and_generic(designs) -> None:
    assert convergence_advice(GOOD, designs[0], {"chains": 4}).startswith("low ESS only")
    assert convergence_advice({**GOOD, "max_rhat": 1.2}, designs[0], {"chains": 4}) == GENERIC


@pytest.fixture(scope="module")
def glmm():
    sim = hierlmm.datasets.simulate_remission(n_subjects=20, n_visits=4, seed=1)
    spec = hierlmm.parse_formula(sim.formula, family="bernoulli")
    return spec, build_design(spec, sim.data)


def test_a_sampled_glmm_the_quadrature_engine_fits_is_pointed_to_it(glmm) -> None:
    from hierlmm.inference.advice import QUADRATURE

    spec, design = glmm
    settings = {"chains": 4, "engine": "sampled"}
    assert convergence_advice(GOOD, design, settings, spec) == QUADRATURE
    assert 'engine="quadrature"' in QUADRATURE
    # not on the quadrature engine itself, nor for a link it does not integrate
    assert convergence_advice(GOOD, design, {**settings, "engine": "quadrature"},
                              spec).startswith("low ESS only")
    probit = hierlmm.parse_formula(spec.formula, family="bernoulli", link="probit")
    assert convergence_advice(GOOD, design, settings, probit).startswith("low ESS only")


def test_a_sampled_gaussian_model_is_not_pointed_to_quadrature(designs) -> None:
    spec = hierlmm.parse_formula("Reaction ~ Days + (Days | Subject)")
    advice = convergence_advice(GOOD, designs[0], {"chains": 4, "engine": "sampled"}, spec)
    assert advice.startswith("low ESS only")


def test_a_redo_of_the_quadrature_engines_run_is_not_pointed_back_to_it(glmm) -> None:
    """The quadrature engine's failed independence run is redone on the sampled engine;
    if that fails too, pointing back to quadrature would send the user in a circle."""
    spec, design = glmm
    settings = {"chains": 4, "engine": "sampled", "redone": True}
    assert convergence_advice(GOOD, design, settings, spec).startswith("low ESS only")
