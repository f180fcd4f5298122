"""Centred or non-centred effects: the collapsed engine centres informative factors."""

from __future__ import annotations

import numpy as np
import pandas as pd

import hierlmm
from hierlmm.design import build_design
from hierlmm.model import names
from hierlmm.model.builder import build_model
from hierlmm.model.random_effects import informative_intercepts
from hierlmm.spec import parse_formula

CROSSED = "y ~ x + (1 | subject) + (1 | item)"


def _crossed():
    data = hierlmm.datasets.simulate_crossed(n_subjects=30, n_items=20, seed=5).data
    spec = parse_formula(CROSSED)
    return spec, build_design(spec, data)


def test_anova_reading_separates_informative_from_empty_factors() -> None:
    _, design = _crossed()
    assert all(informative_intercepts(g, design.y) for g in design.groups)  # 20 and 30 per level
    rng = np.random.default_rng(1)
    noise = pd.DataFrame({"y": rng.normal(size=600), "g": np.repeat(np.arange(30), 20)})
    spec = parse_formula("y ~ 1 + (1 | g)")
    empty = build_design(spec, noise.astype({"g": str}))
    assert not informative_intercepts(empty.groups[0], empty.y)  # ratio near 1
    sleep = build_design(parse_formula("Reaction ~ Days + (Days | Subject)"),
                         hierlmm.datasets.load("sleepstudy"))
    assert not informative_intercepts(sleep.groups[0], sleep.y)  # two effects: not eligible


def test_collapsed_engine_centres_the_sampled_item_factor() -> None:
    spec, design = _crossed()
    collapsed = build_model(design=design, spec=spec, engine="collapsed").model
    free = {v.name for v in collapsed.free_RVs}
    assert names.effects("item") in free and names.offsets("item") not in free
    sampled = build_model(design=design, spec=spec, engine="sampled").model
    free = {v.name for v in sampled.free_RVs}
    assert {names.offsets("item"), names.offsets("subject")} <= free
