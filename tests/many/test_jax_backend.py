"""fit_many's optional JAX backend (vmapped blackjax NUTS over outcomes x chains).

Skipped when jax or blackjax is missing (they are not in the ``dev`` extra). One trace and
XLA compile per process serves every fit below (same draws, tune and target_accept).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hierlmm
from hierlmm.errors import SpecError
from hierlmm.many import jaxpath

RUN = {"draws": 250, "tune": 250, "chains": 2, "seed": 5, "progress": False,
       "executor": "serial"}


def test_jax_backend_missing_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(jaxpath, "available", lambda: False)
    sim = hierlmm.datasets.simulate_many_sleepstudy(1, seed=2)
    with pytest.raises(SpecError, match='backend="jax" needs jax and blackjax'):
        hierlmm.fit_many(sim.formula, sim.data, sim.outcomes, backend="jax", **RUN)


@pytest.fixture(scope="module")
def sim() -> hierlmm.datasets.SimulatedOutcomes:
    pytest.importorskip("jax")
    pytest.importorskip("blackjax")
    return hierlmm.datasets.simulate_many_sleepstudy(4, seed=8)


@pytest.fixture(scope="module")
def outcomes(sim) -> pd.DataFrame:
    values = sim.outcomes.copy()
    values["o0002"] = np.nan  # a failing outcome: recorded, the batch goes on
    return values


@pytest.fixture(scope="module")
def jax_fits(sim, outcomes) -> tuple[hierlmm.ManyFits, hierlmm.ManyFits]:
    return tuple(hierlmm.fit_many(sim.formula, sim.data, outcomes, backend="jax",
                                  chunk_size=size, **RUN) for size in (2, 3))


@pytest.mark.slow
def test_jax_compiles_once_isolates_failures_and_ignores_chunking(jax_fits) -> None:
    by2, by3 = jax_fits
    assert by2.timings["compiles"] + by3.timings["compiles"] <= 1
    assert by2.outcomes["status"].tolist() == ["ok", "ok", "error", "ok"]
    assert "missing or infinite" in by2.outcomes.loc["o0002", "error"]
    pd.testing.assert_frame_equal(by2.table, by3.table)
    assert by2.outcomes["divergences"].sum() == 0


@pytest.mark.slow
def test_jax_agrees_with_nutpie_in_monte_carlo_error(sim, jax_fits) -> None:
    nutpie = hierlmm.fit_many(sim.formula, sim.data, sim.outcomes.iloc[:, :2],
                              backend="python", **RUN).table.set_index(["outcome",
                                                                        "parameter"])
    jax = jax_fits[0].table.set_index(["outcome", "parameter"]).loc[nutpie.index]
    se = np.hypot(nutpie["sd"] / np.sqrt(nutpie["ess_bulk"]),
                  jax["sd"] / np.sqrt(jax["ess_bulk"]))
    z = (jax["mean"] - nutpie["mean"]) / se
    assert np.all(np.abs(z) < 4.5), z[np.abs(z) >= 4.5]
    assert np.all(jax["ess_bulk"] > 100)
    np.testing.assert_allclose(jax["sd"], nutpie["sd"], rtol=0.35)


@pytest.mark.slow
def test_a_new_process_loads_the_exported_sampler_and_samples_the_same_draws(
    sim, tmp_path, monkeypatch
) -> None:
    """The traced sampler is kept with jax.export; a process that finds it skips tracing
    and its draws are bitwise those of the process that exported it."""
    from hierlmm.inference import graph_cache, samplers
    from hierlmm.many import jaxcache

    jaxpath._jax()  # JAX's own compilation cache stays where it is
    monkeypatch.setattr(graph_cache, "cache_dir", lambda: tmp_path / "graphs")
    monkeypatch.setenv("HIERLMM_GRAPH_CACHE", "1")

    def new_process_fit() -> tuple[hierlmm.ManyFits, dict[str, int]]:
        samplers.clear_cache()
        monkeypatch.setattr(jaxpath, "_SAMPLERS", {})
        before = dict(jaxcache.STATS)
        many = hierlmm.fit_many(sim.formula, sim.data, sim.outcomes.iloc[:, :1],
                                backend="jax", **RUN)
        return many, {k: jaxcache.STATS[k] - before[k] for k in before}

    first, stats = new_process_fit()
    assert stats == {"hits": 0, "stores": 1, "fallbacks": 0}
    second, stats = new_process_fit()
    assert stats == {"hits": 1, "stores": 0, "fallbacks": 0}
    pd.testing.assert_frame_equal(first.table, second.table)
    for path in (tmp_path / "hierlmm-jax-export").glob("*.bin"):
        path.write_bytes(b"damaged")
    third, stats = new_process_fit()
    assert stats == {"hits": 0, "stores": 1, "fallbacks": 1}
    pd.testing.assert_frame_equal(first.table, third.table)
