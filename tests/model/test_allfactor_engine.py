"""The collapsed engine's all-factor path: the rule, the model it builds, its outputs."""

from __future__ import annotations

import numpy as np
import pytest

import hierlmm
from hierlmm.design import build_design
from hierlmm.engines import make_engine
from hierlmm.engines.collapsed import allfactor_effects
from hierlmm.engines.collapsed import engine as collapsed_engine
from hierlmm.engines.collapsed.allfactor import Response, allfactor_loglik
from hierlmm.engines.collapsed.blocks import order_groups, response_blocks
from hierlmm.families import get_family
from hierlmm.model import names
from hierlmm.spec import parse_formula

FORMULA = "y ~ x + (1 | subject) + (1 | item)"


def _design(n_subjects: int, n_items: int):
    sim = hierlmm.datasets.simulate_crossed(n_subjects=n_subjects, n_items=n_items, seed=3)
    spec = parse_formula(FORMULA)
    return spec, build_design(spec, sim.data)


def _engine(n_subjects: int, n_items: int, sampler: str = "auto"):
    spec, design = _design(n_subjects, n_items)
    return make_engine("auto", design, spec, get_family(spec.family), sampler)


def test_rule_integrates_all_factors_of_a_large_design_with_a_small_second_factor():
    engine = _engine(100, 20)  # 2,000 rows; m = 20 items
    assert engine.name == "collapsed" and engine.all_factors
    assert engine.sampled_groups == ()
    assert not any(v.startswith("b_") for v in engine.kept_variables())
    assert "all-factors" in engine.structure_key(engine.inputs())


def test_rule_keeps_small_designs_on_the_one_factor_path():
    engine = _engine(30, 20)  # 600 rows: below ALL_MIN_ROWS
    assert not engine.all_factors
    assert [g.factor for g in engine.sampled_groups] == ["item"]


def test_rule_small_dense_block_runs_nuts():
    engine = _engine(100, 20)
    assert engine.choose_sampler() == "nutpie" and engine.compile_mode("nutpie") == "NUMBA"


def test_rule_large_dense_block_runs_the_independence_sampler(monkeypatch):
    monkeypatch.setattr(collapsed_engine, "ALL_MAX_FLOPS", 1e3)  # "too costly for NUTS"
    engine = _engine(100, 20)
    assert engine.all_factors and engine.choose_sampler() == "independence"
    assert engine.compile_mode("independence") == "HIERLMM_PY"


@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
def test_rule_keeps_a_large_dense_block_on_the_one_factor_path_under_nuts(monkeypatch, sampler):
    monkeypatch.setattr(collapsed_engine, "ALL_MAX_FLOPS", 1e3)
    engine = _engine(100, 20, sampler)
    assert not engine.all_factors and engine.choose_sampler() == sampler


def test_rule_keeps_a_dense_block_beyond_the_independence_limit_on_the_one_factor_path(
        monkeypatch):
    monkeypatch.setattr(collapsed_engine, "ALL_MAX_FLOPS", 1e3)
    monkeypatch.setattr(collapsed_engine, "IMH_MAX_FLOPS", 1e4)
    engine = _engine(100, 20)
    assert not engine.all_factors and engine.choose_sampler() == "nutpie"


def _sleep_engine(formula: str = "Reaction ~ Days + (Days | Subject)", **kwargs):
    spec = parse_formula(formula)
    if kwargs:
        from dataclasses import replace

        spec = replace(spec, **kwargs)
    design = build_design(spec, hierlmm.datasets.load("sleepstudy"))
    return make_engine("auto", design, spec, get_family(spec.family), "auto")


def test_rule_small_one_factor_models_run_the_independence_sampler_with_a_long_warm_up():
    engine = _sleep_engine()  # 2 fixed effects + 2 SDs + 1 correlation + sigma = 6
    assert engine.choose_sampler(4 * 1000) == "independence"
    assert engine.cheap_independence(4 * 1000)
    settings = engine.independence_settings(1000)
    assert (settings.warmup, settings.threads, settings.probes) == (1000, 1, (3.0, 9.0))
    assert engine.choose_sampler(2 * 500) == "nutpie"  # too few warm-up draws for the cov
    wide = _sleep_engine("Reaction ~ Days + I(Days**2) + (Days + I(Days**2) | Subject)")
    assert wide.choose_sampler(4000) == "nutpie"  # 3 + 3 + 3 + 1 = 10 parameters
    ar1 = _sleep_engine(residual=hierlmm.ResidualSpec("ar1", time="Days", group="Subject"))
    assert ar1.choose_sampler(4000) == "nutpie"


