"""fit_many: compile once, failure isolation, seeds independent of chunking and workers,
agreement with single hierlmm.fit calls, Dask LocalCluster, resume after interruption.

Small runs (2 chains x 100 draws, the Python-callback backend: its compiled log-density
is cached on disk, so worker processes start fast). Tables are compared exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hierlmm
from hierlmm.inference.samplers import clear_cache
from hierlmm.many import outcome_seed

SMALL = {"draws": 100, "tune": 100, "chains": 2, "seed": 11, "backend": "python",
         "progress": False}


@pytest.fixture(scope="module")
def sim() -> hierlmm.datasets.SimulatedOutcomes:
    return hierlmm.datasets.simulate_many_sleepstudy(5, seed=4)


@pytest.fixture(scope="module")
def outcomes(sim) -> pd.DataFrame:
    values = sim.outcomes.copy()
    values["o0003"] = 2.5  # a constant response: recorded as an error, batch continues
    return values


@pytest.fixture(scope="module")
def serial(sim, outcomes) -> hierlmm.ManyFits:
    clear_cache()
    return hierlmm.fit_many(sim.formula, sim.data, outcomes, executor="serial",
                            chunk_size=2, keep_draws=True, **SMALL)


def test_compiles_once_for_all_outcomes(serial) -> None:
    assert serial.timings["compiles"] == 1
    assert serial.outcomes.shape[0] == 5


def test_failing_outcome_is_isolated(serial) -> None:
    status = serial.outcomes["status"]
    assert status.tolist() == ["ok", "ok", "ok", "error", "ok"]
    assert "constant" in serial.outcomes.loc["o0003", "error"]
    failed = serial.table[serial.table["outcome"] == "o0003"]
    assert failed["mean"].isna().all()
    ok = serial.table[serial.table["outcome"] != "o0003"]
    assert ok["mean"].notna().all()
    assert serial.table.shape == (5 * 6, 13)


def test_summaries_match_kept_draws(serial) -> None:
    row = serial.table.set_index(["outcome", "parameter"]).loc[("o0001", "Days")]
    draws = serial.draws.sel(outcome="o0001", parameter="Days").values
    assert draws.shape == (2, 100)
    np.testing.assert_allclose(row["mean"], draws.mean(), rtol=1e-6)
    np.testing.assert_allclose(row["p_positive"], np.mean(draws > 0))

def test_lfsr_comes_from_adaptive_shrinkage_across_outcomes(serial) -> None:
    from hierlmm.many.ash import adaptive_shrinkage

    effects = serial.effects("Days").dropna(subset=["mean"])
    expected = adaptive_shrinkage(effects["mean"].to_numpy(), effects["sd"].to_numpy())
    np.testing.assert_allclose(effects["lfsr"].to_numpy(), expected["lfsr"].to_numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(serial.shrink("Days")["lfsr"], effects["lfsr"], rtol=1e-12)


def test_variance_partition_sums_to_one(serial) -> None:
    table = serial.variance.dropna()
    sums = table.groupby("outcome")["mean"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, rtol=1e-10)
    assert set(table["component"]) == {"fixed", "Subject", "Residuals"}
    assert (table["q05"] <= table["mean"]).all() and (table["mean"] <= table["q95"]).all()


def test_agrees_with_single_fits_draw_for_draw(sim, serial) -> None:
    for j in (0, 1, 4):
        name = sim.outcomes.columns[j]
        single = hierlmm.fit(sim.formula, sim.data.assign(y=sim.outcomes[name]),
                             draws=100, tune=100, chains=2, seed=outcome_seed(11, j),
                             sampler="nutpie",
                             progress=False, warn_convergence=False)
        for parameter, values in (("Days", single.posterior["beta"].sel(fixed_term="Days")),
                                  ("sigma", single.posterior["sigma"])):
            kept = serial.draws.sel(outcome=name, parameter=parameter).values
            np.testing.assert_allclose(kept, values.values, rtol=1e-6)


def test_an_outcome_below_min_ess_is_sampled_again_and_pooled(sim, monkeypatch) -> None:
    from arviz_stats.base import array_stats

    from hierlmm.many import worker

    # the first outcome of each chunk counts as low (a real low ESS is rare by design)
    monkeypatch.setattr(worker, "rescues", lambda settings, ess: np.arange(ess.size) == 0)
    many = hierlmm.fit_many(sim.formula, sim.data, sim.outcomes.iloc[:, :2],
                            executor="serial", chunk_size=2, keep_draws=True, **SMALL)
    assert many.outcomes["rescued"].tolist() == [True, False]
    name = sim.outcomes.columns[0]
    first = outcome_seed(11, 0)
    days = np.concatenate([
        hierlmm.fit(sim.formula, sim.data.assign(y=sim.outcomes[name]), draws=100, tune=100,
                    chains=2, seed=seed, sampler="nutpie", progress=False,
                    warn_convergence=False)
        .posterior["beta"].sel(fixed_term="Days").values
        for seed in (first, outcome_seed(first, 1))], axis=1)  # (chain, 2 x draw)
    row = many.table.set_index(["outcome", "parameter"]).loc[(name, "Days")]
    assert row["mean"] == pytest.approx(days.mean(), rel=1e-6)
    assert row["ess_bulk"] == pytest.approx(
        float(array_stats.ess(days, chain_axis=0, draw_axis=1, method="bulk")), rel=1e-6)
    kept = many.draws.sel(outcome=name, parameter="Days").values
    np.testing.assert_allclose(kept, days[:, ::2], rtol=1e-6)


def test_which_outcomes_are_sampled_again() -> None:
    from hierlmm.many.worker import BatchSettings, rescues

    def settings(chains, draws, min_ess):
        return BatchSettings(draws, 500, chains, 1, "auto", "jax", 0.9, False,
                             min_ess=min_ess)

    ess = np.array([300.0, 500.0, np.nan])
    assert rescues(settings(4, 500, 400.0), ess).tolist() == [True, False, True]
    assert not rescues(settings(2, 100, 400.0), ess).any()  # too short to expect 400
    assert not rescues(settings(4, 500, None), ess).any()
    with pytest.raises(hierlmm.SpecError, match="min_ess"):
        hierlmm.fit_many("y ~ Days + (1 | Subject)", pd.DataFrame(), [], min_ess=0)


def _same(a: hierlmm.ManyFits, b: hierlmm.ManyFits) -> None:
    pd.testing.assert_frame_equal(a.table, b.table)
    pd.testing.assert_frame_equal(a.variance, b.variance)
    columns = ["status", "seed", "divergences", "max_rhat", "min_ess_bulk"]
    pd.testing.assert_frame_equal(a.outcomes[columns], b.outcomes[columns])


def test_results_independent_of_chunking(sim, outcomes, serial) -> None:
    other = hierlmm.fit_many(sim.formula, sim.data, outcomes, executor="serial",
                             chunk_size=3, keep_draws=True, **SMALL)
    assert other.timings["compiles"] == 0  # the process's cache already holds the model
    _same(serial, other)


@pytest.fixture(scope="module")
def local_processes(sim, outcomes) -> hierlmm.ManyFits:
    return hierlmm.fit_many(sim.formula, sim.data, outcomes, executor="processes",
                            workers=2, chunk_size=1, **SMALL)


@pytest.mark.slow
def test_local_processes_match_serial_and_compile_once_each(serial, local_processes) -> None:
    _same(serial, local_processes)
    timings = local_processes.timings
    assert timings["worker_processes"] in (1, 2)
    assert timings["compiles"] == timings["worker_processes"]


@pytest.mark.slow
def test_dask_local_cluster_matches_local_processes(sim, outcomes, local_processes) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        on_dask = hierlmm.fit_many(sim.formula, sim.data, outcomes, executor=client,
                                   chunk_size=2, **SMALL)
    _same(local_processes, on_dask)
    assert on_dask.timings["compiles"] == on_dask.timings["worker_processes"]

