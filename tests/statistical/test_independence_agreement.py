"""The independence sampler targets the same posterior as NUTS.

On a simulated crossed design where every factor is integrated out (100 subjects x 20
items, 2,000 rows, m = 20: NUTS by default), ``sampler="independence"`` and nutpie's
NUTS give every posterior mean within 0.15 posterior SD and SDs within 15%; the
independence fit converges (R-hat, ESS, no divergences) and its group effects match.
The same holds on sleepstudy, where ``sampler="auto"`` with the default settings runs the
independence sampler (one factor, 6 parameters, 4 x 1000 warm-up draws); and ``"auto"``
redoes a run whose diagnostics fail: four times longer when that would lift its ESS
past 400, else (or when the longer run fails too) with nutpie.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import hierlmm
from hierlmm.model import names

pytestmark = pytest.mark.slow

FORMULA = "y ~ x + (1 | subject) + (1 | item)"


@pytest.fixture(scope="module")
def fits():
    sim = hierlmm.datasets.simulate_crossed(n_subjects=100, n_items=20, seed=3)
    kw = dict(seed=13, progress=False, warn_convergence=False, draws=500)
    return {"independence": hierlmm.fit(FORMULA, sim.data, sampler="independence", **kw),
            # NUTS on this path costs ~15 ms a draw: 2 x 500 (ESS still ~1,000)
            "nutpie": hierlmm.fit(FORMULA, sim.data, sampler="nutpie", chains=2, tune=500,
                                  **kw)}


def test_independence_sampler_agrees_with_nuts(fits):
    imh, nuts = fits["independence"], fits["nutpie"]
    assert (imh.sampler, nuts.sampler) == ("independence", "nutpie")
    assert imh.engine == nuts.engine == "collapsed"
    diag = imh.diagnostics()
    assert diag["divergences"] == 0 and diag["max_rhat"] < 1.01 and diag["min_ess_bulk"] >= 400
    a, b = imh.summary(), nuts.summary()
    assert list(a.index) == list(b.index)
    gap = (a["mean"] - b["mean"]).abs() / np.maximum(a["sd"], b["sd"])
    print(f"\nindependence {imh.timings}\nnutpie {nuts.timings}\n" + a[["mean", "sd", "ess_bulk"]]
          .join(b[["mean", "sd", "ess_bulk"]].add_suffix("_nuts")).assign(gap=gap).to_string())
    assert (gap < 0.15).all(), gap.to_dict()
    np.testing.assert_allclose(a["sd"], b["sd"], rtol=0.15)
    for g in imh.design.groups:
        var = names.effects(g.factor)
        ma = imh.posterior[var].mean(("chain", "draw")).values.ravel()
        mb = nuts.posterior[var].mean(("chain", "draw")).values.ravel()
        assert np.corrcoef(ma, mb)[0, 1] > 0.99


def test_independence_fit_records_its_sampler_statistics(fits):
    stats = fits["independence"].idata["sample_stats"].to_dataset()
    assert {"lp", "accepted", "log_weight", "diverging"} <= set(stats.data_vars)
    assert stats["accepted"].shape == (4, 500)
    assert 0.5 < float(stats.attrs["acceptance_rate"]) <= 1.0
    assert not stats["diverging"].values.any()


@pytest.fixture(scope="module")
def sleep_fits():
    data = hierlmm.datasets.load("sleepstudy")
    kw = dict(seed=21, progress=False)
    return {sampler: hierlmm.fit("Reaction ~ Days + (Days | Subject)", data, sampler=sampler,
                                 **kw) for sampler in ("auto", "nutpie")}


def test_auto_runs_the_independence_sampler_on_sleepstudy_and_agrees_with_nuts(sleep_fits):
    imh, nuts = sleep_fits["auto"], sleep_fits["nutpie"]
    assert (imh.sampler, nuts.sampler) == ("independence", "nutpie")
    diag = imh.diagnostics()  # the defaults give no convergence warning (else it raised)
    assert diag["max_rhat"] < 1.01 and diag["min_ess_bulk"] >= 1000
    a, b = imh.summary(), nuts.summary()
    gap = (a["mean"] - b["mean"]).abs() / np.maximum(a["sd"], b["sd"])
    assert (gap < 0.15).all(), gap.to_dict()
    np.testing.assert_allclose(a["sd"], b["sd"], rtol=0.15)
    assert float(imh.idata["sample_stats"].to_dataset().attrs["acceptance_rate"]) > 0.55


def _fail_first(monkeypatch, n_failures: int) -> list[dict]:
    """Make the first ``n_failures`` diagnostics checks of fit() fail; record every
    checked diagnostics dict."""
    from hierlmm.inference import fit as fit_module

    seen = []

    def fails(diag):
        seen.append(diag)
        return ["forced failure"] if len(seen) <= n_failures else []

    monkeypatch.setattr(fit_module, "convergence_problems", fails)
    return seen


SLEEP_KW = dict(draws=200, tune=1000, chains=2, seed=4, progress=False, warn_convergence=False)


def test_auto_redoes_a_narrow_miss_four_times_longer(monkeypatch):
    """A run whose ESS, four times larger, would pass (sleepstudy's is ~400 of 400) is
    run again four times longer and thinned back to the draws asked for."""
    seen = _fail_first(monkeypatch, 1)
    data = hierlmm.datasets.load("sleepstudy")
    result = hierlmm.fit("Reaction ~ Days + (Days | Subject)", data, **SLEEP_KW)
    assert len(seen) == 2 and 4 * seen[0]["min_ess_bulk"] >= 400
    assert result.sampler == "independence" and result.settings["thin"] == 4
    assert result.posterior.sizes["draw"] == 200
    assert 0 < result.timings["independence_s"] < result.timings["total_s"]


def test_auto_redoes_a_failed_longer_run_with_nutpie(monkeypatch):
    seen = _fail_first(monkeypatch, 2)
    data = hierlmm.datasets.load("sleepstudy")
    result = hierlmm.fit("Reaction ~ Days + (Days | Subject)", data, **SLEEP_KW)
    assert len(seen) == 2 and result.sampler == "nutpie" and "thin" not in result.settings
    # both independence runs' seconds: the first and the longer one
    assert 0 < result.timings["independence_s"] < result.timings["total_s"]


def test_a_chain_of_redos_warns_once_at_the_callers_line(monkeypatch):
    """First run, 4x run and nutpie all fail: one ConvergenceWarning (the inner runs do
    not warn), pointing at fit()'s caller."""
    _fail_first(monkeypatch, 10)
    data = hierlmm.datasets.load("sleepstudy")
    with pytest.warns(hierlmm.ConvergenceWarning) as record:
        result = hierlmm.fit("Reaction ~ Days + (Days | Subject)", data,
                             **{**SLEEP_KW, "warn_convergence": True})
    assert result.sampler == "nutpie"
    assert len(record) == 1 and record[0].filename == __file__


def test_auto_redoes_a_hopeless_run_with_nutpie_at_once(monkeypatch):
    """An ESS that four times larger would still miss the bar goes to NUTS directly."""
    from hierlmm.inference import fit as fit_module

    seen = _fail_first(monkeypatch, 1)
    monkeypatch.setattr(fit_module, "ESS_MIN", 1e9)
    data = hierlmm.datasets.load("sleepstudy")
    result = hierlmm.fit("Reaction ~ Days + (Days | Subject)", data, **SLEEP_KW)
    assert len(seen) == 1 and result.sampler == "nutpie"


def test_auto_redoes_an_independence_run_that_finds_no_mode_with_nutpie(monkeypatch):
    """A Laplace fit without a proper mode (a logistic GLMM, 100 groups x 6 visits, one
    prior draw of the quadrature SBC, raised this) is redone with nutpie under "auto";
    asked for by name, the independence sampler's error reaches the user."""
    from hierlmm.errors import FitError
    from hierlmm.inference import samplers

    calls = []

    def no_mode(*args, **kwargs):
        calls.append(1)
        raise FitError("the independence sampler found no proper mode (forced)")

    monkeypatch.setattr(samplers, "_sample_independence", no_mode)
    data = hierlmm.datasets.load("sleepstudy")
    kw = dict(draws=200, tune=1000, chains=2, seed=4, progress=False, warn_convergence=False)
    result = hierlmm.fit("Reaction ~ Days + (Days | Subject)", data, **kw)
    assert calls == [1] and result.sampler == "nutpie"
    assert result.posterior.sizes["draw"] == 200
    assert 0 < result.timings["independence_s"] < result.timings["total_s"]
    with pytest.raises(FitError, match="no proper mode"):
        hierlmm.fit("Reaction ~ Days + (Days | Subject)", data, sampler="independence", **kw)
    assert calls == [1, 1]


def _record_redos(monkeypatch) -> list[dict]:
    """Run fit()'s first ``_fit`` call; record the arguments of every later (recursive)
    one instead of sampling, which returns a stand-in with ``timings``."""
    from hierlmm.inference import fit as fit_module

    real, redone = fit_module._fit, []

    def first_only(*args, **arguments):
        if args:  # fit() passes formula and data by position; _redo by name
            return real(*args, **arguments)
        redone.append(arguments)
        return SimpleNamespace(timings={"total_s": 1.0})

    monkeypatch.setattr(fit_module, "_fit", first_only)
    return redone


QUADRATURE_KW = dict(family="bernoulli", engine="quadrature", draws=100, tune=100, chains=2,
                     seed=3, progress=False, warn_convergence=False)


def test_auto_redoes_a_failed_quadrature_run_on_the_sampled_engine(monkeypatch):
    """On the quadrature engine (100 levels: "auto" runs the independence sampler) a
    run that fails is redone with nutpie on the sampled engine, not with NUTS on the
    quadrature likelihood (143 s against 20 s on 200 x 8 logistic visits)."""
    from hierlmm.errors import FitError
    from hierlmm.inference import samplers

    def no_mode(*args, **kwargs):
        raise FitError("the independence sampler found no proper mode (forced)")

    monkeypatch.setattr(samplers, "_sample_independence", no_mode)
    redone = _record_redos(monkeypatch)
    sim = hierlmm.datasets.simulate_remission(n_subjects=100, n_visits=3, seed=2)
    result = hierlmm.fit(sim.formula, sim.data, **QUADRATURE_KW)
    assert 0 < result.timings["independence_s"] < 60
    (arguments,) = redone
    assert arguments["sampler"] == "nutpie" and arguments["engine"] == "sampled"
    assert arguments["seed"] == 3 and arguments["draws"] == 100
    assert arguments["warn_convergence"] is False  # the outer call warns, once


def test_auto_redoes_a_narrow_quadrature_miss_longer_on_the_quadrature_engine(monkeypatch):
    """Hard logistic posteriors (100 x 6 binary visits, prior draws; notes in
    ``hierlmm.inference.fit.LONGER_THIN``): the longer independence run passed where
    nutpie on the sampled engine failed, so a narrow miss stays on the engine."""
    from hierlmm.inference import fit as fit_module

    _fail_first(monkeypatch, 1)
    monkeypatch.setattr(fit_module, "ESS_MIN", 0.0)  # whatever this short run's ESS
    redone = _record_redos(monkeypatch)
    sim = hierlmm.datasets.simulate_remission(n_subjects=100, n_visits=3, seed=2)
    hierlmm.fit(sim.formula, sim.data, **QUADRATURE_KW)
    (arguments,) = redone
    assert arguments["thin"] == 4 and arguments["sampler"] == "auto"
    assert arguments["engine"] == "quadrature" and arguments["draws"] == 100
