"""Frequentist comparison: the statsmodels call, OLS, unsupported structures, the table."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.formula.api as smf
from _fakes import corr_matrix, fake_fit
from scipy.stats import norm

import hierlmm
from hierlmm.design import build_design
from hierlmm.errors import SpecError
from hierlmm.report.frequentist import (
    CANNOT_FIT,
    frequentist_comparison,
    mixedlm_inputs,
    ols_fit,
    reml_fit,
)
from hierlmm.spec.formula import parse_formula

CHAINS, DRAWS = 2, 40
SLEEP = "Reaction ~ Days + (Days | Subject)"


def _design(formula, data):
    return build_design(parse_formula(formula), data)


@pytest.fixture(scope="module")
def sleep():
    return hierlmm.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def sleep_reml(sleep):
    return reml_fit(_design(SLEEP, sleep), method="reml")


@pytest.fixture(scope="module")
def sleep_fake(sleep):
    rng = np.random.default_rng(8)
    sd = np.abs(rng.normal([25.0, 6.0], [3.0, 1.0], size=(CHAINS, DRAWS, 2)))
    r = np.tanh(rng.normal(0.1, 0.3, size=(CHAINS, DRAWS)))
    sigma = np.abs(rng.normal(25.6, 1.5, size=(CHAINS, DRAWS)))
    fit = fake_fit(SLEEP, sleep, sd={"Subject": sd}, sigma=sigma,
                   corr={"Subject": corr_matrix(r)})
    return fit, sd, sigma


@pytest.mark.parametrize("method", ["reml", "ml"])
def test_same_call_same_numbers_as_smf(sleep, method):
    ours = reml_fit(_design(SLEEP, sleep), method=method)
    ref = smf.mixedlm("Reaction ~ Days", sleep, groups=sleep["Subject"],
                      re_formula="~Days").fit(reml=method == "reml")
    assert ours.note is None and ours.warnings == ()
    res = ours.result
    np.testing.assert_allclose(res.fe_params.to_numpy(), ref.fe_params.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.bse_fe.to_numpy(), ref.bse_fe.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(res.scale, ref.scale, rtol=1e-10)
    np.testing.assert_allclose(res.cov_re.to_numpy(), ref.cov_re.to_numpy(), rtol=1e-10)
    assert list(res.cov_re.columns) == ["Intercept", "Days"]


def test_reml_reference_values(sleep_reml):
    # lme4: lmer(Reaction ~ Days + (Days | Subject), sleepstudy), REML
    res = sleep_reml.result
    np.testing.assert_allclose(res.fe_params.to_numpy(), [251.405, 10.467], atol=1e-3)
    np.testing.assert_allclose(np.sqrt(np.diag(res.cov_re)), [24.74, 5.92], atol=0.01)
    assert np.sqrt(res.scale) == pytest.approx(25.59, abs=0.01)


def test_ols_matches_statsmodels_and_understates_se(sleep, sleep_reml):
    ols = ols_fit(_design(SLEEP, sleep))
    ref = smf.ols("Reaction ~ Days", sleep).fit()
    np.testing.assert_allclose(ols.params.to_numpy(), ref.params.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(ols.bse.to_numpy(), ref.bse.to_numpy(), rtol=1e-12)
    assert ols.bse["Days"] < sleep_reml.result.bse_fe["Days"]
    assert ols.bse["Days"] == pytest.approx(1.2382, abs=1e-4)


def test_nested_intercepts_use_variance_components():
    sim = hierlmm.datasets.simulate_nested(n_schools=12, classes_per_school=3, seed=4)
    design = _design(sim.formula, sim.data)
    inputs = mixedlm_inputs(design)
    assert inputs.outer == "school" and inputs.inner == ("school:class",)
    ours = reml_fit(design)
    ref = smf.mixedlm("score ~ x", sim.data, groups="school", re_formula="1",
                      vc_formula={"cls": "0 + C(Q('class'))"}).fit(reml=True)
    np.testing.assert_allclose(ours.result.fe_params.to_numpy(), ref.fe_params.to_numpy(),
                               rtol=1e-8)
    np.testing.assert_allclose(ours.result.vcomp, ref.vcomp, rtol=1e-6)
    np.testing.assert_allclose(ours.result.scale, ref.scale, rtol=1e-8)


def test_uncorrelated_slopes_fit_a_diagonal_covariance():
    sim = hierlmm.datasets.simulate_random_slopes(n_groups=30, n_per_group=6, seed=5)
    ours = reml_fit(_design("y ~ time + (time || subject)", sim.data))
    cov = ours.result.cov_re.to_numpy()
    assert cov[0, 1] == 0.0 and cov[1, 0] == 0.0
    data = sim.data.assign(one=1.0)
    ref = smf.mixedlm("y ~ time", data, groups="subject", re_formula="0",
                      vc_formula={"a": "0 + one", "b": "0 + time"}).fit(reml=True)
    np.testing.assert_allclose(np.diag(cov), ref.vcomp, rtol=1e-3)
    np.testing.assert_allclose(ours.result.fe_params.to_numpy(), ref.fe_params.to_numpy(),
                               rtol=1e-5)


def test_statsmodels_warnings_are_recorded_not_raised():
    sim = hierlmm.datasets.simulate_random_intercepts(n_groups=20, n_per_group=5, tau=0.0,
                                                      seed=6)
    out = reml_fit(_design(sim.formula, sim.data))  # tau = 0: boundary estimate
    assert out.result is not None
    assert any(w.startswith("ConvergenceWarning:") for w in out.warnings)
    assert out.note == "; ".join(out.warnings)


def test_crossed_structure_fits_as_variance_components():
    # issue 11: crossed designs are fitted (one all-data group, a variance component per
    # factor) instead of being reported as not fittable
    sim = hierlmm.datasets.simulate_crossed(n_subjects=6, n_items=4, seed=7)
    design = _design(sim.formula, sim.data)
    inputs = mixedlm_inputs(design)
    assert inputs.outer is None and inputs.vc_terms == (("subject", "Intercept"),
                                                        ("item", "Intercept"))
    out = reml_fit(design, method="ml")
    assert out.result is not None
    rng = np.random.default_rng(9)
    fit = fake_fit(sim.formula, sim.data, sigma=np.abs(rng.normal(1, 0.1, (CHAINS, DRAWS))),
                   sd={"subject": np.abs(rng.normal(1, 0.1, (CHAINS, DRAWS, 1))),
                       "item": np.abs(rng.normal(0.7, 0.1, (CHAINS, DRAWS, 1)))})
    table = frequentist_comparison(fit).set_index("parameter")
    for name in ("(Intercept)", "x", "sd(Intercept|subject)", "sd(Intercept|item)", "sigma"):
        if name in table.index:
            assert np.isfinite(table.loc[name, "reml"]) and np.isfinite(table.loc[name, "ml"])
    fixed = table[table["kind"] == "fixed"]
    np.testing.assert_allclose(fixed["ols"], ols_fit(design).params.to_numpy(), rtol=1e-12)


def test_penicillin_reml_matches_statsmodels_and_lme4():
    data = hierlmm.datasets.load("penicillin")
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    rng = np.random.default_rng(3)
    fit = fake_fit(formula, data, sigma=np.abs(rng.normal(0.55, 0.05, (CHAINS, DRAWS))),
                   sd={"plate": np.abs(rng.normal(0.85, 0.1, (CHAINS, DRAWS, 1))),
                       "sample": np.abs(rng.normal(1.9, 0.3, (CHAINS, DRAWS, 1)))})
    table = frequentist_comparison(fit).set_index("parameter")
    ref = smf.mixedlm("diameter ~ 1", data.assign(all=1), groups="all", re_formula="0",
                      vc_formula={"plate": "0 + C(plate)", "sample": "0 + C(sample)"}
                      ).fit(reml=True)
    ours = {"Intercept": table.loc["Intercept", "reml"],
            "sd(Intercept|plate)": table.loc["sd(Intercept|plate)", "reml"],
            "sd(Intercept|sample)": table.loc["sd(Intercept|sample)", "reml"],
            "sigma": table.loc["sigma", "reml"]}
    theirs = {"Intercept": ref.fe_params.iloc[0],
              "sd(Intercept|plate)": np.sqrt(ref.vcomp[0]),
              "sd(Intercept|sample)": np.sqrt(ref.vcomp[1]), "sigma": np.sqrt(ref.scale)}
    for name, value in ours.items():
        assert value == pytest.approx(theirs[name], rel=0.05), name  # the 5%
        assert value == pytest.approx(theirs[name], rel=1e-6), name  # in fact the same fit
    # lme4: lmer(diameter ~ 1 + (1|plate) + (1|sample), Penicillin): 0.8467, 1.9316, 0.5499
    np.testing.assert_allclose([ours["sd(Intercept|plate)"], ours["sd(Intercept|sample)"],
                                ours["sigma"]], [0.8467, 1.9316, 0.5499], atol=1e-3)
    assert table.loc["Intercept", "reml_se"] == pytest.approx(0.8086, abs=1e-3)
    assert table["note"].isna().all()


def test_crossed_correlated_slopes_are_reported_not_fitted():
    sim = hierlmm.datasets.simulate_crossed(n_subjects=6, n_items=4, seed=7)
    design = _design("y ~ x + (1 + x | subject) + (1 | item)", sim.data)
    out = reml_fit(design)
    assert out.result is None and out.note.startswith(CANNOT_FIT)
    assert "correlated effects: ['subject']" in out.note


def test_bad_arguments_raise_spec_errors(sleep):
    with pytest.raises(SpecError, match="method='bayes'"):
        reml_fit(_design(SLEEP, sleep), method="bayes")
    with pytest.raises(SpecError, match="expected a Fit or a Design"):
        reml_fit(sleep)


def test_comparison_table(sleep_fake, sleep_reml, sleep):
    fit, sd, sigma = sleep_fake
    table = frequentist_comparison(fit, prob=0.8).set_index("parameter")
    assert table.index.tolist() == ["Intercept", "Days", "sd(Intercept|Subject)",
                                    "sd(Days|Subject)", "corr(Intercept,Days|Subject)", "sigma",
                                    "design_effect(Subject)"]
    assert {"hierlmm_q10", "hierlmm_q90", "reml_q10", "ml_q90", "ols_q10"} <= set(table.columns)
    res = sleep_reml.result
    z = norm.ppf(0.9)
    assert table.loc["Days", "reml"] == res.fe_params["Days"]
    assert table.loc["Days", "reml_q90"] == pytest.approx(
        res.fe_params["Days"] + z * res.bse_fe["Days"], rel=1e-12)
    assert table.loc["sd(Days|Subject)", "reml"] == pytest.approx(
        np.sqrt(res.cov_re.loc["Days", "Days"]), rel=1e-12)
    cov = res.cov_re.to_numpy()
    assert table.loc["corr(Intercept,Days|Subject)", "reml"] == pytest.approx(
        cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]), rel=1e-12)
    assert table.loc["sigma", "reml"] == pytest.approx(np.sqrt(res.scale), rel=1e-12)
    icc_reml = cov[0, 0] / (cov[0, 0] + res.scale)
    assert table.loc["design_effect(Subject)", "reml"] == pytest.approx(1 + 9 * icc_reml,
                                                                         rel=1e-12)
    assert table.loc["sd(Days|Subject)", "hierlmm_mean"] == pytest.approx(sd[..., 1].mean(),
                                                                          rel=1e-12)
    assert np.isnan(table.loc["sd(Days|Subject)", "reml_se"])
    assert np.isnan(table.loc["sd(Days|Subject)", "ols"])
    assert table.loc["sigma", "ols"] == pytest.approx(np.sqrt(ols_fit(fit).scale), rel=1e-12)
    assert table.loc["Days", "ols_se"] < table.loc["Days", "reml_se"]
    assert table["note"].isna().all()
