"""The memory implied by draws and chains is checked before anything is compiled."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import hierlmm
from hierlmm import PriorSpec, SpecError
from hierlmm.design import build_design
from hierlmm.inference import memory
from hierlmm.model.builder import plan_model

FORMULA = "Reaction ~ Days + (Days | Subject)"


def plan(data: pd.DataFrame, engine: str):
    spec = hierlmm.parse_formula(FORMULA)
    return plan_model(design=build_design(spec, data), spec=spec, engine=engine)


def test_values_per_draw_counts_parameters_and_sampled_effects(sleepstudy) -> None:
    # beta (2) + sigma + 2 SDs + 1 correlation, plus 18 x 2 effects when sampled
    assert memory.values_per_draw(plan(sleepstudy, "collapsed")) == 6
    assert memory.values_per_draw(plan(sleepstudy, "sampled")) == 6 + 36


def test_fit_refuses_draws_that_would_not_fit_in_memory(sleepstudy, monkeypatch) -> None:
    monkeypatch.setattr(memory, "physical_memory", lambda: 2**20)  # 1 MiB machine
    compiled = []
    monkeypatch.setattr("hierlmm.inference.fit.compiled_model",
                        lambda *a, **k: compiled.append(1))
    with pytest.raises(SpecError, match=r"draws=1000 x chains=4 would store 0\.0 GiB .*"
                       r"\(42 values per draw\).*lower draws or chains"):
        hierlmm.fit(FORMULA, sleepstudy, draws=1000, chains=4, engine="sampled",
                    progress=False)
    assert compiled == []  # refused before compiling or sampling


def test_memory_check_passes_ordinary_fits(sleepstudy) -> None:
    memory.check_draws_memory(plan(sleepstudy, "sampled"), draws=10**6, chains=4)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 0.0, -1.0, 1e7])
def test_prior_settings_must_be_finite_positive(value: float) -> None:
    with pytest.raises(SpecError, match=r"prior setting sd_scale=.* must be a finite positive"):
        PriorSpec(sd_scale=value)
