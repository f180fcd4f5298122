"""Centred or non-centred effects: the collapsed engine centres informative factors."""

from __future__ import annotations

import numpy as np
import pandas as pd

import hierlmm
from hierlmm.design import build_design
from hierlmm.engines.base import FEW_LEVELS
from hierlmm.model import names
from hierlmm.model.builder import build_model
from hierlmm.model.random_effects import informative_intercepts
from hierlmm.spec import parse_formula

CROSSED = "y ~ x + (1 | subject) + (1 | item)"


def _crossed(n_items: int = 20, sd_item: float = 0.7):
    data = hierlmm.datasets.simulate_crossed(n_subjects=30, n_items=n_items, sd_item=sd_item,
                                             seed=5).data
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
    spec, design = _crossed(n_items=FEW_LEVELS, sd_item=1.5)
    collapsed = build_model(design=design, spec=spec, engine="collapsed").model
    free = {v.name for v in collapsed.free_RVs}
    # few levels, hierarchically centred: the level means a_item ~ N(intercept, sd) are
    # sampled and b_item = a_item - intercept is derived (no intercept/effects ridge)
    assert names.level_means("item") in free and names.offsets("item") not in free
    assert names.effects("item") in {v.name for v in collapsed.deterministics}
    spec, design = _crossed(n_items=FEW_LEVELS + 8)
    model = build_model(design=design, spec=spec, engine="collapsed").model
    many = {v.name for v in model.free_RVs}
    # more levels: centred at 0 (b_item ~ N(0, sd)), the intercept is pinned by their mean
    assert names.effects("item") in many and names.level_means("item") not in many
    sampled = build_model(design=design, spec=spec, engine="sampled").model
    free = {v.name for v in sampled.free_RVs}
    assert {names.offsets("item"), names.offsets("subject")} <= free


def test_centred_level_means_give_back_the_effects() -> None:
    """b = a - intercept exactly, at any point of the centred model."""
    spec, design = _crossed(n_items=FEW_LEVELS, sd_item=1.5)
    built = build_model(design=design, spec=spec, engine="collapsed")
    model = built.model
    point = model.initial_point()
    rng = np.random.default_rng(3)
    point = {k: rng.normal(size=np.shape(v)) for k, v in point.items()}
    outputs = model.replace_rvs_by_values(
        [model[names.effects("item")], model[names.BETA_CENTERED]])
    b_fn = model.compile_fn(outputs, inputs=model.value_vars, on_unused_input="ignore")
    b, beta_c = b_fn(point)
    a = point[names.level_means("item")]
    np.testing.assert_allclose(b, a - beta_c[0], rtol=0, atol=1e-12)
