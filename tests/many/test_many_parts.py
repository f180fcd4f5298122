"""Fast unit tests of hierlmm.many: seeds, outcome parsing, variance partition, simulator."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pandas as pd
import pytest

import hierlmm
from hierlmm.design import build_design
from hierlmm.errors import DataError, SpecError
from hierlmm.many.outcomes import resolve_outcomes
from hierlmm.many.partition import components, variance_fractions
from hierlmm.many.seeds import outcome_seed, outcome_seeds
from hierlmm.spec.formula import parse_formula


def test_outcome_seed_depends_on_seed_and_index_only() -> None:
    seeds = outcome_seeds(7, np.arange(100))
    assert len(set(seeds.tolist())) == 100
    assert outcome_seeds(7, np.array([42, 3])).tolist() == [seeds[42], seeds[3]]
    assert outcome_seed(8, 0) != seeds[0]
    assert all(0 <= s < 2**31 for s in seeds)


def test_resolve_outcomes_forms_agree() -> None:
    sim = hierlmm.datasets.simulate_many_sleepstudy(3, seed=1)
    joined = pd.concat([sim.data, sim.outcomes], axis=1)
    by_column = resolve_outcomes(joined, list(sim.outcomes.columns))
    by_frame = resolve_outcomes(sim.data, sim.outcomes)
    by_array = resolve_outcomes(sim.data, sim.outcomes.to_numpy())
    assert by_column[0] == by_frame[0] == ("o0000", "o0001", "o0002")
    assert by_array[0] == ("o0000", "o0001", "o0002")
    np.testing.assert_array_equal(by_column[1], by_array[1])
    assert list(by_column[2].columns) == ["Subject", "Days"]


def test_resolve_outcomes_errors_name_the_problem() -> None:
    sim = hierlmm.datasets.simulate_many_sleepstudy(2, seed=1)
    with pytest.raises(DataError, match=r"\['gene9'\] are not in data"):
        resolve_outcomes(sim.data, ["gene9"])
    with pytest.raises(DataError, match="outcomes have 10 rows but data has 180"):
        resolve_outcomes(sim.data, sim.outcomes.iloc[:10])


def test_variance_fractions_sum_to_one_per_draw() -> None:
    sim = hierlmm.datasets.simulate_many_sleepstudy(1, seed=2)
    spec = parse_formula("y ~ Days + (Days | Subject)")
    design = build_design(spec, sim.data.assign(y=sim.outcomes["o0000"]))
    rng = np.random.default_rng(0)
    s = 500
    r = rng.uniform(-0.9, 0.9, s)
    corr = np.stack([np.stack([np.ones(s), r], -1), np.stack([r, np.ones(s)], -1)], 1)
    fractions = variance_fractions(design, rng.normal(size=(s, 2)),
                                   {"Subject": rng.gamma(2.0, size=(s, 2))},
                                   {"Subject": corr}, rng.gamma(2.0, size=s))
    assert components(design) == ("fixed", "Subject", "Residuals")
    assert fractions.shape == (s, 3)
    np.testing.assert_allclose(fractions.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(fractions >= 0)


def test_variance_fractions_random_intercept_closed_form() -> None:
    sim = hierlmm.datasets.simulate_many_nested(1, seed=2)
    design = build_design(parse_formula("y ~ condition + (1 | donor)"),
                          sim.data.assign(y=sim.outcomes["o0000"]))
    fractions = variance_fractions(design, np.array([[0.0, 2.0]]),
                                   {"donor": np.array([[3.0]])}, {"donor": None},
                                   np.array([1.0]))
    # condition is 0/1 half the time: variance of 2 * condition = 1; donor 9; residual 1
    np.testing.assert_allclose(fractions, [[1 / 11, 9 / 11, 1 / 11]])


def test_simulators_truth_and_null_fraction() -> None:
    sim = hierlmm.datasets.simulate_many_sleepstudy(400, null_fraction=0.3, seed=3)
    assert sim.outcomes.shape == (180, 400)
    assert sim.truth.loc[sim.truth["null"], "Days"].eq(0).all()
    assert sim.truth.loc[~sim.truth["null"], "Days"].ne(0).all()
    assert 0.25 < sim.truth["null"].mean() < 0.35
    again = hierlmm.datasets.simulate_many_sleepstudy(400, null_fraction=0.3, seed=3)
    pd.testing.assert_frame_equal(sim.outcomes, again.outcomes)
    nested = hierlmm.datasets.simulate_many_nested(50, seed=3)
    assert nested.data.groupby("donor")["condition"].mean().eq(0.5).all()
    with pytest.raises(SpecError, match="null_fraction"):
        hierlmm.datasets.simulate_many_nested(5, null_fraction=1.5, seed=1)


@pytest.mark.parametrize("name", ["hierlmm.many.seeds", "hierlmm.datasets.many"])
def test_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner()
    for test in doctest.DocTestFinder().find(module, name, globs=vars(module)):
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_adaptive_shrinkage_recovers_null_fraction_and_controls_sign_errors() -> None:
    from hierlmm.many.ash import adaptive_shrinkage

    rng = np.random.default_rng(0)
    m = 2000
    null = rng.random(m) < 0.5
    beta = np.where(null, 0.0, rng.normal(0.0, 1.0, m))
    s = rng.uniform(0.3, 1.0, m)
    table = adaptive_shrinkage(beta + rng.normal(size=m) * s, s)
    assert table.attrs["pi0"] == pytest.approx(0.5, abs=0.06)
    found = table["lfsr"] <= 0.05
    assert found.sum() > 50
    wrong = np.sign(table["ash_mean"][found]) != np.sign(beta[found])
    assert wrong.mean() <= 0.05
    assert np.all((table["lfdr"] >= 0) & (table["lfdr"] <= table["lfsr"] + 1e-12))
