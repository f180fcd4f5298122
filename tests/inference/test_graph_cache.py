"""The disk cache of rewritten graphs: a new process (here: an emptied in-process cache)
loads the rewritten graph instead of rewriting it, and the fit is bitwise the same."""

from __future__ import annotations

import numpy as np
import pytest

import hierlmm
from hierlmm.inference import graph_cache, samplers

FORMULA = "Reaction ~ Days + (Days | Subject)"
SETTINGS = dict(draws=100, tune=100, chains=2, seed=5, progress=False,
                warn_convergence=False)


@pytest.fixture
def cache_in(tmp_path, monkeypatch):
    """An empty graph cache in ``tmp_path`` and an empty in-process compile cache."""
    monkeypatch.setattr(graph_cache, "cache_dir", lambda: tmp_path)
    monkeypatch.setenv("HIERLMM_GRAPH_CACHE", "1")
    samplers.clear_cache()
    yield tmp_path
    samplers.clear_cache()


def _fresh_fit(data):
    """A fit as a new process would make it: nothing compiled in memory."""
    samplers.clear_cache()
    before = dict(graph_cache.STATS)
    fit = hierlmm.fit(FORMULA, data, **SETTINGS)
    return fit, {k: graph_cache.STATS[k] - before[k] for k in before}


def _draws(fit) -> dict[str, np.ndarray]:
    return {name: fit.posterior[name].values for name in fit.posterior.data_vars}


def test_a_second_process_loads_the_rewritten_graphs_and_samples_the_same_draws(
    sleepstudy, cache_in
) -> None:
    first, stats = _fresh_fit(sleepstudy)
    assert stats == {"hits": 0, "stores": 1, "fallbacks": 0}
    assert len(list(cache_in.glob("*.pkl"))) == 1  # log-density and expansion together
    second, stats = _fresh_fit(sleepstudy)
    assert stats == {"hits": 1, "stores": 0, "fallbacks": 0}
    a, b = _draws(first), _draws(second)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_damaged_file_is_compiled_again_and_replaced(sleepstudy, cache_in) -> None:
    first, _ = _fresh_fit(sleepstudy)
    for path in cache_in.glob("*.pkl"):
        path.write_bytes(b"not a pickle")
    second, stats = _fresh_fit(sleepstudy)
    assert stats == {"hits": 0, "stores": 1, "fallbacks": 1}
    a, b = _draws(first), _draws(second)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    _, stats = _fresh_fit(sleepstudy)
    assert stats["hits"] == 1


def test_the_cache_is_off_when_the_environment_says_so(
    sleepstudy, cache_in, monkeypatch
) -> None:
    monkeypatch.setenv("HIERLMM_GRAPH_CACHE", "0")
    _, stats = _fresh_fit(sleepstudy)
    assert stats == {"hits": 0, "stores": 0, "fallbacks": 0}
    assert not list(cache_in.glob("*"))


def test_the_file_name_depends_on_the_key_and_the_mode() -> None:
    key = ("collapsed", ("Subject", 2))
    assert graph_cache.digest(key, "NUMBA") == graph_cache.digest(key, "NUMBA")
    assert graph_cache.digest(key, "NUMBA") != graph_cache.digest(key, "FAST_RUN")
    assert graph_cache.digest(key, "NUMBA") != graph_cache.digest(("collapsed",), "NUMBA")