def test_rule_all_factor_path_keeps_a_short_warm_up(monkeypatch):
    monkeypatch.setattr(collapsed_engine, "ALL_MAX_FLOPS", 1e3)
    engine = _engine(100, 20)
    settings = engine.independence_settings(1000)
    assert settings.warmup == collapsed_engine.ALL_WARMUP and settings.probes == (3.0,)
    assert settings.threads == collapsed_engine.evaluation_threads()
    assert not engine.cheap_independence(4000)


def test_independence_sampler_needs_the_collapsed_engine():
    spec, design = _design(30, 20)
    engine = make_engine("sampled", design, spec, get_family(spec.family), "independence")
    with pytest.raises(hierlmm.SpecError, match='sampler="independence" needs the collapsed'):
        engine.choose_sampler()


def test_model_potential_is_the_all_factor_likelihood():
    engine = _engine(100, 20)
    model = engine.build(engine.inputs())
    assert not any(rv.name.startswith("b_") for rv in model.free_RVs)
    point = model.initial_point()
    kw = dict(inputs=model.value_vars, on_unused_input="ignore")
    got = float(model.compile_logp(vars=[model.potentials[0]], jacobian=False)(point))
    outs = model.unobserved_value_vars
    values = dict(zip([v.name for v in outs], model.compile_fn(outs, **kw)(point),
                      strict=True))
    beta = np.array(values[names.BETA], dtype=float)
    sigma = float(values[names.SIGMA])
    chols = [np.diag(np.atleast_1d(values[names.sd(g.factor)]))
             for g in order_groups(engine.design.groups)]
    beta[engine.intercept_index] -= engine.shift
    y = engine.design.y - engine.shift
    want = allfactor_loglik(engine.blocks, Response(*response_blocks(engine.design, y)),
                            beta, sigma, chols)
    assert got == pytest.approx(want, rel=1e-10)


def test_fit_draws_every_factors_effects_exactly():
    sim = hierlmm.datasets.simulate_crossed(n_subjects=100, n_items=20, seed=3)
    fit = hierlmm.fit(FORMULA, sim.data, draws=60, tune=60, chains=1, seed=4,
                      progress=False, warn_convergence=False)
    assert fit.engine == "collapsed"
    assert fit.posterior["b_subject"].shape == (1, 60, 100, 1)
    assert fit.posterior["b_item"].shape == (1, 60, 20, 1)
    for factor in ("subject", "item"):
        est = fit.posterior[f"b_{factor}"].mean(("chain", "draw")).to_series()
        truth = sim.truth["effects"][factor]["Intercept"]
        est = est.droplevel(-1).reindex(truth.index)
        assert np.corrcoef(est.values, truth.values)[0, 1] > 0.9


@pytest.mark.parametrize("formula", [FORMULA, "y ~ x + (x | subject) + (1 | item)"])
def test_all_factor_fit_is_the_same_on_one_or_three_threads(monkeypatch, formula):
    """The independence sampler's proposals and the effect draws after it run on
    evaluation_threads() threads; the fit does not depend on how many. With a random
    slope the model has a correlation (PyMC's transform pads through an OpFromGraph,
    whose inner function threads must not share: session 11 caught a race there)."""
    monkeypatch.setattr(collapsed_engine, "ALL_MAX_FLOPS", 1e3)  # the independence sampler
    sim = hierlmm.datasets.simulate_crossed(n_subjects=100, n_items=20, seed=3)
    fits = {}
    for n_threads in (1, 3):
        for module in (collapsed_engine, allfactor_effects):
            monkeypatch.setattr(module, "evaluation_threads", lambda n=n_threads: n)
        fits[n_threads] = hierlmm.fit(formula, sim.data, draws=40, tune=40, chains=2, seed=4,
                                      progress=False, warn_convergence=False)
    assert fits[1].sampler == "independence"
    for name in ("sigma", "sd_subject", "beta", "b_subject", "b_item"):
        np.testing.assert_array_equal(fits[1].posterior[name].values,
                                      fits[3].posterior[name].values)
