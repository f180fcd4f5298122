"""GLMM families (bernoulli, binomial, poisson, negbinomial): numerics, specs, validation.

Numpy log-likelihoods are checked against scipy with (chain, draw, n) broadcasting; the
PyMC model's log-density at a point against the same scipy sum; the formula syntaxes
(``p(s, n)``, ``cbind(s, n - s)``, ``offset(...)``), model files and hand-built specs give
equal records; every data check of issue 9 raises :class:`DataError` naming the column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit

from hierlmm.design import build_design
from hierlmm.engines import make_engine
from hierlmm.errors import DataError, SpecError
from hierlmm.families import get_family
from hierlmm.model.builder import build_model
from hierlmm.spec import ModelSpec, parse_formula
from hierlmm.spec.load import load_model_file


def _eta(shape, seed=0):
    return np.random.default_rng(seed).normal(0.0, 1.5, size=shape)


# ----------------------------------------------------------------------- numpy helpers
@pytest.mark.parametrize("link", ["logit", "probit"])
def test_bernoulli_binomial_loglik_match_scipy(link: str) -> None:
    rng = np.random.default_rng(1)
    eta = _eta((2, 3, 9))
    p = expit(eta) if link == "logit" else stats.norm.cdf(eta)
    y = rng.integers(0, 2, size=9).astype(float)
    got = get_family("bernoulli", link).log_likelihood(y, eta.copy(), {})
    np.testing.assert_allclose(got, stats.bernoulli.logpmf(y, p), rtol=1e-10)
    n = rng.integers(1, 12, size=9).astype(float)
    s = np.minimum(rng.integers(0, 12, size=9), n).astype(float)
    got = get_family("binomial", link).log_likelihood(s, eta.copy(), {}, trials=n)
    np.testing.assert_allclose(got, stats.binom.logpmf(s, n, p), rtol=1e-10)


def test_count_loglik_match_scipy() -> None:
    rng = np.random.default_rng(2)
    eta = _eta((2, 3, 9))
    y = rng.poisson(3.0, size=9).astype(float)
    got = get_family("poisson").log_likelihood(y, eta.copy(), {})
    np.testing.assert_allclose(got, stats.poisson.logpmf(y, np.exp(eta)), rtol=1e-10)
    shape = rng.uniform(0.5, 30.0, size=(2, 3))
    got = get_family("negbinomial").log_likelihood(y, eta.copy(), {"shape": shape})
    mu = np.exp(eta)
    want = stats.nbinom.logpmf(y, shape[..., None], shape[..., None] / (shape[..., None] + mu))
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_predictive_draws_have_the_family_moments() -> None:
    rng = np.random.default_rng(3)
    eta = np.full((4000, 5), 1.2)
    nb = get_family("negbinomial").predictive_draws(eta, {"shape": np.full(4000, 2.0)}, rng)
    mu = np.exp(1.2)
    assert abs(nb.mean() - mu) < 0.05 * mu
    assert abs(nb.var() - (mu + mu**2 / 2.0)) < 0.08 * (mu + mu**2 / 2.0)
    trials = np.array([1.0, 5.0, 10.0, 20.0, 3.0])
    draws = get_family("binomial").predictive_draws(eta, {}, rng, trials=trials)
    np.testing.assert_allclose(draws.mean(axis=0) / trials, expit(1.2), atol=0.03)
    assert (draws <= trials).all()


def test_latent_residual_variances() -> None:
    assert float(get_family("bernoulli").latent_residual_variance({})) == pytest.approx(
        np.pi**2 / 3
    )
    assert float(get_family("binomial", "probit").latent_residual_variance({})) == 1.0
    lam = np.array([0.5, 4.0])
    np.testing.assert_allclose(
        get_family("poisson").latent_residual_variance({}, mean=lam), np.log1p(1 / lam)
    )
    got = get_family("negbinomial").latent_residual_variance({"shape": np.array([2.0])}, mean=4.0)
    np.testing.assert_allclose(got, np.log1p(0.25 + 0.5))


# ----------------------------------------------------------------------- specs
def test_binomial_formula_syntaxes_give_the_same_spec() -> None:
    a = parse_formula("p(s, n) ~ x + (1 | g)")
    b = parse_formula("cbind(s, n - s) ~ x + (1 | g)")
    assert a == b
    assert (a.family, a.response, a.trials) == ("binomial", "s", "n")
    assert parse_formula(a.formula) == a
    hand = ModelSpec(response="s", fixed=("x",), family="binomial", trials="n",
                     groups=a.groups)
    assert hand == a
    c = parse_formula("cbind(s, f) ~ x + (1 | g)")
    assert c.trials == "I(s + f)"


def test_offset_formula_and_field() -> None:
    spec = parse_formula("y ~ x + offset(log(e)) + (1 | g)", family="poisson")
    assert spec.offset == "log(e)" and spec.fixed == ("x",)
    assert parse_formula(spec.formula, family="poisson") == spec
    assert ModelSpec(response="y", fixed=("x",), family="poisson", offset="log(e)",
                     groups=spec.groups) == spec
    with pytest.raises(SpecError, match="offset"):
        parse_formula("y ~ x + offset(log(e))", family="gaussian")


def test_spec_refuses_bad_links_and_trials() -> None:
    with pytest.raises(SpecError, match="link='log' is not available for family 'bernoulli'"):
        ModelSpec(response="y", family="bernoulli", link="log")
    with pytest.raises(SpecError, match="needs the number of trials"):
        ModelSpec(response="y", family="binomial")
    with pytest.raises(SpecError, match="trials"):
        ModelSpec(response="y", family="poisson", trials="n")
    with pytest.raises(SpecError, match="binomial response"):
        parse_formula("p(s, n) ~ x", family="poisson")
    assert ModelSpec(response="y", family="bernoulli", link="probit").link_name == "probit"


def test_model_file_glm_keys(tmp_path) -> None:
    (tmp_path / "d.csv").write_text("y,x,g\n1,0,a\n")
    path = tmp_path / "m.toml"
    path.write_text(
        '[data]\nsource = "d.csv"\n[model]\nformula = "y ~ x + (1 | g)"\n'
        'family = "poisson"\noffset = "log(e)"\n'
    )
    spec = load_model_file(path).spec
    assert spec == parse_formula("y ~ x + offset(log(e)) + (1 | g)", family="poisson")
    path.write_text(
        '[data]\nsource = "d.csv"\n[model]\nresponse = "s"\nfixed = ["x"]\n'
        'family = "binomial"\ntrials = "n"\nlink = "probit"\n'
        '[[model.groups]]\nfactor = "g"\n'
    )
    spec = load_model_file(path).spec
    assert spec == parse_formula("p(s, n) ~ x + (1 | g)", link="probit")


# ----------------------------------------------------------------------- data checks
def _frame(**columns) -> pd.DataFrame:
    base = {"x": np.linspace(-1, 1, 8), "g": list("aabbccdd")}
    return pd.DataFrame({**base, **columns})


def _design(formula: str, data: pd.DataFrame, family: str | None = None):
    return build_design(parse_formula(formula, family=family), data)


def test_binary_response_checks() -> None:
    with pytest.raises(DataError, match="binary response 'y'.*other than 0 and 1"):
        _design("y ~ x + (1 | g)", _frame(y=[0, 1, 2, 0, 1, 0, 1, 1]), "bernoulli")
    with pytest.raises(DataError, match="binary response 'y' holds 3 distinct labels"):
        _design("y ~ x + (1 | g)", _frame(y=list("abcabcab")), "bernoulli")
    design = _design("y ~ x + (1 | g)", _frame(y=["no", "yes"] * 4), "bernoulli")
    assert design.event_label == "yes" and design.y.tolist() == [0.0, 1.0] * 4
    design = _design("y ~ x + (1 | g)", _frame(y=[True, False] * 4), "bernoulli")
    assert design.event_label == "True" and design.y.tolist() == [1.0, 0.0] * 4
    # a group whose responses are all 0 (a) or all 1 (d) is legal
    design = _design("y ~ x + (1 | g)", _frame(y=[0, 0, 1, 0, 0, 1, 1, 1]), "bernoulli")
    assert design.n == 8


def test_binomial_checks() -> None:
    n = [5, 5, 5, 5, 5, 5, 5, 5]
    with pytest.raises(DataError, match="successes 's' exceed trials 'n'"):
        _design("p(s, n) ~ x + (1 | g)", _frame(s=[0, 1, 6, 2, 3, 1, 0, 2], n=n))
    with pytest.raises(DataError, match="successes 's' exceed trials"):
        _design("cbind(s, f) ~ x + (1 | g)", _frame(s=[0, 1, 3, 2, 3, 1, 0, 2],
                                                       f=[1, 1, -1, 1, 1, 1, 1, 1]))
    with pytest.raises(DataError, match="trials 'n' has 1 value\\(s\\) <= 0"):
        _design("p(s, n) ~ x + (1 | g)", _frame(s=[0, 1, 0, 2, 3, 1, 0, 2],
                                                   n=[5, 5, 0, 5, 5, 5, 5, 5]))
    design = _design("cbind(s, n - s) ~ x + (1 | g)", _frame(s=[0, 1, 3, 2, 3, 1, 0, 2], n=n))
    assert design.trials.tolist() == [5.0] * 8


@pytest.mark.parametrize("family", ["poisson", "negbinomial"])
def test_count_checks(family: str) -> None:
    with pytest.raises(DataError, match="column 'y' \\(counts\\) has 1 negative"):
        _design("y ~ x + (1 | g)", _frame(y=[0, 1, -2, 0, 1, 3, 1, 1]), family)
    with pytest.raises(DataError, match="column 'y' \\(counts\\) has 1 non-integer"):
        _design("y ~ x + (1 | g)", _frame(y=[0, 1.5, 2, 0, 1, 3, 1, 1]), family)
    with pytest.raises(DataError, match="exposure column 'e'.*non-positive"):
        _design("y ~ x + offset(log(e)) + (1 | g)",
                _frame(y=[0, 1, 2, 0, 1, 3, 1, 1], e=[1, 2, 0, 1, 1, 1, 1, 1]), family)
    design = _design("y ~ x + offset(log(e)) + (1 | g)",
                     _frame(y=[0, 1, 2, 0, 1, 3, 1, 1], e=[1, 2, 4, 1, 1, 1, 1, 1]), family)
    np.testing.assert_allclose(design.offset, np.log([1, 2, 4, 1, 1, 1, 1, 1]))


# ----------------------------------------------------------------------- engines/model
def test_engine_choice_for_glmms() -> None:
    spec = parse_formula("y ~ x + (1 | g)", family="poisson")
    design = build_design(spec, _frame(y=[0, 1, 2, 0, 1, 3, 1, 1]))
    family = get_family("poisson")
    assert make_engine("auto", design, spec, family).name == "sampled"
    with pytest.raises(SpecError, match='engine="collapsed".*cannot fit family \'poisson\''):
        make_engine("collapsed", design, spec, family)


def test_binomial_model_logp_matches_scipy() -> None:
    data = _frame(s=[0, 1, 3, 2, 3, 1, 0, 2], n=[5, 4, 5, 6, 5, 3, 5, 5], e=np.arange(1, 9))
    spec = parse_formula("p(s, n) ~ x + (1 | g)", link="probit")
    built = build_model(design=build_design(spec, data), spec=spec, engine="auto")
    point = built.model.initial_point()
    logp = built.model.compile_logp(vars=[built.model["y"]])(point)
    model = built.model
    outs = model.replace_rvs_by_values([model["beta"]])
    beta = model.compile_fn(outs, inputs=model.value_vars, on_unused_input="ignore")(point)[0]
    eta = beta[0] + beta[1] * data["x"].to_numpy()  # effects are 0 at the initial point
    want = stats.binom.logpmf(data["s"], data["n"], stats.norm.cdf(eta)).sum()
    assert logp == pytest.approx(want, rel=1e-8)
