"""Reports of an AR(1)/CAR(1) fit, on a Fit assembled from chosen draws (no sampling)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from hierlmm.datasets import simulate_autocorrelated
from hierlmm.design import build_design
from hierlmm.document.figures import SECTIONS, NotApplicable, Plot, Table
from hierlmm.families import get_family
from hierlmm.inference.loglik import pointwise_loglik
from hierlmm.inference.result import Fit
from hierlmm.model import names
from hierlmm.report import residual_acf, residual_correlation
from hierlmm.report.json_summary import residual_correlation_section, residual_section
from hierlmm.spec import ResidualSpec, parse_formula


def _fake_ar_fit(kind: str, phi: float, times: str = "equal") -> tuple[Fit, object]:
    sim = simulate_autocorrelated(n_groups=300, n_per_group=8, phi=phi, kind=kind,
                                  times=times, shuffle=True, seed=5)
    spec = parse_formula(sim.formula, residual=ResidualSpec(**sim.truth["residual"]))
    design = build_design(spec, sim.data)
    rng = np.random.default_rng(0)
    C, D = 2, 50
    dims = ("chain", "draw")
    g = design.groups[0]
    effects = sim.truth["effects"].loc[list(g.levels)].to_numpy()
    beta = np.array([sim.truth["beta"]["Intercept"], sim.truth["beta"]["time"]])
    posterior = xr.Dataset(
        {
            names.BETA: (dims + (names.FIXED_DIM,), np.broadcast_to(beta, (C, D, 2)).copy()),
            names.SIGMA: (dims, 1.0 + 0.01 * rng.standard_normal((C, D))),
            names.PHI: (dims, phi + 0.02 * rng.standard_normal((C, D))),
            names.sd("subject"): (dims + ("subject_term",), np.full((C, D, 2), 0.5)),
            names.effects("subject"): (dims + ("subject_level", "subject_term"),
                                       np.broadcast_to(effects, (C, D, *effects.shape)).copy()),
        },
        coords={"chain": np.arange(C), "draw": np.arange(D), names.FIXED_DIM: ["Intercept", "time"],
                "subject_term": list(g.terms), "subject_level": list(g.levels)},
    )
    fit = Fit(idata=xr.DataTree.from_dict({"posterior": posterior}), spec=spec, design=design,
              engine="sampled", sampler="nutpie", seed=0)
    return fit, posterior


def test_summary_and_json_report_phi() -> None:
    fit, posterior = _fake_ar_fit("ar1", 0.6)
    table = fit.summary()
    assert table.index[-1] == "phi" and table.loc["phi", "kind"] == "residual"
    assert table.loc["phi", "mean"] == pytest.approx(float(posterior[names.PHI].mean()))
    out = {"residual": residual_section(fit, table),
           "residual_correlation": residual_correlation_section(fit, table)}
    assert set(out["residual"]) == {"sigma", "phi"}
    assert set(out["residual"]["phi"]) == set(out["residual"]["sigma"])
    phi = posterior[names.PHI].values
    assert list(out["residual_correlation"]) == ["1", "2", "3", "4", "5"]
    for k in range(1, 6):
        assert out["residual_correlation"][str(k)]["mean"] == pytest.approx(np.mean(phi**k))


def test_car1_correlation_at_median_gaps() -> None:
    fit, posterior = _fake_ar_fit("car1", 0.5, times="irregular")
    gaps = fit.design.residual.gaps
    step = np.nanmedian(gaps)
    table = residual_correlation(fit)
    np.testing.assert_allclose(table.index, [float(f"{step * k:.3g}") for k in range(1, 6)])
    phi = posterior[names.PHI].values
    assert table.iloc[0]["mean"] == pytest.approx(np.mean(phi ** table.index[0]))
    custom = residual_correlation(fit, lags=[0.5, 2.0])
    assert custom.loc[2.0, "mean"] == pytest.approx(np.mean(phi**2.0))


def test_acf_without_and_with_the_ar_term() -> None:
    fit, _ = _fake_ar_fit("ar1", 0.6)
    acf = residual_acf(fit)
    assert list(acf.index) == [1, 2, 3, 4, 5]
    assert acf.loc[1, "without_ar"] == pytest.approx(0.6, abs=0.06)
    assert acf.loc[2, "without_ar"] == pytest.approx(0.36, abs=0.06)
    assert np.abs(acf["with_ar"]).max() < 0.06


def test_pointwise_loglik_is_one_step_ahead() -> None:
    fit, posterior = _fake_ar_fit("ar1", 0.6)
    ll = pointwise_loglik(posterior, fit.design, get_family("gaussian"))
    assert ll.shape == (2, 50, fit.design.n)
    res = fit.design.residual
    first, second = res.order[0], res.order[1]  # one series' first two rows
    eta = fit.design.X @ posterior[names.BETA].values[0, 0]
    g = fit.design.groups[0]
    eta = eta + np.sum(g.Z * posterior["b_subject"].values[0, 0][g.codes], axis=1)
    sigma, phi = posterior[names.SIGMA].values[0, 0], posterior[names.PHI].values[0, 0]
    e = fit.design.y - eta
    sd = sigma * np.sqrt(1 - phi**2)
    expected = -0.5 * np.log(2 * np.pi * sd**2) - 0.5 * ((e[second] - phi * e[first]) / sd) ** 2
    assert ll[0, 0, second] == pytest.approx(expected, rel=1e-12)


def test_report_section_table_and_acf_figure() -> None:
    fit, _ = _fake_ar_fit("ar1", 0.6)
    spec = {s.key: s for s in SECTIONS}["autocorrelation"]
    assert spec.shown(fit)
    table, plot = spec.builder(fit, 0.9)
    assert isinstance(table, Table) and isinstance(plot, Plot)
    assert list(table.frame.columns) == ["lag", "mean", "q05", "q95"]
    assert table.frame["lag"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    ax = plot.figure.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert len(ax.patches) >= 10  # two bars per lag
    iid = Fit(idata=fit.idata, spec=parse_formula(fit.spec.formula),
              design=build_design(parse_formula(fit.spec.formula), fit.design.data),
              engine="sampled", sampler="nutpie", seed=0)
    assert not spec.shown(iid)
    with pytest.raises(NotApplicable):
        spec.builder(iid, 0.9)


@pytest.mark.parametrize(("kind", "times"), [("ar1", "equal"), ("car1", "irregular")])
def test_posterior_predictive_follows_the_residual_process(kind: str, times: str) -> None:
    """Replicated residuals: marginal SD sigma and neighbour correlation phi ** gap.

    The fake fit's beta and effects are equal across draws, so ``y_rep - eta`` are the
    replicated residuals. Expected lag-1 correlation: the mean of ``phi_d ** gap`` over
    the draws used and the pairs; about 100 x 300 x 7 pairs, so a Monte Carlo SE near
    0.003 (tolerance 0.02).
    """
    from hierlmm.report.checks import conditional_mean, posterior_predictive

    fit, posterior = _fake_ar_fit(kind, 0.6, times)
    y_rep = posterior_predictive(fit, n_draws=100, seed=3)  # (100, n)
    e = y_rep - conditional_mean(fit, np.array([0]))  # (100, n)
    res = fit.design.residual
    order = res.order
    sorted_e = e[:, order]
    starts = np.zeros(order.shape[0], dtype=bool)
    starts[res.offsets[:-1]] = True
    pairs = np.flatnonzero(~starts)
    assert np.std(e) == pytest.approx(1.0, abs=0.02)  # sigma draws ~ 1.0
    empirical = np.mean(sorted_e[:, pairs] * sorted_e[:, pairs - 1]) / np.mean(e**2)
    phi = posterior[names.PHI].values.reshape(-1)
    gaps = res.lags[pairs]  # 1 for ar1, the time gap for car1
    expected = np.mean(phi.mean() ** gaps)
    assert empirical == pytest.approx(expected, abs=0.02)
    if kind == "ar1":  # lag 2 within a series: phi^2
        rows = pairs[~starts[pairs - 1]]
        lag2 = np.mean(sorted_e[:, rows] * sorted_e[:, rows - 2]) / np.mean(e**2)
        assert lag2 == pytest.approx(np.mean(phi**2), abs=0.02)
