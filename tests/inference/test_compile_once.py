"""Compile once per design shape: a new response (or new data of the same shapes) reuses
the compiled model, with the new data really used."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hierlmm
from hierlmm.inference import samplers
from hierlmm.model import names

FORMULA = "Reaction ~ Days + (Days | Subject)"
SETTINGS = dict(draws=300, tune=300, chains=2, progress=False, warn_convergence=False)


@pytest.fixture
def compile_count(monkeypatch) -> list[str]:
    """Backends compiled during the test, with an empty cache at its start."""
    samplers.clear_cache()
    calls: list[str] = []
    real = samplers._compile

    def counting(model, backend, var_names, key, mode):
        calls.append(backend)
        return real(model, backend, var_names, key, mode)

    monkeypatch.setattr(samplers, "_compile", counting)
    return calls


def _rescaled(sleepstudy: pd.DataFrame) -> pd.DataFrame:
    """Same design, another response: 2 * Reaction + 100 plus noise."""
    noise = np.random.default_rng(3).normal(0.0, 5.0, sleepstudy.shape[0])
    return sleepstudy.assign(Reaction=2.0 * sleepstudy["Reaction"] + 100.0 + noise)


def _intercept(fit) -> pd.Series:
    return fit.summary().loc["Intercept"]


@pytest.mark.parametrize("engine", ["collapsed", "sampled"])
def test_second_response_on_the_same_design_does_not_compile(
    sleepstudy, compile_count, engine
) -> None:
    first = hierlmm.fit(FORMULA, sleepstudy, seed=1, engine=engine, **SETTINGS)
    second = hierlmm.fit(FORMULA, _rescaled(sleepstudy), seed=1, engine=engine, **SETTINGS)
    assert len(compile_count) == 1
    assert second.timings["compile_s"] < 0.1 * first.timings["compile_s"]
    # the second fit saw the new response: its intercept is about 2 * 251.4 + 100
    row = _intercept(second)
    assert abs(row["mean"] - (2.0 * _intercept(first)["mean"] + 100.0)) < 3.0 * row["sd"]
    sd = second.summary().loc["sd(Days|Subject)", "mean"]
    assert 1.5 * first.summary().loc["sd(Days|Subject)", "mean"] < sd


def test_other_data_of_the_same_shapes_reuse_the_compile_with_their_labels(
    sleepstudy, compile_count
) -> None:
    hierlmm.fit(FORMULA, sleepstudy, seed=2, **SETTINGS)
    other = hierlmm.datasets.simulate_random_slopes(n_groups=18, n_per_group=10, seed=4)
    data = other.data.rename(columns={"y": "Reaction", "time": "Days", "subject": "Subject"})
    fit = hierlmm.fit(FORMULA, data, seed=2, **SETTINGS)
    assert len(compile_count) == 1
    levels = fit.posterior[names.effects("Subject")]["Subject_level"].values
    assert set(levels) == set(data["Subject"]) and levels[0] == "s01"
    # a different number of levels is a different structure: compiles again
    hierlmm.fit(FORMULA, sleepstudy.iloc[:170], seed=2, **SETTINGS)
    assert len(compile_count) == 2


def test_fits_make_no_copies_of_the_compiled_functions(
    sleepstudy, compile_count, monkeypatch
) -> None:
    """A copy of a compiled function re-links its graph (~0.4 s); the chains share one
    function behind a lock instead, in the first fit and in the next one."""
    from pytensor.compile import Function

    copies: list[int] = []
    real_copy = Function.copy

    def copy(self, *args, **kwargs):
        copies.append(1)
        return real_copy(self, *args, **kwargs)

    monkeypatch.setattr(Function, "copy", copy)
    first = hierlmm.fit(FORMULA, sleepstudy, seed=1, **SETTINGS)
    second = hierlmm.fit(FORMULA, _rescaled(sleepstudy), seed=1, **SETTINGS)
    assert compile_count == ["nutpie-python"] and copies == []
    assert _intercept(second)["mean"] > _intercept(first)["mean"] + 200  # new data used
