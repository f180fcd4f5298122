"""GLMM reports on fits with fixed, known posterior draws (no sampling).

Every draw holds the same parameter values, so ``marginal_effects`` must equal the
fixed-parameter quadrature exactly, ``r_squared`` the Nakagawa-Schielzeth formula, and
summary.json must carry the family, the link and only the family's own parameters.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy.special import expit

import hierlmm
from hierlmm.design import build_design
from hierlmm.inference.result import Fit
from hierlmm.model import names
from hierlmm.model.marginal_integrals import population_mean
from hierlmm.report.glmm_variance import r_squared
from hierlmm.report.json_summary import summary_dict

SD, CORR = (1.5, 0.3), -0.3
BETA = (-1.0, 0.3, 0.8)  # Intercept, visit, treat


def fixed_fit(family: str, sim, extra: dict | None = None, draws: int = 20) -> Fit:
    """A Fit of ``sim`` whose every draw equals the truth (effects: the realised ones)."""
    spec = hierlmm.parse_formula(sim.formula, family=family)
    design = build_design(spec, sim.data)
    (g,) = design.groups
    cd, shape = ("chain", "draw"), (2, draws)
    beta = np.array([sim.truth["beta"][t] for t in design.fixed_names])
    sd = np.array([sim.truth["re_sd"][g.factor][t] for t in g.terms])
    effects = sim.truth["effects"].loc[list(g.levels), list(g.terms)].to_numpy()
    t, tb = names.term_dim(g.factor), names.term_dim_bis(g.factor)
    variables = {
        names.BETA: (cd + (names.FIXED_DIM,), np.broadcast_to(beta, shape + beta.shape)),
        names.sd(g.factor): (cd + (t,), np.broadcast_to(sd, shape + sd.shape)),
        names.effects(g.factor): (cd + (names.level_dim(g.factor), t),
                                  np.broadcast_to(effects, shape + effects.shape)),
    }
    if g.q == 2:
        corr = np.array([[1.0, sim.truth["corr"]], [sim.truth["corr"], 1.0]])
        variables[names.corr(g.factor)] = (cd + (t, tb), np.broadcast_to(corr, shape + (2, 2)))
    for name, value in (extra or {}).items():
        variables[name] = (cd, np.full(shape, value))
    coords = {names.FIXED_DIM: list(design.fixed_names), t: list(g.terms), tb: list(g.terms),
              names.level_dim(g.factor): list(g.levels)}
    stats = xr.Dataset({"diverging": (cd, np.zeros(shape, dtype=bool))})
    observed = xr.Dataset({names.RESPONSE: ((names.OBS_DIM,), design.y)},
                          coords={names.OBS_DIM: np.arange(design.n)})
    idata = xr.DataTree.from_dict(
        {"posterior": xr.Dataset(variables, coords=coords), "sample_stats": stats,
         "observed_data": observed}
    )
    return Fit(idata=idata, spec=spec, design=design, engine="sampled", sampler="nutpie",
               seed=1, timings={}, settings={})


@pytest.fixture(scope="module")
def remission() -> Fit:
    sim = hierlmm.datasets.simulate_remission(n_subjects=60, beta=BETA, sd=SD, corr=CORR,
                                              seed=3)
    return fixed_fit("bernoulli", sim)


def _variance(visit: float) -> float:
    s0, s1 = SD
    return s0**2 + 2 * CORR * s0 * s1 * visit + s1**2 * visit**2


def test_marginal_effects_equal_the_fixed_parameter_quadrature(remission: Fit) -> None:
    table = remission.marginal_effects(at={"visit": [0.0, 4.0]}, contrast={"treat": (0, 1)})
    for row, visit in enumerate((0.0, 4.0)):
        eta = np.array([BETA[0] + BETA[1] * visit, BETA[0] + BETA[1] * visit + BETA[2]])
        pa = population_mean("logit", eta, np.full(2, _variance(visit)))
        ss = expit(eta)

        def get(quantity, effect, row=row):
            hit = table[(table.row == row) & (table.quantity == quantity)
                        & (table.effect == effect)]
            return float(hit["estimate"].iloc[0])

        assert get("risk difference", "population-average") == pytest.approx(pa[1] - pa[0],
                                                                             abs=1e-12)
        assert get("risk difference", "subject-specific") == pytest.approx(ss[1] - ss[0],
                                                                           abs=1e-12)
        assert get("mean at treat=1", "population-average") == pytest.approx(pa[1], abs=1e-12)
        log_or_pa = np.log(get("odds ratio", "population-average"))
        assert get("odds ratio", "subject-specific") == pytest.approx(np.exp(BETA[2]), rel=1e-10)
        assert 0 < log_or_pa < BETA[2]  # attenuated toward 0
        assert get("attenuation", "attenuation (PA / SS)") == pytest.approx(
            log_or_pa / BETA[2], rel=1e-10
        )
    assert set(table.columns) >= {"row", "quantity", "effect", "estimate", "sd", "lower",
                                  "upper", "visit"}


def test_marginal_coefficients_are_attenuated(remission: Fit) -> None:
    coefs = remission.marginal_coefficients(max_draws=5)
    np.testing.assert_allclose(coefs["conditional"], BETA, rtol=1e-12)
    assert 0 < coefs.loc["treat", "marginal"] < BETA[2]
    assert 0 < coefs.loc["treat", "attenuation"] < 1


def test_marginal_coefficients_equal_the_least_squares_fit_at_every_fitted_row(
    remission: Fit,
) -> None:
    """At fixed parameters: mu_PA by quadrature at each of the n fitted rows (its own
    slope variance per visit), then logit(mu_PA) regressed on X by lstsq."""
    X = remission.design.X
    visits = remission.design.data["visit"].to_numpy()
    mu = population_mean("logit", X @ np.array(BETA), np.array([_variance(v) for v in visits]))
    expected, *_ = np.linalg.lstsq(X, np.log(mu / (1 - mu)), rcond=None)
    coefs = remission.marginal_coefficients(max_draws=5)
    np.testing.assert_allclose(coefs["marginal"], expected, rtol=1e-9)
    np.testing.assert_allclose(coefs["attenuation"], expected / np.array(BETA), rtol=1e-9)


def test_r_squared_and_latent_icc_for_logit(remission: Fit) -> None:
    X = remission.design.X
    var_f = np.var(X @ np.array(BETA))
    visits = remission.design.data["visit"].to_numpy()
    var_r = np.mean([_variance(v) for v in visits])
    total = var_f + var_r + np.pi**2 / 3
    r2 = r_squared(remission)
    assert r2.loc["R2_marginal", "mean"] == pytest.approx(var_f / total, rel=1e-10)
    assert r2.loc["R2_conditional", "mean"] == pytest.approx((var_f + var_r) / total, rel=1e-10)
    out = summary_dict(remission)
    assert out["model"]["family"] == "bernoulli" and out["model"]["link"] == "logit"
    assert out["residual"] == {}
    residual = out["variance_components"]["residual"]["variance"]["mean"]
    assert residual == pytest.approx(np.pi**2 / 3)


def test_negbinomial_summary_has_phi_and_observation_level_variance() -> None:
    sim = hierlmm.datasets.simulate_overdispersed_counts(n_groups=30, tau=0.5, shape=2.0, seed=4)
    fit = fixed_fit("negbinomial", sim, extra={"shape": 2.0})
    out = summary_dict(fit)
    assert list(out["residual"]) == ["shape"] and out["residual"]["shape"]["mean"] == 2.0
    beta = np.array([sim.truth["beta"]["Intercept"], sim.truth["beta"]["x"]])
    lam = np.exp(fit.design.X @ beta + 0.5 * 0.5**2).mean()
    want = np.log1p(1 / lam + 1 / 2.0)
    got = out["variance_components"]["residual"]["variance"]["mean"]
    assert got == pytest.approx(want, rel=1e-10)
    icc = out["icc"]["g"]["icc"]["mean"]
    assert icc == pytest.approx(0.25 / (0.25 + want), rel=1e-10)


def test_poisson_population_mean_has_the_closed_form() -> None:
    sim = hierlmm.datasets.simulate_poisson_offset(n_groups=30, seed=5)
    fit = fixed_fit("poisson", sim)
    new = pd.DataFrame({"x": [0.0, 1.0], "exposure": [1.0, 2.0]})
    table = fit.marginal_effects(at=new)
    pa = table[table.effect == "population-average"]["estimate"].to_numpy()
    b0, b1 = sim.truth["beta"]["Intercept"], sim.truth["beta"]["x"]
    s0, s1 = sim.truth["sd"]["Intercept"], sim.truth["sd"]["x"]
    v = s0**2 + 2 * sim.truth["corr"] * s0 * s1 * new.x + s1**2 * new.x**2
    want = new.exposure * np.exp(b0 + b1 * new.x + v / 2)
    np.testing.assert_allclose(pa, want, rtol=1e-12)
    link = fit.predict(new.assign(g="new"), new_groups="population")  # b = 0 for a new level
    np.testing.assert_allclose(link["estimate"], new.exposure * np.exp(b0 + b1 * new.x),
                               rtol=1e-12)


def test_family_checks_at_the_true_parameters(remission: Fit) -> None:
    from hierlmm.plots import plot_calibration, plot_rootogram
    from hierlmm.report.family_checks import (
        calibration_table,
        ppc_family_stats,
        rootogram_table,
    )

    stats = ppc_family_stats(remission, n_draws=40, seed=1)
    assert stats["stat"].tolist() == ["proportion of successes"]
    row = stats.iloc[0]
    assert 0.005 < row["p_value"] < 0.995  # the data came from this model
    table = calibration_table(remission, n_bins=5, n_draws=40, seed=1)
    assert table["n"].sum() == remission.design.n
    inside = (table["lower"] <= table["observed"]) & (table["observed"] <= table["upper"])
    assert inside.sum() >= 3
    assert plot_calibration(table).axes
    sim = hierlmm.datasets.simulate_overdispersed_counts(n_groups=40, tau=0.5, shape=2.0, seed=6)
    counts = fixed_fit("negbinomial", sim, extra={"shape": 2.0})
    stats = ppc_family_stats(counts, n_draws=40, seed=2).set_index("stat")
    for stat in ("proportion of zeros", "dispersion var/mean"):
        assert 0.005 < stats.loc[stat, "p_value"] < 0.995
    root = rootogram_table(counts, n_draws=40, seed=3)
    assert root["observed"].sum() <= counts.design.n
    assert root.loc[0, "expected"] == pytest.approx(root.loc[0, "observed"], rel=0.35)
    assert plot_rootogram(root).axes
    poisson = fixed_fit("poisson", sim)  # wrong family: too few zeros, too little spread
    stats = ppc_family_stats(poisson, n_draws=40, seed=2).set_index("stat")
    assert stats.loc["dispersion var/mean", "observed"] > stats.loc["dispersion var/mean",
                                                                    "upper"]


def test_report_html_has_the_glmm_sections(remission: Fit, tmp_path) -> None:
    import re

    from hierlmm.document.html import build_report

    page, sections = build_report(remission, tmp_path)
    status = {s.key: s.status for s in sections}
    assert status["population-average"] == "ok" and status["family-checks"] == "ok"
    assert "calibration.png" in [p.name for s in sections for p in s.figures]
    assert "attenuation (PA / SS)" in page
    assert re.search(r'<section id="population-average" class="status-ok">', page)


def test_glmm_fit_saves_and_loads(tmp_path) -> None:
    sim = hierlmm.datasets.simulate_poisson_offset(n_groups=30, seed=5)
    fit = fixed_fit("poisson", sim)
    back = hierlmm.load(fit.save(tmp_path / "fit.nc"))
    assert back.spec == fit.spec and back.spec.offset == "log(exposure)"
    np.testing.assert_array_equal(back.design.offset, fit.design.offset)
    pd.testing.assert_frame_equal(back.summary(), fit.summary())
    model_file = Path(__file__).parents[2] / "models" / "cbpp.toml"
    assert hierlmm.load_model_file(model_file).spec == hierlmm.parse_formula(
        "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    )
